from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from sqlmodel import Session

from services.sync_hub.config import Settings
from shared.auth import bearer_client
from shared.db import session_scope


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def every_token(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens  # type: ignore[no-any-return]


ClientDep = Annotated[str, Depends(bearer_client(every_token))]
