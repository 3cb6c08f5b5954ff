"""Fault injection settings: what share of API calls fail, and how."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.contracts.common import Strict


class FaultConfig(Strict):
    """Faults the mock injects into `/api/v1` calls (not `/health`, not `/api/v1/admin`). Off by default.

    Every call draws once from a generator seeded with `seed` (same seed, same sequence of faults):

    * **latency**: `latency_ms` plus a uniform `0..latency_jitter_ms`, plus (when `latency_median_ms` is
      set) a lognormal delay with that median and `latency_p99_ms` as its 99th percentile;
    * **errors**: with probability `error_rate` a 500, 502 or 503 (evenly); with `rate_limit_rate` a 429
      with `Retry-After: retry_after_s`; with `timeout_rate` the call hangs `timeout_s` seconds and then
      answers 504 (a client with a shorter timeout sees no answer);
    * **slow drip**: with probability `drip_rate` a successful answer's body is sent in pieces of
      `drip_chunk_bytes` with `drip_interval_ms` between them.

    Calls of the change feed draw once more, from a second generator (seeded with `seed + 1`):

    * **duplicated page**: with probability `feed_duplicate_rate` the page comes with `next_cursor` equal
      to the cursor asked (and `has_more` true), so the reader receives the same page again;
    * **re-delivered page**: with probability `feed_redeliver_rate` the answer is the page of the
      reader's previous request again (items it already has), whose `next_cursor` leads back to where it was.
      A reader asking for several ranges of the feed at once (`since_version` / `until_version`) may so get the
      page of another range it asked for.

    Every response with an injected fault carries the header `X-Injected-Fault` naming it (and the delay).
    """

    latency_ms: int = Field(0, ge=0, le=60_000, description="Added to every call")
    latency_jitter_ms: int = Field(0, ge=0, le=60_000, description="Uniform extra delay 0..this")
    latency_median_ms: float = Field(0, ge=0, le=60_000, description="Lognormal extra delay: its median (0: off)")
    latency_p99_ms: float = Field(0, ge=0, le=600_000, description="Lognormal extra delay: its 99th percentile")
    latency_max_ms: int = Field(60_000, ge=0, le=600_000, description="No lognormal delay is longer than this")
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 500/502/503")
    rate_limit_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 429")
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After of injected 429s (seconds)")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="Share of calls that hang, then answer 504")
    timeout_s: float = Field(30.0, ge=0, le=600, description="How long a timed-out call hangs")
    drip_rate: float = Field(0.0, ge=0, le=1, description="Share of successful answers sent slowly")
    drip_chunk_bytes: int = Field(512, ge=1, le=1_048_576, description="Bytes per piece of a slow answer")
    drip_interval_ms: int = Field(50, ge=0, le=10_000, description="Pause between the pieces")
    feed_duplicate_rate: float = Field(0.0, ge=0, le=1, description="Share of feed pages delivered twice")
    feed_redeliver_rate: float = Field(0.0, ge=0, le=1,
                                       description="Share of feed calls answered with the previous page again")
    seed: int | None = Field(None, description="Seed of the generators; same seed, same sequence of faults")

    @model_validator(mode="after")
    def _consistent(self) -> FaultConfig:
        if self.error_rate + self.rate_limit_rate + self.timeout_rate > 1:
            raise ValueError("error_rate + rate_limit_rate + timeout_rate must not exceed 1")
        if self.feed_duplicate_rate + self.feed_redeliver_rate > 1:
            raise ValueError("feed_duplicate_rate + feed_redeliver_rate must not exceed 1")
        if bool(self.latency_median_ms) != bool(self.latency_p99_ms) or self.latency_p99_ms < self.latency_median_ms:
            raise ValueError("latency_median_ms and latency_p99_ms go together, with p99 >= median")
        return self

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.latency_jitter_ms or self.latency_median_ms or self.error_rate
                    or self.rate_limit_rate or self.timeout_rate or self.drip_rate or self.feed_active)

    @property
    def feed_active(self) -> bool:
        return bool(self.feed_duplicate_rate or self.feed_redeliver_rate)
