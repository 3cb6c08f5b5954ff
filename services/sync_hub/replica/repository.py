"""All SQL of the replica.

Writing a page of the change feed is set-wise (``write_page``): a fixed number of statements per page
whatever its size — deletes by key in chunks, then one executemany per table — instead of several ORM
statements per family.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session

from services.sync_hub.replica.models import (
    ReplicaAnggotaRow,
    ReplicaKeluargaRow,
    ReplicaKkLamaRow,
    ReplicaStateRow,
)

# Bound parameters per IN list: well under SQLite's 32,766 and PostgreSQL's 65,535.
CHUNK = 5_000

FAMILY_COLUMNS = ("no_kk", "kode_wilayah", "no_kks", "version", "pkh_status", "pkh_periode", "pkh_tahun",
                  "pkh_tahap")
MEMBER_COLUMNS = ("nik", "no_kk", "nama", "jenis_kelamin", "tanggal_lahir", "nama_ibu_kandung",
                  "hubungan_keluarga")


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def state(session: Session) -> ReplicaStateRow:
    row = session.get(ReplicaStateRow, 1)
    if row is None:
        row = ReplicaStateRow(id=1, cursor=None, observed_seq=0)
        session.add(row)
        session.flush()
    return row


def save_state(session: Session, cursor: str | None, observed_seq: int, at: datetime) -> None:
    row = state(session)
    row.cursor, row.observed_seq, row.synced_at = cursor, max(row.observed_seq, observed_seq), at


def family_states(session: Session, no_kks: Collection[str]) -> dict[str, dict[str, Any]]:
    """The stored family rows (FAMILY_COLUMNS) of ``no_kks`` that exist, by KK number."""
    cols = [getattr(ReplicaKeluargaRow, c) for c in FAMILY_COLUMNS]
    out: dict[str, dict[str, Any]] = {}
    where, bind = _in_keys(session, ReplicaKeluargaRow.no_kk)  # type: ignore[arg-type]
    stmt = select(*cols).where(where)
    for chunk in _chunks(no_kks):
        for row in session.execute(stmt, {"keys": bind(chunk)}):
            out[row[0]] = dict(zip(FAMILY_COLUMNS, row, strict=True))
    return out


def _in_keys(session: Session, column: ColumnElement[str]) -> tuple[ColumnElement[bool], Callable[[list[str]], Any]]:
    """``column IN (keys)`` with the keys bound as ONE parameter (a JSON array on SQLite, an array on
    PostgreSQL), so a chunk of thousands of keys is neither rendered nor processed key by key."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("keys", type_=ARRAY(String))), lambda keys: keys
    members = select(literal_column("value")).select_from(func.json_each(bindparam("keys", type_=String)))
    return column.in_(members.scalar_subquery()), json.dumps


def _delete_in(session: Session, column: InstrumentedAttribute[str], values: Collection[str]) -> int:
    statements = 0
    table = column.class_.__table__
    where, bind = _in_keys(session, table.c[column.key])
    stmt = delete(table).where(where)
    for chunk in _chunks(values):
        session.execute(stmt, {"keys": bind(chunk)})
        statements += 1
    return statements


def write_page(session: Session, *, replaced: Collection[str], claimed_niks: Collection[str],
               claimed_old_kks: Collection[str], rewritten: Collection[str], families: Sequence[dict[str, Any]],
               members: Sequence[dict[str, Any]], kk_lama: Sequence[dict[str, Any]]) -> int:
    """Apply a page's net effect; returns the number of statements.

    Deletes: members and former KK numbers of every family ``replaced`` (replaced or dropped), members
    whose NIK a family claimed, former KK numbers a family claimed, the family rows ``rewritten``. Then
    inserts the final rows. Every inserted key was deleted first, so no insert meets an existing key.
    """
    statements = _delete_in(session, ReplicaAnggotaRow.no_kk, replaced)
    statements += _delete_in(session, ReplicaAnggotaRow.nik, claimed_niks)
    statements += _delete_in(session, ReplicaKkLamaRow.no_kk, replaced)
    statements += _delete_in(session, ReplicaKkLamaRow.old_kk, claimed_old_kks)
    statements += _delete_in(session, ReplicaKeluargaRow.no_kk, rewritten)
    for table, rows in ((ReplicaKeluargaRow, families), (ReplicaAnggotaRow, members), (ReplicaKkLamaRow, kk_lama)):
        if rows:
            _insert_many(session, table.__table__, rows)  # type: ignore[attr-defined]
            statements += 1
    return statements


def _insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany of plain tuples: the statement compiled once, each column's bind processor (dates on
    SQLite) applied column by column, the rows handed to the driver as they are. SQLAlchemy's own
    executemany builds every row's parameters through the compiled statement (~10 us a row), and the ORM's
    bulk insert splits a batch wherever the pattern of NULLs changes."""
    conn = session.connection()
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    positional = compiled.positiontup is not None
    names = list(compiled.positiontup if positional else compiled.binds)  # type: ignore[arg-type]
    columns = []
    for name in names:
        values = [row[name] for row in rows]
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(values if processor is None else [None if v is None else processor(v) for v in values])
    params: list[Any] = (list(zip(*columns, strict=True)) if positional
                         else [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)])
    conn.exec_driver_sql(compiled.string, params)


# ---- reads --------------------------------------------------------------------------------------------

def family(session: Session, no_kk: str) -> ReplicaKeluargaRow | None:
    return session.get(ReplicaKeluargaRow, no_kk)


def families(session: Session) -> Iterable[tuple[str, str, int, str | None, str | None, str | None]]:
    return session.execute(select(  # type: ignore[return-value]
        ReplicaKeluargaRow.no_kk, ReplicaKeluargaRow.kode_wilayah, ReplicaKeluargaRow.version,
        ReplicaKeluargaRow.pkh_status, ReplicaKeluargaRow.pkh_periode, ReplicaKeluargaRow.no_kks)).all()


def members(session: Session) -> Iterable[tuple[str, str, str, str, object, str, str]]:
    return session.execute(select(
        ReplicaAnggotaRow.nik, ReplicaAnggotaRow.no_kk, ReplicaAnggotaRow.nama, ReplicaAnggotaRow.jenis_kelamin,
        ReplicaAnggotaRow.tanggal_lahir, ReplicaAnggotaRow.nama_ibu_kandung, ReplicaAnggotaRow.hubungan_keluarga,
    )).all()  # type: ignore[return-value]


def kk_lama(session: Session) -> Iterable[tuple[str, str]]:
    return session.execute(select(ReplicaKkLamaRow.old_kk, ReplicaKkLamaRow.no_kk)).all()  # type: ignore[return-value]


def members_of(session: Session, no_kks: list[str]) -> list[ReplicaAnggotaRow]:
    if not no_kks:
        return []
    return list(session.scalars(select(ReplicaAnggotaRow).where(ReplicaAnggotaRow.no_kk.in_(no_kks))))


def person(session: Session, nik: str) -> ReplicaAnggotaRow | None:
    return session.get(ReplicaAnggotaRow, nik)


def kk_lama_of(session: Session, no_kk: str) -> list[ReplicaKkLamaRow]:
    return list(session.scalars(select(ReplicaKkLamaRow).where(ReplicaKkLamaRow.no_kk == no_kk)))
