"""Request dependencies: one database transaction per request, and the authenticated client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import SecretStr

from services.emis_gateway.access import Principal
from shared.auth import bearer_client
from shared.deps import SessionDep as SessionDep  # re-exported for the routers
from shared.deps import WriteSessionDep as WriteSessionDep


def every_token(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens


require_client = bearer_client(every_token)
ClientDep = Annotated[str, Depends(require_client)]


async def get_principal(request: Request, client: ClientDep) -> Principal:
    """The authenticated client with its scope (``EMIS_API_SCOPES``) and whether it writes results (asynchronous:
    no I/O, so no hop to the thread pool)."""
    settings = request.app.state.settings
    scope = settings.api_scopes.get(client)
    return Principal(client, frozenset(scope) if scope is not None else None, client in settings.results_clients)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
NsmPath = Annotated[str, Path(pattern=r"^\d{12}$", description="Nomor Statistik Madrasah (12 digits)")]


async def institution_in_scope(nsm: NsmPath, principal: PrincipalDep) -> str:
    """The path's NSM, if the client may see it (403 otherwise)."""
    principal.ensure_institution(nsm)
    return nsm


InstitutionDep = Annotated[str, Depends(institution_in_scope)]


async def results_writer(principal: PrincipalDep) -> Principal:
    """The client, if it may write results (the hub); 403 before the body is even read otherwise."""
    principal.ensure_writes_results()
    return principal


ResultsWriterDep = Annotated[Principal, Depends(results_writer)]


async def raw_body(request: Request) -> bytes:
    """The request body as sent (FastAPI has read it already for a JSON body; a file upload is read here)."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(raw_body)]
