"""Fault injection settings: what share of API calls fail, and how."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.contracts.common import Strict


class FaultConfig(Strict):
    """Faults the mock injects into `/api/v1` calls (not `/health`, not `/api/v1/admin`). Off by default.

    Each call draws once from a seeded generator: with probability `error_rate` it answers 500, 502 or
    503 (evenly), with `rate_limit_rate` 429 with `Retry-After`, with `timeout_rate` it hangs
    `timeout_s` seconds and then answers 504. Every call is first delayed by `latency_ms` plus a uniform
    jitter of up to `latency_jitter_ms`.
    """

    latency_ms: int = Field(0, ge=0, le=60_000, description="Added to every call")
    latency_jitter_ms: int = Field(0, ge=0, le=60_000, description="Uniform extra delay 0..this")
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 500/502/503")
    rate_limit_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 429")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After of injected 429s (seconds)")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="Share of calls that hang, then answer 504")
    timeout_s: float = Field(30.0, ge=0, le=600, description="How long a timed-out call hangs")
    seed: int | None = Field(None, description="Seed of the generator; same seed, same sequence of faults")

    @model_validator(mode="after")
    def _shares_fit(self) -> FaultConfig:
        if self.error_rate + self.rate_limit_rate + self.timeout_rate > 1:
            raise ValueError("error_rate + rate_limit_rate + timeout_rate must not exceed 1")
        return self

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.latency_jitter_ms or self.error_rate or self.rate_limit_rate
                    or self.timeout_rate)
