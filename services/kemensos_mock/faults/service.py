"""Fault injection: seeded generators decide, per API call, the added latency, whether it fails or drips,
and, per change-feed call, whether the page is duplicated or an earlier one re-delivered."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from services.kemensos_mock.faults.schemas import FaultConfig
from shared.errors import ApiError, RateLimited

T = TypeVar("T")
log = logging.getLogger("jembatan.kemensos.faults")

SERVER_ERRORS = (500, 502, 503)
Z99 = 2.3263478740408408  # the standard normal's 99th percentile
FAULT_HEADER = "X-Injected-Fault"
STATE_KEY = "injected_fault"  # where a request's fault waits for the middleware (scope["state"])


class FaultKind(StrEnum):
    NONE = "none"
    SERVER_ERROR = "server_error"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"


class FeedFault(StrEnum):
    NONE = "none"
    DUPLICATE = "feed_duplicate"
    REDELIVER = "feed_redeliver"


@dataclass(frozen=True, slots=True)
class Fault:
    delay_s: float
    kind: FaultKind = FaultKind.NONE
    status: int = 200
    drip: bool = False

    def describe(self) -> str:
        """The X-Injected-Fault value: what was injected and the delay, e.g. ``latency;delay_ms=12.5``."""
        parts = [self.kind.value if self.kind is not FaultKind.NONE else "latency"]
        if self.drip:
            parts.append("drip")
        return ";".join([*parts, f"delay_ms={self.delay_s * 1000:.1f}"])


class InjectedFailure(ApiError):
    """A failure the mock injected on purpose (status 500, 502, 503 or 504)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status


class FaultInjector:
    """Thread-safe. Every call draws the same number of values from each generator, so a seed fixes the
    whole sequence whatever the faults turn out to be."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config, quiet=True)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig, quiet: bool = False) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._feed_rng = random.Random(None if config.seed is None else config.seed + 1)
            self._feed_previous: dict[str, Any] = {}  # client -> its previous feed request (cursor and range)
        if not quiet:
            log.warning("fault injection set: %s", config.model_dump_json())

    def lognormal_ms(self, z: float) -> float:
        cfg = self._config
        if not cfg.latency_median_ms:
            return 0.0
        sigma = math.log(cfg.latency_p99_ms / cfg.latency_median_ms) / Z99
        return min(float(cfg.latency_max_ms), cfg.latency_median_ms * math.exp(sigma * z))

    def draw(self) -> Fault:
        with self._lock:
            cfg = self._config
            jitter, u, which = self._rng.random(), self._rng.random(), self._rng.randrange(len(SERVER_ERRORS))
            z, d = self._rng.gauss(0.0, 1.0), self._rng.random()
        delay = (cfg.latency_ms + jitter * cfg.latency_jitter_ms + self.lognormal_ms(z)) / 1000
        if u < cfg.error_rate:
            return Fault(delay, FaultKind.SERVER_ERROR, SERVER_ERRORS[which])
        if u < cfg.error_rate + cfg.rate_limit_rate:
            return Fault(delay, FaultKind.RATE_LIMIT, 429)
        if u < cfg.error_rate + cfg.rate_limit_rate + cfg.timeout_rate:
            return Fault(delay + cfg.timeout_s, FaultKind.TIMEOUT, 504)
        return Fault(delay, drip=d < cfg.drip_rate)

    def error_for(self, fault: Fault) -> ApiError | None:
        """The error to answer with once the fault's delay has passed (None: serve the call)."""
        if fault.kind is FaultKind.SERVER_ERROR:
            return InjectedFailure(fault.status, f"injected fault: HTTP {fault.status}")
        if fault.kind is FaultKind.RATE_LIMIT:
            return RateLimited("injected fault: too many requests", retry_after=self._config.retry_after_s)
        if fault.kind is FaultKind.TIMEOUT:
            return InjectedFailure(504, "injected fault: upstream timed out")
        return None

    def feed(self, client: str, cursor: T) -> tuple[FeedFault, T]:
        """The change-feed fault of this call and the request to serve (``cursor``: the cursor asked, or the whole
        query): the asked one, or for a re-delivery the client's previous request (its page again; a client
        reading several ranges of the feed at once may so get another range's page)."""
        with self._lock:
            cfg = self._config
            u = self._feed_rng.random()
            previous = self._feed_previous.get(client, cursor)
            self._feed_previous[client] = cursor
        if u < cfg.feed_duplicate_rate:
            return FeedFault.DUPLICATE, cursor
        if u < cfg.feed_duplicate_rate + cfg.feed_redeliver_rate and previous != cursor:
            return FeedFault.REDELIVER, previous
        return FeedFault.NONE, cursor


# ---- the slow drip and the X-Injected-Fault header: a pure ASGI middleware ----------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class FaultMiddleware:
    """Adds ``X-Injected-Fault`` to answers of calls that got a fault, and sends the body of a dripping
    answer in pieces with pauses. The fault is put into ``scope["state"]`` by the request dependency."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        def injected() -> tuple[str | None, FaultConfig | None]:
            state = scope.get("state") or {}
            value = state.get(STATE_KEY)
            return (value[0], value[1]) if value else (None, None)

        async def send_with_faults(message: Message) -> None:
            description, drip = injected()
            if message["type"] == "http.response.start" and description:
                message["headers"] = [*message.get("headers", []),
                                      (FAULT_HEADER.lower().encode(), description.encode())]
            if message["type"] == "http.response.body" and drip is not None:
                body: bytes = message.get("body", b"")
                more = message.get("more_body", False)
                size = drip.drip_chunk_bytes
                pieces = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
                for n, piece in enumerate(pieces):
                    last = n == len(pieces) - 1
                    await send({"type": "http.response.body", "body": piece, "more_body": more or not last})
                    if not last:
                        await asyncio.sleep(drip.drip_interval_ms / 1000)
                return
            await send(message)

        await self.app(scope, receive, send_with_faults)


def mark(state: Any, description: str, drip: FaultConfig | None = None) -> None:
    """Record a request's fault for the middleware (``request.state``)."""
    current = getattr(state, STATE_KEY, None)
    if current:
        description = f"{current[0]},{description}"
        drip = drip or current[1]
    setattr(state, STATE_KEY, (description, drip))
