"""Settings of the EMIS gateway (env prefix ``EMIS_``); nothing else in this service reads the environment."""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMIS_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/emis.db"
    port: int = 8102
    # Bring the database to the newest Alembic revision when the app starts (and before `load`).
    auto_migrate: bool = True

    # Object-level access (services/emis_gateway/access.py): client name -> the institutions (NSM / NSPP)
    # it may see; a client not listed sees every institution. E.g. EMIS_API_SCOPES='{"op_mi_01": ["111232010001"]}'
    api_scopes: dict[str, list[str]] = Field(default_factory=dict)
    # The clients that may write results (POST /api/v1/hub/results).
    results_clients: list[str] = Field(default_factory=lambda: ["sync_hub"])

    # The sync hub, asked for PKH data ("Request Data PKH"): it decides and writes the answer back to this
    # gateway (POST /api/v1/hub/results) before it answers. The hub must accept the token (HUB_API_TOKENS,
    # client name "emis_gateway"). Without a token, requests stay PENDING.
    hub_url: str = "http://127.0.0.1:8100"
    hub_token: SecretStr = SecretStr("")
    # "Request Data PKH" presses waiting while this many batches of presses are being worked on (each one call to
    # the hub) go together in the next batch (``shared.batching``; no press waits for a batch to fill). 0: every
    # press alone. One per process: the checks in flight at the hub are then the gateway's processes, about the
    # machine's cores; a second batch out per process halves the batches under load and costs more CPU per press
    # than the overlap saves (docs/benchmarks.md, "Session 14").
    hub_calls_in_flight: int = Field(1, ge=0, le=64)
    # The background worker that asks the hub for queued (PENDING) requests.
    pkh_worker: bool = True
    pkh_poll_seconds: float = Field(1.0, gt=0, le=60, description="Idle worker: how often it looks for due requests")
    pkh_retry_base_seconds: float = Field(2.0, gt=0, description="First retry after the registry was unreachable")
    pkh_retry_cap_seconds: float = Field(60.0, gt=0, description="Longest wait between retries")
    pkh_lease_seconds: float = Field(300.0, gt=0, description="How long one asker holds a request")
    pkh_chunk: int = Field(100, ge=1, le=100, description="Students per call to the hub (the hub takes <= 100)")


    @field_validator("api_scopes")
    @classmethod
    def _scopes(cls, scopes: dict[str, list[str]]) -> dict[str, list[str]]:
        for client, numbers in scopes.items():
            if not numbers:
                raise ValueError(f"scope of client {client!r} is empty (leave the client out to see everything)")
            bad = [n for n in numbers if not re.fullmatch(r"\d{12}", n)]
            if bad:
                raise ValueError(f"scope of client {client!r}: {bad[0]!r} is not a 12-digit NSM or NSPP")
        return scopes


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
