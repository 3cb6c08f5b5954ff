"""The hub's request dependencies: the session, the settings, and who may call what.

Every ``/api`` route declares the roles that may call it with ``require(...)`` (through the aliases below).
``enforce_declared`` (an app-wide dependency) answers 403 on any ``/api`` route that declares none, and the role
matrix test (``services/sync_hub/tests/test_roles.py``) fails on it: a new route is closed until someone
decides who may call it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlmodel import Session

from services.sync_hub.config import Settings
from shared.auth import Principal
from shared.db import session_scope
from shared.errors import Forbidden, Unauthorized
from shared.oidc import JwtVerifier


class Role(StrEnum):
    VIEWER = "viewer"  # runs, outcomes, reports, provenance: identifiers masked
    REVIEWER = "reviewer"  # review cases with the personal data they need; decisions carry the person
    ADMIN = "admin"  # start and cancel runs (the model is refitted by runs), settings; no personal data
    AUDITOR = "auditor"  # who read a person's data; the access log's integrity; provenance
    GATEWAY = "gateway"  # a machine client (EMIS, Dapodik gateway): checks of its own system's students only


PERSON_ROLES = frozenset({Role.VIEWER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR})
# Why a role reads personal data: written into the access log with every read (audit/service.py).
PURPOSE = {
    Role.REVIEWER: "clerical review: deciding whether a student and a registry family are the same people",
    Role.AUDITOR: "audit: answering who read a person's data",
    Role.GATEWAY: "Request Data PKH: deciding the gateway's own students",
    Role.ADMIN: "administration",
    Role.VIEWER: "monitoring runs and outcomes",
}


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.engine) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_read_session(request: Request) -> Iterator[Session]:
    """A transaction for a route that only reads. On SQLite it begins deferred: in WAL mode it reads a snapshot and
    neither waits for the writers (the run's jobs, the replica follower, the checks: their transactions begin
    IMMEDIATE) nor holds them up, so a page polling a run's progress answers while a unit writes. The same as
    ``SessionDep`` on PostgreSQL, where readers never wait for writers anyway."""
    with session_scope(request.app.state.reader) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def every_token(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens  # type: ignore[no-any-return]


class HubAuthenticator:
    """Machine clients by their static credential; people by their OIDC token (``shared.oidc``)."""

    def __init__(self, settings: Settings, verifier: JwtVerifier) -> None:
        self.settings, self.verifier = settings, verifier

    def authenticate(self, presented: str) -> Principal:
        for client, token in self.settings.api_tokens.items():
            if hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
                return Principal(kind="client", name=client, roles=frozenset({Role.GATEWAY.value}),
                                 system=self.settings.client_systems[client])
        if presented.count(".") != 2:
            raise Unauthorized.field("authorization", "unknown_credential",
                                     "the bearer credential is neither a client's nor a person's token")
        claims = self.verifier.verify(presented)
        return Principal(kind="person", name=claims.subject, display=claims.name, issuer=claims.issuer,
                         roles=frozenset(r for r in claims.roles if r in PERSON_ROLES))


def authenticate(request: Request) -> Principal:
    """The request's principal (authenticated once per request, kept in ``request.state``), or 401."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized.field("authorization", "required",
                                 "a bearer credential is required (Authorization: Bearer <token>)")
    authenticator: HubAuthenticator = request.app.state.authenticator
    principal = authenticator.authenticate(presented.strip())
    request.state.principal = principal
    request.state.client = principal.who
    return principal


class Require:
    """A route's declaration of the roles that may call it (and the dependency that enforces it)."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:
        """Asynchronous: the principal is the one the credential gate authenticated (``request.state``), so no
        hop to the thread pool."""
        principal = authenticate(request)
        if not principal.roles & self.roles:
            held, needed = ", ".join(sorted(principal.roles)) or "none", " or ".join(sorted(self.roles))
            raise Forbidden.field("authorization", "role", f"this route needs the role {needed}; "
                                  f"{principal.kind} {principal.name} holds {held}")
        return principal


def require(*roles: Role) -> Any:
    return Depends(Require(frozenset(roles)))


Reader = Annotated[Principal, require(Role.VIEWER, Role.REVIEWER, Role.ADMIN)]
ProvenanceReader = Annotated[Principal, require(Role.VIEWER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)]
Admin = Annotated[Principal, require(Role.ADMIN)]
Reviewer = Annotated[Principal, require(Role.REVIEWER)]
Auditor = Annotated[Principal, require(Role.AUDITOR)]
ChainChecker = Annotated[Principal, require(Role.ADMIN, Role.AUDITOR)]
Gateway = Annotated[Principal, require(Role.GATEWAY)]


def declared_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles a route declares (``None``: it declares none)."""
    found: set[Role] = set()
    declared = False
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            declared = True
            found |= dep.call.roles
        stack.extend(dep.dependencies)
    return frozenset(found) if declared else None


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every ``/api`` route of the app as (method, full path, route), through included routers."""
    out: list[tuple[str, str, APIRoute]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                path = prefix + route.path
                if path.startswith("/api/"):
                    out.extend((method, path, route) for method in sorted(route.methods))
            elif hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers as such
                walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    walk(app.routes, "")
    return out


def undeclared(app: FastAPI) -> list[str]:
    """The ``/api`` routes that declare no role (each answered 403 by ``enforce_declared``)."""
    return [f"{method} {path}" for method, path, route in api_routes(app) if declared_roles(route) is None]


_CLOSED = "_jembatan_closed"  # kept on the route: it is an /api route that declares no role


def _closed(route: APIRoute) -> bool:
    found: bool | None = getattr(route, _CLOSED, None)
    if found is None:
        found = route.path.startswith("/api/") and declared_roles(route) is None
        setattr(route, _CLOSED, found)
    return found


async def enforce_declared(request: Request) -> None:
    """An app-wide dependency: a ``/api`` route that declares no role is closed (403), whoever calls it.
    Asynchronous (no I/O: no hop to the thread pool on every request); a route's roles are walked once."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and _closed(route):
        raise Forbidden.field("authorization", "no_declared_role", f"{route.path} declares no role: closed until "
                              "it does")


def route_of(request: Request) -> str:
    """The answering route as declared (``GET /api/v1/reviews/{case_id}``): its template, never the URL."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '?')}"
