"""Request dependencies every service's routes share: one database transaction per request.

``SessionDep`` is a transaction that begins deferred; ``WriteSessionDep`` one that, on SQLite, takes the write
lock at BEGIN, so concurrent writers queue on the busy timeout instead of failing when one upgrades its read
snapshot (on PostgreSQL the two are the same). Both commit when the route returns, **before** the answer is
sent (``scope="function"``): a failed commit is an error answer, never a 200 for something that was not stored.
Either is rolled back on any error. The engine is the application's (``app.state.engine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from shared.db import SQLITE_IMMEDIATE, session_scope


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]
