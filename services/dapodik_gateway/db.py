"""Storage plumbing of this service: the table base, the UTC timestamp column type, the engine, Alembic.

Tables hang off ``DapodikTable`` (own SQLAlchemy registry, so own ``MetaData``) rather than the global
``SQLModel.metadata``: several services are imported into one test process, and the EMIS gateway has
tables of the same names (``field_provenance``...).
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import bulk, idempotency
from shared import db as shared_db
from shared.errors import ApiError, error_response

log = logging.getLogger("dapodik_gateway.db")

MIGRATIONS = Path(__file__).parent / "migrations"

# The UTC timestamp type, constraint naming and SQLite transaction handling are shared by every service.
SQLITE_IMMEDIATE = shared_db.SQLITE_IMMEDIATE
UTCDateTime = shared_db.UTCDateTime
unstorable_text = shared_db.unstorable_text
# Set-wise writes (COPY on PostgreSQL, one prepared executemany on SQLite): shared with the other services.
executemany = bulk.executemany
bulk_insert = bulk.insert
next_ids = bulk.next_ids
bulk_update = bulk.update
NAMING_CONVENTION = shared_db.NAMING_CONVENTION


class DapodikTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every table of this service (``DapodikTable.metadata`` is what Alembic compares)."""


IDEMPOTENCY = idempotency.table(DapodikTable.metadata)  # answers of POSTs sent with an Idempotency-Key


def make_engine(url: str) -> Engine:
    return shared_db.make_engine(url)


def migrate(url: str, revision: str = "head") -> None:
    shared_db.migrate(MIGRATIONS, url, revision)


# PostgreSQL's answers to two transactions that could not both go on: serialization_failure and
# deadlock_detected. The gateway takes its locks in one order (README, *Locks*), so neither is expected.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})


class Contention(ApiError):
    """The database gave up this transaction for another one (deadlock or serialization failure): nothing was
    written; the same request again will go through."""

    status_code = 503


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def install_contention_handler(app: FastAPI) -> None:
    """Should a deadlock or serialization failure still happen, the caller gets a 503 ``Contention`` with
    ``Retry-After`` (the transaction was rolled back whole), not a 500; every other database error stays a 500."""

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_error(request: Request, exc: sa.exc.DBAPIError) -> JSONResponse:
        if not is_transient(exc):
            raise exc  # the app's last resort: logged, a 500 InternalError
        log.warning("%s %s: the database gave up the transaction (SQLSTATE %s); answered 503",
                    request.method, request.url.path, getattr(exc.orig, "sqlstate", None))
        response = error_response(Contention(
            "another transaction held what this one needed and the database gave this one up (SQLSTATE "
            f"{getattr(exc.orig, 'sqlstate', None)}); nothing was written, send the request again"))
        response.headers["Retry-After"] = "1"
        return response
