"""Fault injection: a seeded generator decides, per API call, the added latency and whether it fails."""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from enum import StrEnum

from services.kemensos_mock.faults.schemas import FaultConfig
from shared.errors import ApiError, RateLimited

log = logging.getLogger("jembatan.kemensos.faults")

SERVER_ERRORS = (500, 502, 503)


class FaultKind(StrEnum):
    NONE = "none"
    SERVER_ERROR = "server_error"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Fault:
    delay_s: float
    kind: FaultKind = FaultKind.NONE
    status: int = 200


class InjectedFailure(ApiError):
    """A failure the mock injected on purpose (status 500, 502, 503 or 504)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status


class FaultInjector:
    """Thread-safe; every call draws the same number of values, so a seed fixes the whole sequence."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._rng = random.Random(config.seed)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
        log.warning("fault injection set: %s", config.model_dump_json())

    def draw(self) -> Fault:
        with self._lock:
            cfg = self._config
            jitter, u, which = self._rng.random(), self._rng.random(), self._rng.randrange(len(SERVER_ERRORS))
        delay = (cfg.latency_ms + jitter * cfg.latency_jitter_ms) / 1000
        if u < cfg.error_rate:
            return Fault(delay, FaultKind.SERVER_ERROR, SERVER_ERRORS[which])
        if u < cfg.error_rate + cfg.rate_limit_rate:
            return Fault(delay, FaultKind.RATE_LIMIT, 429)
        if u < cfg.error_rate + cfg.rate_limit_rate + cfg.timeout_rate:
            return Fault(delay + cfg.timeout_s, FaultKind.TIMEOUT, 504)
        return Fault(delay)

    def error_for(self, fault: Fault) -> ApiError | None:
        """The error to answer with once the fault's delay has passed (None: serve the call)."""
        if fault.kind is FaultKind.SERVER_ERROR:
            return InjectedFailure(fault.status, f"injected fault: HTTP {fault.status}")
        if fault.kind is FaultKind.RATE_LIMIT:
            return RateLimited("injected fault: too many requests", retry_after=self._config.retry_after_s)
        if fault.kind is FaultKind.TIMEOUT:
            return InjectedFailure(504, "injected fault: upstream timed out")
        return None
