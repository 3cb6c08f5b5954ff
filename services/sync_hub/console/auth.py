"""Who is at the console: a person's OIDC token kept in an HttpOnly, SameSite=Strict cookie, CSRF tokens on every
form, and the roles each page declares.

A person signs in by pasting an access token from the identity provider (``jembatan token`` in the embedded
default). The token is verified exactly as a bearer token at the API is (``HubAuthenticator``: signature, issuer,
audience, expiry), on every request: the cookie holds the token, nothing else, so a session ends when the token
expires and no session state lives in the hub. Machine clients' credentials are refused at the console.

Deny by default, as at the API: every console route declares the roles that may open it (``page(...)``) or is
marked open (``OPEN``: the login form and its POST, logout); ``enforce_console_declared`` closes any other one,
and ``services/sync_hub/tests/test_roles.py`` holds the route x role matrix.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from services.sync_hub.deps import PERSON_ROLES, HubAuthenticator, Role
from shared.auth import Principal
from shared.errors import ApiError

PREFIX = "/console"
COOKIE = "jembatan_console"
LOGIN_COOKIE = "jembatan_console_login"  # the login form's double-submit CSRF value (no session yet)
CSRF_FIELD = "csrf"


class LoginRequired(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class NotAllowed(Exception):
    def __init__(self, needed: frozenset[Role], held: frozenset[str]) -> None:
        self.needed, self.held = needed, held


class BadCsrf(Exception):
    pass


def csrf_token(session_token: str) -> str:
    """The form token of a session: an HMAC keyed by the session's own (secret, HttpOnly) token, so a page of
    another origin can neither read nor compute it, and every hub process derives the same one."""
    return hmac.new(session_token.encode(), b"jembatan-console-csrf", hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def person_of(request: Request, token: str) -> Principal:
    """The person a token names (verified), or raises ``ApiError`` (401) / ``LoginRequired`` (a machine's)."""
    authenticator: HubAuthenticator = request.app.state.authenticator
    principal = authenticator.authenticate(token)
    if principal.kind != "person":
        raise LoginRequired("machine")
    return principal


def current(request: Request) -> tuple[Principal, str] | None:
    """The signed-in person and their token, or ``None`` (no cookie, or a token that no longer verifies)."""
    known = getattr(request.state, "console", None)
    if known is not None:
        return known  # type: ignore[no-any-return]
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = person_of(request, token)
    except (ApiError, LoginRequired):
        return None
    request.state.console = (principal, token)
    request.state.principal = principal
    request.state.client = principal.who
    return principal, token


class Page:
    """A console route's declaration of the roles that may open it (and the dependency enforcing it)."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __call__(self, request: Request) -> Principal:
        found = current(request)
        if found is None:
            raise LoginRequired("expired" if request.cookies.get(COOKIE) else "required")
        principal, token = found
        if not principal.roles & self.roles:
            raise NotAllowed(self.roles, principal.roles)
        request.state.csrf = csrf_token(token)
        return principal


def page(*roles: Role) -> Any:
    return Depends(Page(frozenset(roles)))


class Open:
    """Marks a console route that anyone may open (the login page): the explicit exception to deny-by-default."""

    def __call__(self) -> None:
        return None


OPEN = Depends(Open())

ALL = (Role.VIEWER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
Anyone = Annotated[Principal, page(*ALL)]
Watcher = Annotated[Principal, page(Role.VIEWER, Role.REVIEWER, Role.ADMIN)]
Operator = Annotated[Principal, page(Role.ADMIN)]
Reviewer = Annotated[Principal, page(Role.REVIEWER)]


def jwt_exp(token: str) -> int:
    """The expiry of a token already verified (``person_of``)."""
    import jwt

    return int(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))


def check_csrf(request: Request, form: Any) -> None:
    expected = getattr(request.state, "csrf", None)
    presented = form.get(CSRF_FIELD) if form is not None else None
    if not expected or not isinstance(presented, str) or not hmac.compare_digest(presented, expected):
        raise BadCsrf()


def declared(route: APIRoute) -> frozenset[Role] | str | None:
    """The roles a console route declares; ``"open"`` for an open one; ``None`` when it declares neither."""
    roles: set[Role] = set()
    found: frozenset[Role] | str | None = None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Page):
            roles |= dep.call.roles
            found = frozenset(roles)
        elif isinstance(dep.call, Open) and found is None:
            found = "open"
        stack.extend(dep.dependencies)
    return found


def console_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out: list[tuple[str, str, APIRoute]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                path = prefix + route.path
                if path == PREFIX or path.startswith(PREFIX + "/"):
                    out.extend((method, path, route) for method in sorted(route.methods))
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))

    walk(app.routes, "")
    return out


def enforce_console_declared(request: Request) -> None:
    """A console route that declares neither roles nor ``OPEN`` is closed (403)."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and declared(route) is None:
        raise NotAllowed(frozenset(), frozenset())


def gate(authenticate: Callable[[Request], object]) -> Callable[[Request], object]:
    """The hub's credential gate, letting the console's paths through to the console's own checks (a browser
    sends a cookie, not a bearer header; every console route declares its roles or is open, see above)."""

    def _gate(request: Request) -> object:
        # the path as served (``request.url`` would build and parse the whole URL on every request; its path differs
        # only by escaping ?, # and \, none of which is in the prefix, so both give the same answer here)
        path = request.scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return None
        return authenticate(request)

    return _gate


def login_url(next_path: str, reason: str | None = None) -> str:
    url = f"{PREFIX}/login?next={quote(next_path, safe='/')}"
    return url + (f"&reason={reason}" if reason else "")


def safe_next(value: str | None) -> str:
    """Only a console path may follow a login (no open redirect)."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return f"{PREFIX}/runs"


assert frozenset(ALL) == PERSON_ROLES
