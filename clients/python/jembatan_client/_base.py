"""One httpx client per service client, explicit timeouts, one retry policy (idempotent calls only)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from jembatan_client.errors import RateLimited, Unavailable, error_for

M = TypeVar("M")
F = TypeVar("F", bound=Callable[..., Any])
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


def query(**params: Any) -> dict[str, Any]:
    """The query of a call: parameters left at None are not sent (the service's default applies)."""
    return {k: v for k, v in params.items() if v is not None}


def if_match_header(etag: str | None) -> dict[str, str] | None:
    return {"If-Match": etag} if etag else None


def upload(data: bytes | BinaryIO) -> bytes:
    return data if isinstance(data, bytes) else data.read()


class BaseClient:
    """``transport``: an httpx transport (tests pass ``httpx.ASGITransport(app)`` to call an app in process)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, attempts: int = 4,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None) -> None:
        self.attempts, self.backoff = attempts, backoff
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
        headers = dict(kwargs.pop("headers", None) or {})
        if idempotency_key:
            headers["Idempotency-Key"] = str(uuid.uuid4()) if idempotency_key is True else idempotency_key
        retried = (method in RETRIED_METHODS or "Idempotency-Key" in headers) if retry is None else retry
        attempts = self.attempts if retried else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise Unavailable(None, None, f"{self.http.base_url} did not answer: {exc}") from exc
                self._sleep(attempt, None)
                continue
            if response.is_success:
                return response
            error = error_for(response.status_code, response.content, response.headers.get("retry-after"))
            if isinstance(error, Unavailable | RateLimited) and attempt < attempts:
                self._sleep(attempt, getattr(error, "retry_after", None))
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        time.sleep(retry_after if retry_after is not None else random.uniform(0, self.backoff * 2 ** (attempt - 1)))

    def get_model(self, path: str, model: type[M] | Any, **kwargs: Any) -> M:
        return TypeAdapter(model).validate_json(self.request("GET", path, **kwargs).content)  # type: ignore[no-any-return]

    def send_model(self, method: str, path: str, model: type[M] | Any, body: BaseModel | dict[str, Any] | None = None,
                   **kwargs: Any) -> M:
        payload = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
        response = self.request(method, path, json=payload, **kwargs)
        return TypeAdapter(model).validate_json(response.content)  # type: ignore[no-any-return]

    def download(self, path: str, params: dict[str, Any], into: BinaryIO | None) -> bytes | None:
        """A file the service makes: its bytes, or (``into`` given) streamed into ``into`` chunk by chunk, so a
        large export is never held in memory; None then. A download is retried only before its first byte."""
        if into is None:
            return self.request("GET", path, params=params, headers={"Accept": "*/*"}).content
        written = False
        for attempt in range(1, self.attempts + 1):
            try:
                with self.http.stream("GET", path, params=params, headers={"Accept": "*/*"}) as response:
                    if not response.is_success:
                        error = error_for(response.status_code, response.read(), response.headers.get("retry-after"))
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
                    raise Unavailable(None, None, f"{self.http.base_url} did not answer: {exc}") from exc
                self._sleep(attempt, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def send_file(self, path: str, model: type[M], data: bytes | BinaryIO, media_type: str,
                  params: dict[str, Any]) -> M:
        """Upload a file as the request body (not retried: an import is not declared idempotent)."""
        response = self.request("POST", path, content=upload(data), params=params,
                                headers={"Content-Type": media_type})
        return TypeAdapter(model).validate_json(response.content)  # type: ignore[no-any-return]

    def iterate(self, path: str, item: type[M], params: dict[str, Any] | None = None,
                cursor_param: str = "cursor") -> Iterator[M]:
        """Every item of a cursor-paged list: pages are fetched as the caller goes."""
        page_type = TypeAdapter(dict[str, Any])
        query = {k: v for k, v in (params or {}).items() if v is not None}
        adapter = TypeAdapter(item)
        while True:
            page = page_type.validate_json(self.request("GET", path, params=query).content)
            for raw in page.get("items", []):
                yield adapter.validate_python(raw)
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query[cursor_param] = cursor


Progress = Callable[[Any], None]
