"""``Idempotency-Key`` on the non-idempotent POSTs (Stripe's convention), stored in the service's own database.

A route opts in by taking the header (``key: IdempotencyKey = None``): that documents it in the OpenAPI and
marks the route for ``IdempotencyMiddleware``, which then, for a request that carries the header:

* first time: answers it as usual and stores the status, the body and a few headers (``Content-Type``,
  ``Location``, ``ETag``) under (caller, key), with the SHA-256 of method, path, query and body;
* the same key again with the same request: the stored answer, byte for byte, with ``Idempotent-Replayed: true``
  (nothing is executed a second time);
* the same key with another request: 422 ``IdempotencyConflict`` (field ``Idempotency-Key``, rule
  ``reused_with_another_request``), nothing executed;
* the same key while the first request is still being answered: 409 ``Conflict`` (rule ``in_progress``).

Answers of 5xx are not stored (the row is removed, so a retry executes again). Keys are per caller (the
credential's client or person, never shared between callers) and expire after ``TTL`` (24 hours): an expired
key is a new key. Requests without the header behave exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import FastAPI, Header
from fastapi.routing import APIRoute
from sqlalchemy.dialects import postgresql, sqlite
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import UTCDateTime
from shared.errors import Conflict, IdempotencyConflict, error_response

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_STORED_BODY = 1 << 20  # a larger answer is not stored (the key is released)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = ("content-type", "location", "etag")

IdempotencyKey = Annotated[str | None, Header(
    alias=HEADER, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Makes a retry safe: a repeat with the same key and body answers the first answer (with "
                "`Idempotent-Replayed: true`) and executes nothing; the same key with another body is 422. "
                "Keys are per caller and kept 24 hours. Use a fresh UUID per operation.",
    examples=["5f0c2a4e-8f3b-4c55-9a7e-1f2d3c4b5a69"])]


def table(metadata: sa.MetaData) -> sa.Table:
    """The ``idempotency_key`` table, defined on a service's own metadata (its migration creates it)."""
    return sa.Table(
        "idempotency_key", metadata,
        sa.Column("caller", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),  # NULL while the first request is being answered
        sa.Column("headers", sa.Text, nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
    )


def _full_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    out: list[tuple[str, APIRoute]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                out.append((prefix + route.path, route))
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    walk(list(app.router.routes), "")
    return out


def idempotent_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that takes ``Idempotency-Key``."""
    found = []
    for path, route in _full_routes(app):
        params = route.dependant.header_params + [p for d in route.dependant.dependencies for p in d.header_params]
        if any((p.alias or p.name).lower() == HEADER.lower() for p in params):
            found.extend((m, path) for m in sorted(route.methods))
    return found


def _by_method(routes: list[tuple[str, str]]) -> dict[str, re.Pattern[str]]:
    """method -> one anchored regex matching the path of any of its routes (Starlette's path regexes, their
    named groups made plain: the same name may appear in two routes)."""
    alternatives: dict[str, list[str]] = {}
    for method, path in routes:
        pattern = compile_path(path)[0].pattern.removeprefix("^").removesuffix("$")
        alternatives.setdefault(method, []).append(re.sub(r"\(\?P<[^>]+>", "(?:", pattern))
    return {m: re.compile("^(?:" + "|".join(alts) + ")$") for m, alts in alternatives.items()}


class IdempotencyMiddleware:
    """See the module docstring. ``table_of(app)`` gives the table; the engine is ``app.state.engine``."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, tbl: sa.Table) -> None:
        self.app, self.fastapi_app, self.table = app, fastapi_app, tbl
        self._routes: dict[str, re.Pattern[str]] | None = None
        self._pruned = 0.0

    def _matches(self, method: str, path: str) -> bool:
        """Whether (method, path) is a route taking ``Idempotency-Key``: one regex per method (the routes' own
        path regexes joined), asked on every request, not one regex per route."""
        if self._routes is None:
            self._routes = _by_method(idempotent_routes(self.fastapi_app))
        rx = self._routes.get(method)
        return rx is not None and rx.match(path) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._matches(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        key = request.headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not _KEY.match(key):
            exc = IdempotencyConflict.field(HEADER, "format", "Idempotency-Key must be 1 to 255 printable ASCII "
                                            "characters without spaces")
            await error_response(exc, scope["path"])(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        digest = hashlib.sha256(b"\0".join([scope["method"].encode(), scope["path"].encode(),
                                            scope.get("query_string", b""), body])).hexdigest()
        caller = _caller(scope, request)
        engine = self.fastapi_app.state.engine
        stored = await anyio.to_thread.run_sync(self._claim, engine, caller, key, digest)
        if stored is not None:
            await self._answer_stored(stored, digest, scope, receive, send)
            return

        sent = False

        async def replay_body() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            answer = b"".join(chunks)
            keep = status < 500 and len(answer) <= MAX_STORED_BODY
            kept = {k.decode().lower(): v.decode() for k, v in headers if k.decode().lower() in _KEPT_HEADERS}
            await anyio.to_thread.run_sync(self._settle, engine, caller, key, status if keep else None, kept, answer)

    async def _answer_stored(self, row: Any, digest: str, scope: Scope, receive: Receive, send: Send) -> None:
        if row.request_hash != digest:
            exc = IdempotencyConflict.field(HEADER, "reused_with_another_request",
                                            "this Idempotency-Key was used with another request; use a new key")
            await error_response(exc, scope["path"])(scope, receive, send)
            return
        if row.status is None:
            exc = Conflict.field(HEADER, "in_progress", "a request with this Idempotency-Key is still being "
                                 "answered; retry later")
            await error_response(exc, scope["path"])(scope, receive, send)
            return
        kept = json.loads(row.headers or "{}")
        raw = [(k.encode(), v.encode()) for k, v in kept.items()]
        raw += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(row.body or b"")).encode())]
        await send({"type": "http.response.start", "status": row.status, "headers": raw})
        await send({"type": "http.response.body", "body": row.body or b""})

    def _claim(self, engine: sa.Engine, caller: str, key: str, digest: str) -> Any:
        """Insert a pending row for (caller, key) and return None, or return the live row already there."""
        now = datetime.now(UTC)
        t = self.table
        with engine.begin() as conn:
            if time.monotonic() - self._pruned > 60:
                self._pruned = time.monotonic()
                conn.execute(t.delete().where(t.c.expires_at < now))
            else:
                conn.execute(t.delete().where(t.c.caller == caller, t.c.key == key, t.c.expires_at < now))
        # a key another request holds is no error: the insert does nothing (PostgreSQL logged each such conflict
        # as an ERROR when the unique index refused it)
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(t)
        with engine.begin() as conn:
            claimed = conn.execute(insert.values(
                caller=caller, key=key, request_hash=digest, status=None, created_at=now, expires_at=now + TTL,
            ).on_conflict_do_nothing(index_elements=[t.c.caller, t.c.key]).returning(t.c.key)).first()
        if claimed is not None:
            return None
        with engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.caller == caller, t.c.key == key)).first()
        if row is None:  # expired and removed in between: claim again
            return self._claim(engine, caller, key, digest)
        return row

    def _settle(self, engine: sa.Engine, caller: str, key: str, status: int | None, headers: dict[str, str],
                body: bytes) -> None:
        t = self.table
        where = (t.c.caller == caller, t.c.key == key)
        with engine.begin() as conn:
            if status is None:
                conn.execute(t.delete().where(*where))
            else:
                conn.execute(t.update().where(*where).values(status=status, headers=json.dumps(headers), body=body))


def _caller(scope: Scope, request: Request) -> str:
    """Whom the key belongs to: the authenticated caller (set by ``CredentialGate``), else the credential's hash."""
    who = scope.get("state", {}).get("caller")
    if who:
        return str(who)[:200]
    token = request.headers.get("authorization", "")
    return "credential:" + hashlib.sha256(token.encode()).hexdigest()
