"""Bearer authentication between services: each client has its own credential, from settings."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request
from pydantic import SecretStr

from shared.errors import Unauthorized


def bearer_client(tokens_of: Callable[[Request], dict[str, SecretStr]]) -> Callable[[Request], str]:
    """A dependency that returns the authenticated client's name, or raises 401."""

    def _dependency(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise Unauthorized("a bearer credential is required (Authorization: Bearer <token>)")
        for client, token in tokens_of(request).items():
            if hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
                request.state.client = client
                return client
        raise Unauthorized("the bearer credential is not valid for this service")

    return _dependency
