"""Settings common to every service. Each service subclasses ``ServiceSettings`` with its own env prefix
(``KEMENSOS_``, ``EMIS_``, ``DAPODIK_``, ``HUB_``) in its ``config.py``; nothing else reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "token", "password", ""}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/service.db"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Bearer credentials accepted by this service: client name -> token. JSON in the environment,
    # e.g. KEMENSOS_API_TOKENS='{"sync_hub": "..."}'. Empty means every authenticated call gets 401.
    api_tokens: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("api_tokens")
    @classmethod
    def _no_placeholders(cls, tokens: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for client, token in tokens.items():
            value = token.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError(f"token for client {client!r} is a placeholder or shorter than 16 characters")
        return tokens
