"""All SQL of the change feed: families, PKH memberships and family tombstones merged in
(updated_at, version) order."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, literal, select, tuple_, union_all
from sqlmodel import Session

from services.kemensos_mock.registry.models import AnggotaRow, KeluargaHapusRow, KeluargaRow, KkLamaRow, PkhRow
from services.kemensos_mock.registry.repository import among
from services.kemensos_mock.storage import UtcDateTime, version_param

KELUARGA, PKH, DIHAPUS = "keluarga", "pkh", "keluarga_dihapus"
_SIDES = ((KELUARGA, KeluargaRow), (PKH, PkhRow), (DIHAPUS, KeluargaHapusRow))


@dataclass(frozen=True, slots=True)
class ChangeRef:
    kind: str
    id: int
    version: int
    updated_at: datetime


def snapshot(session: Session) -> None:
    """Read the page from one snapshot. PostgreSQL: REPEATABLE READ for this transaction, when the page is
    the session's first work (as in a request); SQLite's read transaction is a snapshot already (WAL)."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def page(session: Session, after: tuple[datetime, int] | None, limit: int, since_version: int | None = None,
         until_version: int | None = None) -> list[ChangeRef]:
    """Up to ``limit`` changed records after ``after`` = (updated_at, version); only those with a version in
    (``since_version``, ``until_version``] when given (a range of the feed).

    The version breaks ties between rows sharing a timestamp; it is unique across the tables because
    every change takes its own number from one sequence. Each side is filtered and limited on its own
    (``updated_at, version`` index) before the merge.
    """
    sides = []
    for kind, model in _SIDES:
        stmt = select(literal(kind, String).label("kind"), model.id.label("id"), model.version.label("version"),
                      model.updated_at.label("updated_at"))
        if after is not None:
            at, version = after
            # a row-value comparison: both databases seek the (updated_at, version) index to it
            stmt = stmt.where(tuple_(model.updated_at, model.version) > tuple_(literal(at, UtcDateTime()),
                                                                               version_param(version)))
        if since_version is not None:
            stmt = stmt.where(model.version > version_param(since_version))
        if until_version is not None:
            stmt = stmt.where(model.version <= version_param(until_version))
        sides.append(stmt.order_by(model.updated_at, model.version).limit(limit).subquery().select())
    merged = union_all(*sides).subquery()
    stmt = select(merged).order_by(merged.c.updated_at, merged.c.version).limit(limit)
    return [ChangeRef(r.kind, r.id, r.version, r.updated_at) for r in session.execute(stmt)]


def _by_id(session: Session, model: Any, ids: Collection[int]) -> dict[int, Row[Any]]:
    """Rows of ``model``'s table by id: plain rows with the table's attribute names (read-only; a page's thousand
    ORM instances cost more than the query)."""
    if not ids:
        return {}
    table = model.__table__
    return {r.id: r for r in session.execute(select(table).where(among(session, table.c.id, ids)))}


def families_by_id(session: Session, ids: Collection[int]) -> dict[int, Row[Any]]:
    return _by_id(session, KeluargaRow, ids)


def pkh_by_id(session: Session, ids: Collection[int]) -> dict[int, Row[Any]]:
    return _by_id(session, PkhRow, ids)


def removed_by_id(session: Session, ids: Collection[int]) -> dict[int, Row[Any]]:
    return _by_id(session, KeluargaHapusRow, ids)


def members_by_family(session: Session, no_kks: Collection[str]) -> dict[str, list[Row[Any]]]:
    """Every member of each family in ``no_kks``, in insertion order: one IN query.

    Plain rows (attribute access like the table class), not ORM objects: building thousands of SQLModel
    instances per page costs more than the query. Sorted here, not in SQL: an ORDER BY id would lead SQLite
    to walk the primary key instead of the no_kk index."""
    if not no_kks:
        return {}
    table = AnggotaRow.__table__
    out: dict[str, list[Row[Any]]] = {}
    rows = sorted(session.execute(select(table).where(among(session, table.c.no_kk, no_kks))), key=lambda r: r.id)
    for row in rows:
        out.setdefault(row.no_kk, []).append(row)
    return out


def past_kks(session: Session, keluarga_ids: Collection[int]) -> dict[int, list[str]]:
    if not keluarga_ids:
        return {}
    out: dict[int, list[str]] = {}
    stmt = (select(KkLamaRow.keluarga_id, KkLamaRow.no_kk).where(among(session, KkLamaRow.keluarga_id, keluarga_ids))
            .order_by(KkLamaRow.version))
    for keluarga_id, no_kk in session.execute(stmt):
        out.setdefault(keluarga_id, []).append(no_kk)
    return out
