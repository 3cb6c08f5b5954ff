"""Who is calling and what they may touch (object-level access).

* the hub (``HUB_CLIENTS`` in ``API_TOKENS``): reads everything, reads the change feed, writes results and
  KIP SKs; never edits a record;
* an operator of all schools (any other client in ``API_TOKENS``, e.g. ``operator``): reads and changes
  every school's students, posts KIP SKs; does not write the hub's results;
* a school operator (``OPERATORS``: a token scoped to one NPSN): reads and changes only that school's
  students. Anything of another school is 403 ``out_of_scope`` (checked before the request is read, so it
  changes nothing); lists are cut to the school.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request, params
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.sekolah.models import SekolahRow
from shared.auth import identify
from shared.errors import Forbidden


class Role(StrEnum):
    HUB = "hub"
    OPERATOR = "operator"  # every school
    SCHOOL = "school"  # one school's operator


@dataclass(frozen=True, slots=True)
class Principal:
    client: str
    role: Role
    npsn: str | None = None  # the school of a SCHOOL principal

    def may_see(self, npsn: str | None) -> bool:
        return self.role is not Role.SCHOOL or npsn == self.npsn


def every_token(request: Request) -> dict[str, SecretStr]:
    settings: Settings = request.app.state.settings
    return {**settings.api_tokens, **{name: op.token for name, op in settings.operators.items()}}


async def authenticate(request: Request) -> Principal:
    """The caller, or 401 (asynchronous: no I/O, so no hop to the thread pool)."""
    client = identify(request, every_token)
    request.state.client = client
    settings: Settings = request.app.state.settings
    if client in settings.operators:
        principal = Principal(client, Role.SCHOOL, settings.operators[client].npsn)
    elif client in settings.hub_clients:
        principal = Principal(client, Role.HUB)
    else:
        principal = Principal(client, Role.OPERATOR)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def client_name(principal: PrincipalDep) -> str:
    return principal.client


ClientDep = Annotated[str, Depends(client_name)]


def out_of_scope(field: str, what: str) -> Forbidden:
    return Forbidden.field(field, "out_of_scope", f"{what} is outside this credential's school")  # type: ignore[return-value]


def require_roles(*roles: Role) -> params.Depends:
    """Only these roles may call the route (403 ``role`` before the request is read)."""
    allowed = frozenset(roles)

    async def _check(principal: PrincipalDep) -> None:
        if principal.role not in allowed:
            raise Forbidden.field("authorization", "role",
                                  f"a {principal.role.value} credential may not do this; needs: "
                                  f"{', '.join(sorted(r.value for r in allowed))}")

    return Depends(_check)


async def school_scope(request: Request, principal: PrincipalDep) -> None:
    """A route under ``/sekolah/{npsn}``: a school operator only for its own school (asynchronous: no I/O)."""
    npsn = request.path_params.get("npsn")
    if npsn is not None and not principal.may_see(npsn):
        raise out_of_scope("npsn", f"school {npsn}")


def _school_of(engine: sa.Engine, pid: str) -> str | None:
    stmt = (sa.select(SekolahRow.npsn).join(PesertaDidikRow, PesertaDidikRow.sekolah_id == SekolahRow.sekolah_id)
            .where(PesertaDidikRow.peserta_didik_id == pid))
    with engine.connect() as conn:
        npsn: str | None = conn.execute(stmt).scalar_one_or_none()
    return npsn


def limit_npsn(principal: Principal, npsn: str | None) -> str | None:
    """The school a list is cut to: the one asked for (a school operator: only its own), or its own."""
    if principal.role is not Role.SCHOOL:
        return npsn
    if npsn is not None and npsn != principal.npsn:
        raise out_of_scope("npsn", f"school {npsn}")
    return principal.npsn


async def student_scope(request: Request, principal: PrincipalDep) -> None:
    """A route under ``/peserta-didik/{id}``: a school operator only for its school's students (an id that
    does not exist is left to the route's 404). Asynchronous: only a school operator's call reads the database
    (in the thread pool); every other caller costs no hop to it."""
    pid = request.path_params.get("peserta_didik_id")
    if pid is None or principal.role is not Role.SCHOOL:
        return
    npsn = await run_in_threadpool(_school_of, request.app.state.engine, pid)
    if npsn is not None and npsn != principal.npsn:
        raise out_of_scope("peserta_didik_id", f"student {pid}")

