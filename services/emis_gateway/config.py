"""Settings of the EMIS gateway (env prefix ``EMIS_``); nothing else in this service reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMIS_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/emis.db"
    port: int = 8102
    # Bring the database to the newest Alembic revision when the app starts (and before `load`).
    auto_migrate: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
