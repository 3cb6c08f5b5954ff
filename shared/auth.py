"""Bearer authentication between services: each client has its own credential, from settings.

Two layers. ``CredentialGate`` (installed by ``shared.app.create_service_app``) turns away, before the
request body is read, any call to a non-open path that does not present a credential known to the
service — so a malformed body from an unknown caller is answered 401, not 422, and nothing about the
input is echoed to it. The per-route dependencies made by ``bearer_client`` then decide *which* client
it is and what it may do (admin routes, school scopes, the hub's write role).

The hub also serves people: ``Principal`` is who a request comes from — a machine ``client`` (a static
credential from ``<PREFIX>API_TOKENS``) or a ``person`` (an OIDC bearer token, ``shared.oidc``) — with the
roles it holds. The hub's ``deps.require`` turns roles into per-route decisions.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Unauthorized, error_response

TokensOf = Callable[[Request], Mapping[str, SecretStr]]


@dataclass(frozen=True)
class Principal:
    """Who a request comes from. ``name`` is the client's name or the person's subject (``sub``); a person's
    ``display`` is the name the identity provider gives; ``system`` is the system a machine client speaks for."""

    kind: Literal["client", "person"]
    name: str
    roles: frozenset[str] = frozenset()
    display: str = ""
    system: str | None = None
    issuer: str | None = None

    @property
    def who(self) -> str:
        """How logs and records name it: ``client:emis_gateway``, ``person:ana``."""
        return f"{self.kind}:{self.name}"


Authenticate = Callable[[Request], object]


def identify(request: Request, tokens_of: TokensOf) -> str:
    """The name of the client whose credential the request presents, or raises 401."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("a bearer credential is required (Authorization: Bearer <token>)")
    for client, token in tokens_of(request).items():
        if hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
            return client
    raise Unauthorized("the bearer credential is not valid for this service")


def bearer_client(tokens_of: TokensOf) -> Callable[[Request], Awaitable[str]]:
    """A dependency that returns the authenticated client's name, or raises 401. Asynchronous because it only
    compares strings: a plain ``def`` dependency costs a hop to the thread pool and back on every request."""

    async def _dependency(request: Request) -> str:
        client = identify(request, tokens_of)
        request.state.client = client
        return client

    return _dependency


class CredentialGate:
    """ASGI middleware: every path but ``open_paths`` needs a credential of this service (any client), or, when
    ``authenticate`` is given, whatever it accepts (it raises ``Unauthorized`` otherwise; the hub's accepts
    machine clients' credentials and people's tokens, and keeps the ``Principal`` in ``request.state``)."""

    def __init__(self, app: ASGIApp, tokens_of: TokensOf, open_paths: Collection[str],
                 authenticate: Authenticate | None = None) -> None:
        self.app, self.tokens_of, self.open_paths = app, tokens_of, frozenset(open_paths)
        self.authenticate = authenticate or (lambda request: identify(request, self.tokens_of))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            try:
                caller = self.authenticate(Request(scope))
            except Unauthorized as exc:
                await error_response(exc)(scope, receive, send)
                return
            # who is calling, for what runs inside the gate (the Idempotency-Key store keys by it)
            scope.setdefault("state", {})["caller"] = str(getattr(caller, "who", caller))
        await self.app(scope, receive, send)
