"""Per-client token buckets: a client over its limit is answered 429 with ``Retry-After``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.kemensos_mock.ratelimit.schemas import DEFAULT_CLIENT, RateLimit, RateLimits

log = logging.getLogger("jembatan.kemensos.ratelimit")


@dataclass(slots=True)
class _Bucket:
    limit: RateLimit
    tokens: float
    at: float


class RateLimiter:
    """Thread-safe. ``clock`` (monotonic seconds) is injectable so tests move time instead of sleeping."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._limits = limits
        self._buckets: dict[str, _Bucket] = {}

    @property
    def limits(self) -> RateLimits:
        return self._limits

    def configure(self, limits: RateLimits) -> None:
        """New limits; every bucket starts full again."""
        with self._lock:
            self._limits = limits
            self._buckets.clear()
        log.warning("rate limits set for %s", sorted(limits.root) or "nobody")

    def acquire(self, client: str) -> float | None:
        """Take one token for ``client``: None when the call may go ahead, else the seconds until it may."""
        limit = self._limits.root.get(client) or self._limits.root.get(DEFAULT_CLIENT)
        if limit is None:
            return None
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(client)
            if bucket is None or bucket.limit is not limit:
                bucket = self._buckets[client] = _Bucket(limit, float(limit.burst), now)
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * limit.per_second)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / limit.per_second
