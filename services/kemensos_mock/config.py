"""Settings of kemensos_mock; the only module that reads the environment (prefix ``KEMENSOS_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.kemensos_mock.faults.schemas import FaultConfig
from services.kemensos_mock.ratelimit.schemas import RateLimits
from shared.settings import PLACEHOLDER_SECRETS, ServiceSettings


class Settings(ServiceSettings):
    """``KEMENSOS_DATABASE_URL``, ``KEMENSOS_HOST``, ``KEMENSOS_PORT``, ``KEMENSOS_LOG_LEVEL``,
    ``KEMENSOS_API_TOKENS`` (JSON client -> token), ``KEMENSOS_ADMIN_TOKEN``, ``KEMENSOS_AUTO_MIGRATE``,
    ``KEMENSOS_FAULTS`` (JSON) or ``KEMENSOS_FAULTS__ERROR_RATE=0.2`` and friends, ``KEMENSOS_RATE_LIMITS``
    (JSON client -> {per_second, burst})."""

    model_config = SettingsConfigDict(env_prefix="KEMENSOS_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/kemensos.db"
    port: int = 8101
    auto_migrate: bool = Field(True, description="Run Alembic to head when the app starts")
    admin_token: SecretStr | None = Field(
        None, description="Bearer credential of /api/v1/admin (fault control, registry edits); unset = closed")
    faults: FaultConfig = Field(default_factory=FaultConfig, description="Fault injection at start-up")
    rate_limits: RateLimits = Field(default_factory=RateLimits, description=(
        'Per-client token buckets, JSON: {"sync_hub": {"per_second": 50, "burst": 100}}; "*" for every '
        "other client; empty (the default): no limit"))

    @field_validator("admin_token")
    @classmethod
    def _admin_not_placeholder(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None:
            value = token.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError("admin token is a placeholder or shorter than 16 characters")
        return token


@lru_cache
def get_settings() -> Settings:
    return Settings()
