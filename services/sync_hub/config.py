from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """sync_hub settings, from ``HUB_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", env_nested_delimiter="__")

    database_url: str = "sqlite:///./data/hub.db"

    # Who may call the hub (docs/security.md). Machine clients: ``api_tokens`` (client -> token), each one a
    # gateway speaking for one system, named here; it may only ask checks of that system's students.
    client_systems: dict[str, Literal["emis", "dapodik"]] = Field(
        default_factory=lambda: {"emis_gateway": "emis", "dapodik_gateway": "dapodik"},
        description="Machine client name -> the system whose students it may check (every client of "
        "api_tokens must be named here: a machine client is never a person and holds no person's role)")
    # People: OIDC access tokens (JWT) with a role claim, verified against the issuer's JWKS. Without
    # ``oidc_jwks_url`` the hub trusts the local issuer (``local_key_dir``: an Ed25519 key made on first use,
    # whose tokens ``jembatan token`` issues) -- the embedded default, needing no identity provider.
    oidc_issuer: str = Field("jembatan-local", description="The `iss` people's tokens must carry")
    oidc_audience: str = Field("jembatan-hub", description="The `aud` people's tokens must carry")
    oidc_jwks_url: str | None = Field(None, description="The issuer's JWKS (https://..., or file://); unset: the "
                                      "local issuer's jwks.json in local_key_dir")
    oidc_roles_claim: str = Field("roles", description="Claim holding the person's roles (dotted path, e.g. "
                                  "realm_access.roles)")
    oidc_jwks_refetch_seconds: float = Field(30.0, ge=0, description="At most one JWKS fetch per this many "
                                             "seconds for a token naming an unknown key (rotation)")
    local_key_dir: Path = Field(Path("./data/keys"), description="The local issuer's signing key and JWKS")

    port: int = 8100
    auto_migrate: bool = True

    kemensos_url: str = "http://127.0.0.1:8101"
    kemensos_token: SecretStr = SecretStr("")
    emis_url: str = "http://127.0.0.1:8102"
    emis_token: SecretStr = SecretStr("")
    dapodik_url: str = "http://127.0.0.1:8103"
    dapodik_token: SecretStr = SecretStr("")

    page_size: int = Field(1000, ge=1, le=1000, description="Students per page read from a gateway (the feeds allow "
                           "1,000)")
    lookup_batch: int = Field(1000, ge=1, le=1000, description="NIKs per bulk lookup")
    replica_follow_seconds: float = Field(
        5.0, ge=0, description="Seconds between the replica follower's reads of the registry's change feed (0: no "
        "follower; the replica then moves only with sync runs)")
    replica_load_ranges: int = Field(
        16, ge=1, le=1024, description="PostgreSQL: ranges a first load of the registry replica is read as, each a "
        "job any worker can take (1: one stream, by the follower or the plan)")
    replica_load_range_versions: int = Field(
        50_000, ge=1, description="Registry versions a range of a first load holds at least: a smaller registry is "
        "read in fewer ranges, one below two ranges' worth")
    feed_read_ranges: int = Field(
        16, ge=1, le=1024, description="PostgreSQL: ranges of student ids a full read of a gateway's feed is read as, "
        "each a job any worker can take (1: one stream, by the plan)")
    feed_read_range_records: int = Field(
        20_000, ge=1, description="Students a range of a full feed read holds at least: a smaller feed is read in "
        "fewer ranges, one below two ranges' worth")
    push_batch: int = Field(1000, ge=1, le=1000,
                            description="Result items per batch pushed to a gateway (the contract's most)")

    verify_education: bool = Field(True, description="Each run sends Kemensos an education verification for every "
                                   "PKH child it linked (enrolled, active, school, monthly attendance)")
    verification_period: str | None = Field(None, pattern=r"^\d{4}-T[1-4]$", description="The PKH period runs "
                                            "verify (2026-T3); default: the period of the newest attendance month "
                                            "the schools reported")
    verification_batch: int = Field(500, ge=1, le=1000, description="Verifications per request to Kemensos")

    unit_max_students: int = Field(20_000, ge=1, description="A province with more students than this is cut "
                                   "into one work unit per kabupaten")
    match_threads: int = Field(0, ge=0, le=64, description="Threads a worker scores fallback candidate pairs on "
                               "(0: one per core). Several workers on one machine: cores / workers each; the "
                               "decisions are the same whatever the number")
    local_workers: int = Field(1, ge=1, le=16, description="SQLite (embedded) only: threads of the hub's own "
                               "process that run jobs (PostgreSQL: separate `worker` processes)")
    in_process_worker: bool = Field(False, description="PostgreSQL only: the API process also runs a worker "
                                    "(convenient on one machine; production runs `worker` processes)")
    job_attempts: int = Field(6, ge=1, le=50, description="Attempts of a job whose upstream cannot be reached")
    job_retry_wait: float = Field(2.0, ge=0, description="Seconds before the 2nd attempt; doubles each time")
    stalled_after: float = Field(30.0, ge=5, description="Seconds without a worker heartbeat after which its "
                                 "jobs are handed to another worker")
    ledger_key_file: Path | None = Field(None, description="PEM file of the Ed25519 key that signs the provenance "
                                         "ledger's checkpoints; unset: <data dir>/hub_ledger_ed25519.pem, made on "
                                         "first use (0600). Every process of one hub must use the same key")
    ledger_checkpoint_every: int = Field(10_000, ge=1, description="A checkpoint is signed once this many ledger "
                                         "entries are not covered by one, and at the end of every unit")

    @model_validator(mode="after")
    def _clients_are_gateways(self) -> Settings:
        for client in self.api_tokens:
            if client not in self.client_systems:
                raise ValueError(f"machine client {client!r} speaks for no system (client_systems); people "
                                 "authenticate with OIDC tokens (docs/security.md)")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
