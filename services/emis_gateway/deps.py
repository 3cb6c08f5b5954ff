"""Request dependencies: one database transaction per request, and the authenticated client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from sqlmodel import Session

from shared.auth import bearer_client
from shared.db import session_scope


def _tokens(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens


require_client = bearer_client(_tokens)
ClientDep = Annotated[str, Depends(require_client)]


def get_session(request: Request) -> Iterator[Session]:
    """Committed when the route returns, before the answer is sent; rolled back on any error."""
    with session_scope(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
