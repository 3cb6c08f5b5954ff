"""One httpx client per service client, explicit timeouts, one retry policy (idempotent calls only)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from jembatan_client.errors import RateLimited, Unavailable, error_for

M = TypeVar("M")
RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


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

    def request(self, method: str, path: str, *, idempotency_key: str | bool = False,
                **kwargs: Any) -> httpx.Response:
        """Send; raise the typed error of a non-2xx answer. A POST is retried only when it carries an
        ``Idempotency-Key`` (``idempotency_key=True`` makes one), so a retry cannot execute it twice."""
        headers = dict(kwargs.pop("headers", None) or {})
        if idempotency_key:
            headers["Idempotency-Key"] = str(uuid.uuid4()) if idempotency_key is True else idempotency_key
        retried = method in RETRIED_METHODS or "Idempotency-Key" in headers
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
