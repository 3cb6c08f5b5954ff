"""Settings of the Dapodik gateway (env prefix ``DAPODIK_``); nothing else in the service reads the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import PLACEHOLDER_SECRETS, ServiceSettings

SERVICE_NAME = "dapodik_gateway"


class ScopedOperator(BaseModel):
    """A school operator's credential: it reads and changes only the students of one school."""

    token: SecretStr
    npsn: str = Field(..., pattern=r"^\d{8}$")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DAPODIK_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/dapodik.db"
    port: int = 8103
    # Bring the schema to the newest Alembic revision when the app starts.
    auto_migrate: bool = True
    # Clients (names in API_TOKENS) that are the hub: they write results, and their reads of the feed count
    # as the school's records delivered (the sync screen's "local changes waiting" is what they have not read).
    hub_clients: tuple[str, ...] = ("sync_hub",)
    # Who may call the API. API_TOKENS (client -> token): the hub's clients (HUB_CLIENTS) read everything and
    # write results; every other client there is an operator of all schools. OPERATORS (client -> {"token",
    # "npsn"}), e.g. DAPODIK_OPERATORS='{"op-sdn1": {"token": "...", "npsn": "20100001"}}': an operator
    # scoped to one school; anything outside it is 403 and changes nothing.
    operators: dict[str, ScopedOperator] = Field(default_factory=dict)
    # The sync hub, asked for PKH data ("Request Data PKH" on a student): it decides from the record sent and
    # answers with the values to write (applied here with their provenance). The hub must accept the token.
    hub_url: str = "http://127.0.0.1:8100"
    hub_token: SecretStr = SecretStr("")
    # "Request Data PKH" presses waiting while this many batches of presses are being worked on (each one call to
    # the hub) go together in the next batch (``shared.batching``; no press waits for a batch to fill). 0: every
    # press alone. One per process: the checks in flight at the hub are then the gateway's processes, about the
    # machine's cores; a second batch out per process halves the batches under load and costs more CPU per press
    # than the overlap saves (docs/benchmarks.md, "Session 14").
    hub_calls_in_flight: int = Field(1, ge=0, le=64)

    @field_validator("operators")
    @classmethod
    def _real_tokens(cls, operators: dict[str, ScopedOperator]) -> dict[str, ScopedOperator]:
        for client, op in operators.items():
            value = op.token.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError(f"token for operator {client!r} is a placeholder or shorter than 16 characters")
        return operators

    @model_validator(mode="after")
    def _one_name_one_token(self) -> Settings:
        clash = sorted(set(self.operators) & set(self.api_tokens))
        if clash:
            raise ValueError(f"client names in both API_TOKENS and OPERATORS: {', '.join(clash)}")
        tokens = [t.get_secret_value() for t in self.api_tokens.values()]
        tokens += [op.token.get_secret_value() for op in self.operators.values()]
        if len(tokens) != len(set(tokens)):
            raise ValueError("two clients share one token: every client needs its own")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
