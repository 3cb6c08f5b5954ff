"""Settings of the Dapodik gateway (env prefix ``DAPODIK_``); nothing else in the service reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

SERVICE_NAME = "dapodik_gateway"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DAPODIK_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/dapodik.db"
    port: int = 8103
    # Bring the schema to the newest Alembic revision when the app starts.
    auto_migrate: bool = True
    # Clients (names in API_TOKENS) that are the hub: their reads of the feed count as the school's records
    # delivered (the sync screen's "local changes waiting" is what they have not read yet).
    hub_clients: tuple[str, ...] = ("sync_hub",)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
