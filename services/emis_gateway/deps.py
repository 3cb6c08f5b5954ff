"""Request dependencies: one database transaction per request, and the authenticated client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from sqlmodel import Session

from shared.auth import bearer_client
from shared.db import SQLITE_IMMEDIATE, session_scope


def _tokens(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens


require_client = bearer_client(_tokens)
ClientDep = Annotated[str, Depends(require_client)]


def get_session(request: Request) -> Iterator[Session]:
    """Committed when the route returns, before the answer is sent; rolled back on any error."""
    with session_scope(request.app.state.engine) as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A write transaction: on SQLite it takes the write lock at BEGIN, so concurrent writers queue on the
    busy timeout instead of failing when one upgrades its read snapshot."""
    with session_scope(request.app.state.engine) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        yield session


# scope="function": the transaction commits before the answer goes out, so a failed commit is an error
# answer rather than a 200 for something that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


async def raw_body(request: Request) -> bytes:
    """The request body as sent (FastAPI has read it already for a JSON body; a file upload is read here)."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(raw_body)]
