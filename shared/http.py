"""Outbound HTTP: the typed-error tree and the one retry policy every client uses.

* ``Unavailable`` — connection failures, timeouts, 429 and 5xx: the call may succeed later.
* ``Rejected`` — any other 4xx: the request itself is wrong; retrying cannot help.
* ``ContractError`` — a 2xx whose body does not match the contract: client and server disagree.

Only calls declared idempotent are retried: bounded attempts, exponential backoff with full jitter,
honouring ``Retry-After`` on 429/503. Non-idempotent calls fail on the first ``Unavailable``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from shared.errors import ErrorBody, FieldError, scrub
from shared.observability.tracing import outbound_headers

log = logging.getLogger("jembatan.http")


def segment(value: str) -> str:
    """``value`` as one path segment of a URL: every character that is not unreserved percent-encoded (a ``/``, a
    ``?``, a control character, any non-ASCII). An id read from data (a student the hub was asked to read again)
    can hold anything; unencoded it named another path, or httpx refused the URL and the caller failed."""
    return quote(value, safe="")

M = TypeVar("M", bound=BaseModel)


class ClientError(Exception):
    """Base of every error a typed client raises. Its message never holds a NIK or KK number in full (it ends
    up in a sync run's errors and in logs): NIK-shaped digit runs are masked (``shared.errors.scrub``)."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class Unavailable(ClientError):
    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Rejected(ClientError):
    def __init__(self, status: int, body: ErrorBody) -> None:
        super().__init__(f"{status} {body.error}: {body.detail}")
        self.status = status
        self.body = body

    @property
    def errors(self) -> list[FieldError]:
        return self.body.errors


class ContractError(ClientError):
    pass


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter, for idempotent calls only."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Unavailable) and exc.retry_after is not None:
            return min(self.cap, exc.retry_after)
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (state.attempt_number - 1)))

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception_type(Unavailable),
            reraise=True,
            before_sleep=lambda s: log.warning(
                "retrying %s after attempt %d: %s", getattr(s.fn, "__name__", "call"), s.attempt_number,
                s.outcome.exception() if s.outcome else "?"),
        )


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class BaseClient:
    """A typed client around one ``httpx.Client`` with a bearer credential and the retry policy."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        """``http`` lets tests pass an existing client, e.g. Starlette's ``TestClient(app)`` for contract
        tests that run this client against the real app in process."""
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "jembatan-client/0.1"}
        if http is None:
            http = httpx.Client(base_url=base_url, transport=transport, timeout=timeout, headers=headers)
        else:
            http.headers.update(headers)
        self._http = http
        self._retry = retry or RetryPolicy()

    def close(self) -> None:
        self._http.close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "content" in kwargs:  # bodies are JSON text; FastAPI (strict_content_type) 422s one without it
            kwargs["headers"] = {"Content-Type": "application/json", **(kwargs.get("headers") or {})}
        # the trace (W3C traceparent) and request id of the request being served go on with the call; the httpx
        # instrumentation, when on, replaces traceparent with its client span's
        carried = outbound_headers()
        if carried:
            kwargs["headers"] = {**carried, **(kwargs.get("headers") or {})}
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise Unavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise Unavailable(f"{method} {path}: HTTP {response.status_code}", response.status_code,
                              _retry_after(response))
        if response.status_code >= 300:  # a redirect is no answer either: an API's path names one resource, and a
            try:  # redirect (say, of a path an id with a "/" made) names another; the client follows none
                body = ErrorBody.model_validate_json(response.content)
            except ValidationError:
                body = ErrorBody(error=f"HTTP{response.status_code}", detail=response.text[:200])
            raise Rejected(response.status_code, body)
        return response

    def request(self, method: str, path: str, model: type[M], *, idempotent: bool, **kwargs: Any) -> M:
        if idempotent:
            response = self._retry.retrying()(self._send, method, path, **kwargs)
        else:
            response = self._send(method, path, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:  # the problems without pydantic's input values (personal data)
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors(include_input=False, include_url=False)[:5])
            raise ContractError(f"{method} {path}: answer does not match {model.__name__}: {problems}") from exc
