"""One httpx client per service client, explicit timeouts, one retry policy (idempotent calls only)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from jembatan_client.errors import RateLimited, Unavailable, UnexpectedAnswer, error_for

M = TypeVar("M")
F = TypeVar("F", bound=Callable[..., Any])
REQUEST_ID = "X-Request-ID"
RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
FileFormat = Literal["csv", "xlsx"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def operation(operation_id: str) -> Callable[[F], F]:
    """Mark the method that calls the route with this OpenAPI ``operationId``: ``tests/test_sdk.py`` fails when a
    route of the hub or a gateway has no marked method, so the SDK cannot fall behind the services."""

    def mark(fn: F) -> F:
        fn.operation_id = operation_id  # type: ignore[attr-defined]
        return fn

    return mark


def segment(value: str) -> str:
    """``value`` as one path segment of a URL, every character that is not unreserved percent-encoded: an id with a
    ``/``, a ``?`` or a control character names the record, never another path."""
    return quote(value, safe="")


def query(**params: Any) -> dict[str, Any]:
    """The query of a call: parameters left at None are not sent (the service's default applies)."""
    return {k: v for k, v in params.items() if v is not None}


def if_match_header(etag: str | None) -> dict[str, str] | None:
    return {"If-Match": etag} if etag else None


def parse(model: type[M] | Any, response: httpx.Response, raw: Any = None) -> M:
    """The answer as ``model``; ``UnexpectedAnswer`` (an ``ApiError``) when a 2xx body does not fit it, so a
    caller catching ``ApiError`` also catches a service that answered what its contract does not say."""
    try:
        adapter = TypeAdapter(model)
        return adapter.validate_json(response.content) if raw is None else adapter.validate_python(raw)  # type: ignore[no-any-return]
    except ValidationError as exc:
        error = UnexpectedAnswer(response.status_code, None, f"{response.request.method} {response.request.url.path}"
                                 f" answered {response.status_code} with a body that is not {model}: "
                                 f"{exc.error_count()} error(s), first at {exc.errors()[0]['loc']}")
        error.request_id = response.headers.get(REQUEST_ID) or response.request.headers.get(REQUEST_ID)
        raise error from None


def upload(data: bytes | BinaryIO) -> bytes:
    return data if isinstance(data, bytes) else data.read()


class BaseClient:
    """``transport``: an httpx transport (tests pass ``httpx.ASGITransport(app)`` to call an app in process).
    ``headers``: called once per call for headers to add, e.g. the caller's own ``traceparent`` and
    ``X-Request-ID`` so the services' logs and traces join the caller's; without one, each call gets a fresh
    ``X-Request-ID``, the same on each of its retries, which errors carry as ``request_id``."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, attempts: int = 4,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None,
                 headers: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.attempts, self.backoff, self.extra_headers = attempts, backoff, headers
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, idempotency_key: str | bool = False, retry: bool | None = None,
                **kwargs: Any) -> httpx.Response:
        """Send; raise the typed error of a non-2xx answer. A POST is retried only when it carries an
        ``Idempotency-Key`` (``idempotency_key=True`` makes one), so a retry cannot execute it twice, or when the
        route is idempotent by contract (``retry=True``: a read sent as a POST, a result batch that changes
        nothing the second time); PATCH never is."""
        headers = self._headers(kwargs.pop("headers", None))
        if idempotency_key:
            headers["Idempotency-Key"] = str(uuid.uuid4()) if idempotency_key is True else idempotency_key
        retried = (method in RETRIED_METHODS or "Idempotency-Key" in headers) if retry is None else retry
        attempts = self.attempts if retried else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise self._no_answer(exc, headers[REQUEST_ID]) from exc
                self._sleep(attempt, None)
                continue
            if response.is_success:
                return response
            error = error_for(response.status_code, response.content, response.headers.get("retry-after"),
                              response.headers.get(REQUEST_ID, headers[REQUEST_ID]))
            if isinstance(error, Unavailable | RateLimited) and attempt < attempts:
                self._sleep(attempt, getattr(error, "retry_after", None))
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _headers(self, given: Mapping[str, str] | None) -> dict[str, str]:
        headers = {**(self.extra_headers() if self.extra_headers else {}), **(given or {})}
        if not any(k.lower() == REQUEST_ID.lower() for k in headers):
            headers[REQUEST_ID] = uuid.uuid4().hex
        return {REQUEST_ID if k.lower() == REQUEST_ID.lower() else k: v for k, v in headers.items()}

    def _no_answer(self, exc: Exception, request_id: str) -> Unavailable:
        error = Unavailable(None, None, f"{self.http.base_url} did not answer: {exc}")
        error.request_id = request_id
        return error

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        time.sleep(retry_after if retry_after is not None else random.uniform(0, self.backoff * 2 ** (attempt - 1)))

    def get_model(self, path: str, model: type[M] | Any, **kwargs: Any) -> M:
        return parse(model, self.request("GET", path, **kwargs))

    def send_model(self, method: str, path: str, model: type[M] | Any, body: BaseModel | dict[str, Any] | None = None,
                   **kwargs: Any) -> M:
        payload = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
        return parse(model, self.request(method, path, json=payload, **kwargs))

    def download(self, path: str, params: dict[str, Any], into: BinaryIO | None) -> bytes | None:
        """A file the service makes: its bytes, or (``into`` given) streamed into ``into`` chunk by chunk, so a
        large export is never held in memory; None then. A download is retried only before its first byte."""
        if into is None:
            return self.request("GET", path, params=params, headers={"Accept": "*/*"}).content
        headers = self._headers({"Accept": "*/*"})
        written = False
        for attempt in range(1, self.attempts + 1):
            try:
                with self.http.stream("GET", path, params=params, headers=headers) as response:
                    if not response.is_success:
                        error = error_for(response.status_code, response.read(), response.headers.get("retry-after"),
                                          response.headers.get(REQUEST_ID, headers[REQUEST_ID]))
                        if isinstance(error, Unavailable | RateLimited) and attempt < self.attempts:
                            self._sleep(attempt, getattr(error, "retry_after", None))
                            continue
                        raise error
                    for chunk in response.iter_bytes():
                        written = True
                        into.write(chunk)
                    return None
            except httpx.TransportError as exc:
                if written or attempt == self.attempts:
                    raise self._no_answer(exc, headers[REQUEST_ID]) from exc
                self._sleep(attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def send_file(self, path: str, model: type[M], data: bytes | BinaryIO, media_type: str,
                  params: dict[str, Any]) -> M:
        """Upload a file as the request body (not retried: an import is not declared idempotent)."""
        response = self.request("POST", path, content=upload(data), params=params,
                                headers={"Content-Type": media_type})
        return parse(model, response)

    def iterate(self, path: str, item: type[M], params: dict[str, Any] | None = None,
                cursor_param: str = "cursor") -> Iterator[M]:
        """Every item of a cursor-paged list: pages are fetched as the caller goes."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        while True:
            response = self.request("GET", path, params=query)
            page = parse(dict[str, Any], response)
            yield from parse(list[item], response, page.get("items", []))  # type: ignore[valid-type]
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query[cursor_param] = cursor


Progress = Callable[[Any], None]
