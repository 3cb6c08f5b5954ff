"""All SQL of the replica.

Writing a page of the change feed is set-wise (``write_page``): a fixed number of statements per page
whatever its size — deletes by key in chunks, then one executemany per table — instead of several ORM
statements per family.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    Table,
    bindparam,
    delete,
    select,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session

from services.sync_hub.matching.fallback import initials
from services.sync_hub.replica.models import (
    MATCHING_INDEXES,
    ReplicaAnggotaRow,
    ReplicaKeluargaRow,
    ReplicaKipRow,
    ReplicaKkLamaRow,
    ReplicaLoadRangeRow,
    ReplicaLoadRow,
    ReplicaPkhParkedRow,
    ReplicaStateRow,
)
from services.sync_hub.replica.sample import sample_key
from shared import bulk
from shared.db import Growing, one_of

# Bound parameters per IN list: well under SQLite's 32,766 and PostgreSQL's 65,535.
CHUNK = 5_000

# the statistics of the key columns the replica is read and deleted by, kept in step while a first sync fills it
GROWING = {name: Growing(name, columns) for name, columns in (
    ("replica_keluarga", ("no_kk", "kode_wilayah")),
    ("replica_anggota", ("nik", "no_kk", "kab", "nama_norm", "ibu_norm", "inisial", "tanggal_lahir")),
    ("replica_kk_lama", ("old_kk", "no_kk")),
    ("replica_touch", ("no_kk", "seq")),
    ("replica_kip", ("no_kip", "nik", "kode_wilayah")))}

FAMILY_COLUMNS = ("no_kk", "kode_wilayah", "no_kks", "version", "pkh_status", "pkh_periode", "pkh_tahun",
                  "pkh_tahap")


def _chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def store_kip(session: Session, cards: Mapping[str, Any], at: datetime) -> list[Any]:
    """Store the KIP issuances of ``cards`` (no_kip -> ``KipIssuance``, one page of the listing) whose version the
    replica does not hold, stamped ``stored_at``; returns those (a card new or changed). One read, one delete, one
    insert per page, the keys bound as one parameter each."""
    table = ReplicaKipRow.__table__  # type: ignore[attr-defined]
    where, bind = one_of(session, table.c.no_kip, "keys")
    held = {r[0]: r[1] for r in session.execute(select(table.c.no_kip, table.c.version).where(where),
                                                {"keys": bind(sorted(cards))})}
    changed = [c for k, c in cards.items() if held.get(k) != c.version]
    gone = sorted(c.no_kip for c in changed if c.no_kip in held)
    if gone:
        session.execute(table.delete().where(where), {"keys": bind(gone)})
    if changed:
        bulk.insert(session, table, [{"no_kip": c.no_kip, "kode_wilayah": c.kode_wilayah, "nik": c.nik,
                                      "version": c.version, "payload": c.model_dump_json(), "stored_at": at}
                                     for c in changed])  # COPY on PostgreSQL
        GROWING[table.name].added(session, len(changed))
    return changed


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
    where, bind = one_of(session, ReplicaKeluargaRow.no_kk, "keys")  # type: ignore[arg-type]
    stmt = select(*cols).where(where)
    for chunk in _chunks(no_kks):
        for row in session.execute(stmt, {"keys": bind(chunk)}):
            out[row[0]] = dict(zip(FAMILY_COLUMNS, row, strict=True))
    return out


def _delete_in(session: Session, column: InstrumentedAttribute[str], values: Collection[str]) -> int:
    statements = 0
    table = column.class_.__table__
    where, bind = one_of(session, table.c[column.key], "keys")
    stmt = delete(table).where(where)
    for chunk in _chunks(values):
        session.execute(stmt, {"keys": bind(chunk)})
        statements += 1
    return statements


def write_page(session: Session, *, replaced: Collection[str], claimed_niks: Collection[str],
               claimed_old_kks: Collection[str], rewritten: Collection[str], families: dict[str, list[Any]],
               members: dict[str, list[Any]], kk_lama: dict[str, list[Any]]) -> int:
    """Apply a page's net effect; returns the number of statements.

    Deletes: members and former KK numbers of every family ``replaced`` (replaced or dropped), members
    whose NIK a family claimed, former KK numbers a family claimed, the family rows ``rewritten``. Then
    inserts the final rows (given column by column). Every inserted key was deleted first, so no insert
    meets an existing key. Each member is written with its family's kabupaten (``kab``, the first 4 digits of
    the family's kode_wilayah): every member written belongs to a family written in the same page; with the
    initials of its normalised name (``inisial``) and the hash of its NIK the registry's sample is drawn by
    (``sample_key``).
    """
    if members and "kab" not in members and members.get("nik"):
        region = dict(zip(families.get("no_kk", []), families.get("kode_wilayah", []), strict=True))
        members = {**members, "kab": [(region.get(k) or "")[:4] or None for k in members["no_kk"]]}
    if members and "inisial" not in members and "nama_norm" in members:
        members = {**members, "inisial": [initials(n or "") for n in members["nama_norm"]]}
    if members and "sample_key" not in members and members.get("nik"):
        members = {**members, "sample_key": [sample_key(nik) for nik in members["nik"]]}
    statements = _delete_in(session, ReplicaAnggotaRow.nik, claimed_niks)
    statements += _delete_in(session, ReplicaAnggotaRow.no_kk, replaced)
    statements += _delete_in(session, ReplicaKkLamaRow.no_kk, replaced)
    statements += _delete_in(session, ReplicaKkLamaRow.old_kk, claimed_old_kks)
    statements += _delete_in(session, ReplicaKeluargaRow.no_kk, rewritten)
    for table, columns in ((ReplicaKeluargaRow, families), (ReplicaAnggotaRow, members), (ReplicaKkLamaRow, kk_lama)):
        if columns and next(iter(columns.values())):
            _insert_many(session, table.__table__, columns)  # type: ignore[attr-defined]
            GROWING[table.__tablename__].added(session, len(next(iter(columns.values()))))
            statements += 1
    return statements


def _insert_many(session: Session, table: Table, columns: dict[str, list[Any]]) -> None:
    """One ``COPY ... FROM STDIN`` (PostgreSQL) or one executemany of plain tuples: the statement written once
    for the driver's parameter style, each column's bind processor (dates on SQLite) applied once per distinct
    value, the rows handed to the driver as they are. SQLAlchemy's own executemany builds every row's
    parameters through the compiled statement, and the ORM's bulk insert splits a batch wherever the pattern of
    NULLs changes."""
    conn = session.connection()
    dialect = conn.dialect
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{}"}[dialect.paramstyle]
    names = list(columns)
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
           f"({', '.join(marker.format(i + 1) for i in range(len(names)))})")
    converted = []
    for name, values in columns.items():
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            seen: dict[Any, Any] = {}
            values = [v if v is None else seen[v] if v in seen else seen.setdefault(v, processor(v)) for v in values]
        converted.append(values)
    if dialect.name == "postgresql":  # COPY: no statement per row to bind and run
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(statement) as copy:  # type: ignore[union-attr]
                for row in zip(*converted, strict=True):
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:  # raised as SQLAlchemy raises it for its own statements
            raise sa.exc.DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error) from exc
        return
    conn.exec_driver_sql(sql, list(zip(*converted, strict=True)))


# ---- reads --------------------------------------------------------------------------------------------

def family(session: Session, no_kk: str) -> ReplicaKeluargaRow | None:
    return session.get(ReplicaKeluargaRow, no_kk)


def drop_matching_indexes(session: Session) -> None:
    """``replica_anggota``'s matching and sample indexes dropped (a first load in ranges builds them at its end)."""
    conn = session.connection()
    for index in MATCHING_INDEXES:
        index.drop(conn, checkfirst=True)


def build_matching_indexes(session: Session) -> list[str]:
    """``replica_anggota``'s matching and sample indexes built where missing (after a first load in ranges, or a reset
    during one); the names of those built."""
    conn = session.connection()
    there = {i["name"] for i in sa.inspect(conn).get_indexes(ReplicaAnggotaRow.__tablename__)}
    built = []
    for index in MATCHING_INDEXES:
        if index.name not in there:
            index.create(conn)
            built.append(str(index.name))
    return built


def reset(session: Session, names_version: str) -> None:
    """Empty the replica and its cursor (the next refresh reads the feed from the start), and forget any ranged
    load of it. A ranged load's page being applied finishes first (it holds its load's row: ``ranged.work_range``),
    and any page after it finds the load gone: no row normalised under the old rules survives."""
    session.execute(select(ReplicaLoadRow.id).with_for_update())  # type: ignore[call-overload]
    for table in (ReplicaAnggotaRow, ReplicaKkLamaRow, ReplicaKeluargaRow, ReplicaPkhParkedRow, ReplicaLoadRangeRow,
                  ReplicaLoadRow):
        session.execute(delete(table.__table__))  # type: ignore[attr-defined]
    build_matching_indexes(session)  # a load forgotten mid-way had dropped them
    row = state(session)
    row.cursor, row.observed_seq, row.synced_at, row.names_version = None, 0, None, names_version
    row.floor_version = None


def loading(session: Session) -> bool:
    """Whether a ranged first load of the replica is being read (``replica.ranged``)."""
    return session.execute(select(ReplicaLoadRow.id).where(ReplicaLoadRow.finished_at.is_(None)).limit(1)  # type: ignore[union-attr]
                           ).first() is not None


def _columns(session: Session, sql: str) -> list[tuple[Any, ...]]:
    """Every row of ``sql`` as the driver gives it, column by column (no Row objects, no type processing:
    dates come back as ISO text on SQLite and as ``date`` on PostgreSQL)."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
        width = len(cursor.description or ())  # read before closing (psycopg forgets it)
    finally:
        cursor.close()
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def _columns_of(session: Session, sql: str, width: int, column: str, no_kks: Collection[str] | None
                ) -> list[tuple[Any, ...]]:
    """``_columns`` of ``sql`` (``width`` columns) — of every row, or of the rows whose ``column`` is one of
    ``no_kks`` (the keys bound as one array / JSON parameter per chunk)."""
    if no_kks is None:
        return _columns(session, sql)
    postgres = session.get_bind().dialect.name == "postgresql"
    # the keys as one JSON text (one json.dumps; psycopg adapts a list value by value in Python)
    where = (f" WHERE {column} = ANY(ARRAY(SELECT json_array_elements_text(%s::json)))" if postgres
             else f" WHERE {column} IN (SELECT value FROM json_each(?))")
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(no_kks):
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(sql + where, (json.dumps(chunk),))
            rows += cursor.fetchall()
        finally:
            cursor.close()
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def state_seq(session: Session) -> tuple[int, bool] | None:
    """The replica's registry sequence and whether it has been read whole (``synced_at`` set), through the driver
    (what every check reads first); None: no state row yet."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute("SELECT observed_seq, synced_at IS NOT NULL FROM replica_state WHERE id = 1")
        row = cursor.fetchone()
    finally:
        cursor.close()
    return (int(row[0]), bool(row[1])) if row is not None else None


def family_columns(session: Session, no_kks: Collection[str] | None = None) -> list[tuple[Any, ...]]:
    """no_kk, kode_wilayah, version, pkh_status, pkh_periode, no_kks of every family (or of ``no_kks``)."""
    return _columns_of(session, "SELECT no_kk, kode_wilayah, version, pkh_status, pkh_periode, no_kks "
                                "FROM replica_keluarga", 6, "no_kk", no_kks)


def person_columns(session: Session, no_kks: Collection[str] | None = None) -> list[tuple[Any, ...]]:
    """nik, no_kk, nama (normal form), jenis_kelamin, tanggal_lahir, nama_ibu_kandung (normal form),
    hubungan_keluarga of every member (or of the members of ``no_kks``), in no particular order."""
    return _columns_of(session, "SELECT nik, no_kk, nama_norm, jenis_kelamin, tanggal_lahir, ibu_norm, "
                                "hubungan_keluarga FROM replica_anggota", 7, "no_kk", no_kks)


def kk_lama_columns(session: Session, no_kks: Collection[str] | None = None) -> list[tuple[Any, ...]]:
    return _columns_of(session, "SELECT old_kk, no_kk FROM replica_kk_lama", 2, "no_kk", no_kks)


def members_of(session: Session, no_kks: list[str]) -> list[ReplicaAnggotaRow]:
    if not no_kks:
        return []
    return list(session.scalars(select(ReplicaAnggotaRow).where(ReplicaAnggotaRow.no_kk.in_(no_kks))))


def person(session: Session, nik: str) -> ReplicaAnggotaRow | None:
    return session.get(ReplicaAnggotaRow, nik)


def kk_lama_of(session: Session, no_kk: str) -> list[ReplicaKkLamaRow]:
    return list(session.scalars(select(ReplicaKkLamaRow).where(ReplicaKkLamaRow.no_kk == no_kk)))


def touch(session: Session, no_kks: Collection[str], seq: int) -> None:
    """Record that these families were written, replaced or dropped at registry sequence ``seq``."""
    from services.sync_hub.replica.models import ReplicaTouchRow

    table = ReplicaTouchRow.__table__  # type: ignore[attr-defined]
    keys = sorted(set(no_kks))
    if not keys:
        return
    # one delete, the keys bound as one JSON parameter (``one_of``: no limit on bound parameters), then one COPY
    # (PostgreSQL) / executemany of the rows
    where, bind = one_of(session, table.c.no_kk, "keys")
    session.execute(table.delete().where(where), {"keys": bind(keys)})
    _insert_many(session, table, {"no_kk": keys, "seq": [seq] * len(keys)})
    GROWING[table.name].added(session, len(keys))


def touched_since(session: Session, seq: int) -> list[str]:
    from services.sync_hub.replica.models import ReplicaTouchRow

    table = ReplicaTouchRow.__table__  # type: ignore[attr-defined]
    return [r[0] for r in session.execute(select(table.c.no_kk).where(table.c.seq > seq))]


def family_keys(session: Session, no_kks: Collection[str]) -> tuple[set[str], set[str], set[str]]:
    """For these families as the replica holds them: their members' NIKs, their former KK numbers, and their
    regions (kode_wilayah)."""
    niks: set[str] = set()
    old: set[str] = set()
    regions: set[str] = set()
    for chunk in _chunks(no_kks):
        niks.update(r[0] for r in session.execute(select(ReplicaAnggotaRow.nik).where(
            ReplicaAnggotaRow.no_kk.in_(chunk))))  # type: ignore[attr-defined]
        old.update(r[0] for r in session.execute(select(ReplicaKkLamaRow.old_kk).where(
            ReplicaKkLamaRow.no_kk.in_(chunk))))  # type: ignore[attr-defined]
        regions.update(r[0] for r in session.execute(select(ReplicaKeluargaRow.kode_wilayah).where(
            ReplicaKeluargaRow.no_kk.in_(chunk))))  # type: ignore[attr-defined]
    return niks, old, regions


# ---- slices (``replica.slice``): the rows a matcher can touch for some students, read through indexes ----

_PERSON = ("nik", "no_kk", "nama_norm", "jenis_kelamin", "tanggal_lahir", "ibu_norm", "hubungan_keluarga")
PAIR_CHUNK = 2_000  # (text, date) pairs per statement: two parameters each


def _anggota() -> Table:
    return ReplicaAnggotaRow.__table__  # type: ignore[attr-defined,no-any-return]


def _rows(session: Session, stmt: Any, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.connection().execute(stmt, params or {})]  # Core rows: no ORM layer


def person_rows_by_nik(session: Session, niks: Collection[str]) -> list[tuple[Any, ...]]:
    """The members (``_PERSON`` columns) whose NIK is one of ``niks``."""
    t = _anggota()
    out: list[tuple[Any, ...]] = []
    for chunk in _chunks(niks):
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(t.c.nik.in_(chunk)))
    return out


def person_rows_of_families(session: Session, no_kks: Collection[str]) -> list[tuple[Any, ...]]:
    """Every member of the families ``no_kks``."""
    t = _anggota()
    out: list[tuple[Any, ...]] = []
    for chunk in _chunks(no_kks):
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(t.c.no_kk.in_(chunk)))
    return out


def person_rows_in_blocks(session: Session, blocks: Collection[tuple[str, int]]) -> list[tuple[Any, ...]]:
    """Every member whose family's kabupaten and birth year are one of ``blocks`` ((kab, year)): one index
    range (kab, tanggal_lahir) per block."""
    t = _anggota()
    stmt = select(*(t.c[c] for c in _PERSON)).where(
        t.c.kab == bindparam("kab"), t.c.tanggal_lahir >= bindparam("lo", type_=t.c.tanggal_lahir.type),
        t.c.tanggal_lahir < bindparam("hi", type_=t.c.tanggal_lahir.type))
    out: list[tuple[Any, ...]] = []
    for kab, year in sorted(blocks):
        if 1 <= year < 9999:
            out += _rows(session, stmt, {"kab": kab, "lo": date(year, 1, 1), "hi": date(year + 1, 1, 1)})
    return out


def person_rows_by_name_and_birth(session: Session, column: str, pairs: Collection[tuple[str, date]]
                                  ) -> list[tuple[Any, ...]]:
    """Every member whose ``column`` (``nama_norm`` or ``ibu_norm``) and birth date are one of ``pairs``."""
    t = _anggota()
    ordered = sorted(set(pairs))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(ordered), PAIR_CHUNK):
        chunk = ordered[start : start + PAIR_CHUNK]
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(
            tuple_(t.c[column], t.c.tanggal_lahir).in_(chunk)))
    return out


def person_rows_by_name_in_kab(session: Session, pairs: Collection[tuple[str, str]], column: str = "nama_norm"
                               ) -> list[tuple[Any, ...]]:
    """Every member whose (``column``: ``nama_norm`` or ``ibu_norm``, family's kabupaten) is one of ``pairs`` (the
    index on (``column``, tanggal_lahir) finds the name)."""
    t = _anggota()
    ordered = sorted(set(pairs))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(ordered), PAIR_CHUNK):
        chunk = ordered[start : start + PAIR_CHUNK]
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(tuple_(t.c[column], t.c.kab).in_(chunk)))
    return out


def person_rows_by_initials_and_birth(session: Session, pairs: Collection[tuple[str, date]]
                                      ) -> list[tuple[Any, ...]]:
    """Every member whose initials and birth date are one of ``pairs`` (index (inisial, tanggal_lahir))."""
    t = _anggota()
    ordered = sorted(set(pairs))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(ordered), PAIR_CHUNK):
        chunk = ordered[start : start + PAIR_CHUNK]
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(
            tuple_(t.c.inisial, t.c.tanggal_lahir).in_(chunk)))
    return out


def person_rows_by_initials_in_kab(session: Session, pairs: Collection[tuple[str, str]]) -> list[tuple[Any, ...]]:
    """Every member whose (family's kabupaten, initials) is one of ``pairs`` (index (kab, inisial))."""
    t = _anggota()
    ordered = sorted(set(pairs))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(ordered), PAIR_CHUNK):
        chunk = ordered[start : start + PAIR_CHUNK]
        out += _rows(session, select(*(t.c[c] for c in _PERSON)).where(tuple_(t.c.kab, t.c.inisial).in_(chunk)))
    return out


def family_ids_by_kk(session: Session, kks: Collection[str]) -> set[str]:
    """The families a KK number names: its own (current number) or the one that held it before."""
    fam: Table = ReplicaKeluargaRow.__table__  # type: ignore[attr-defined]
    lama: Table = ReplicaKkLamaRow.__table__  # type: ignore[attr-defined]
    out: set[str] = set()
    for chunk in _chunks(kks):
        out.update(session.execute(select(fam.c.no_kk).where(fam.c.no_kk.in_(chunk))).scalars())
        out.update(session.execute(select(lama.c.no_kk).where(lama.c.old_kk.in_(chunk))).scalars())
    return out


def family_ids_by_keys(session: Session, niks: Collection[str], kks: Collection[str]) -> set[str]:
    """The families of the members ``niks`` names and those the KK numbers ``kks`` name (current number or one
    held before): one statement, keys bound as one array / JSON parameter each, through the driver (what a
    check reads first: a few keys; the statement building of the ORM cost more than the query)."""
    if not niks and not kks:
        return set()
    postgres = session.get_bind().dialect.name == "postgresql"
    # the keys as JSON text (one json.dumps; psycopg adapts a list value by value in Python)
    keys = ("= ANY(ARRAY(SELECT json_array_elements_text(%(niks)s::json)))",
            "= ANY(ARRAY(SELECT json_array_elements_text(%(kks)s::json)))")
    if not postgres:
        keys = "IN (SELECT value FROM json_each(?))", "IN (SELECT value FROM json_each(?))"
    sql = (f"SELECT no_kk FROM replica_anggota WHERE nik {keys[0]} "
           f"UNION SELECT no_kk FROM replica_keluarga WHERE no_kk {keys[1]} "
           f"UNION SELECT no_kk FROM replica_kk_lama WHERE old_kk {keys[1]}")
    params: Any = ({"niks": json.dumps(sorted(niks)), "kks": json.dumps(sorted(kks))} if postgres
                   else (json.dumps(sorted(niks)), json.dumps(sorted(kks)), json.dumps(sorted(kks))))
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return {str(row[0]) for row in cursor.fetchall()}
    finally:
        cursor.close()


def person_rows_of(session: Session, no_kks: Collection[str]) -> list[tuple[Any, ...]]:
    """:func:`person_rows_of_families` through the driver (``_PERSON`` columns, the birth date as a ``date``)."""
    columns = person_columns(session, no_kks)
    if columns[4] and isinstance(columns[4][0], str):
        columns[4] = tuple(date.fromisoformat(d) if d is not None else None for d in columns[4])
    return list(zip(*columns, strict=True))


# ---- a unit's slice (``replica.slice.registry_for``): one statement per kind of key, the keys bound as arrays ----

# how a person meets a key of each kind (``k.c0``, ``k.c1``, ``k.c2``: the key's parts): the same conditions as
# person_rows_in_blocks, person_rows_by_name_and_birth, person_rows_by_name_in_kab, person_rows_by_initials_*
PERSON_MEETS = {
    "block": ("a.kab = k.c0 AND a.tanggal_lahir >= k.c1 AND a.tanggal_lahir < k.c2", ("text", "date", "date")),
    "nama_birth": ("a.nama_norm = k.c0 AND a.tanggal_lahir = k.c1", ("text", "date")),
    "ibu_birth": ("a.ibu_norm = k.c0 AND a.tanggal_lahir = k.c1", ("text", "date")),
    "nama_kab": ("a.nama_norm = k.c0 AND a.kab = k.c1", ("text", "text")),
    "ibu_kab": ("a.ibu_norm = k.c0 AND a.kab = k.c1", ("text", "text")),
    "initials_birth": ("a.inisial = k.c0 AND a.tanggal_lahir = k.c1", ("text", "date")),
    "kab_initials": ("a.kab = k.c0 AND a.inisial = k.c1", ("text", "text")),
}
KEY_CHUNK = 20_000  # keys per statement (one JSON parameter: no limit on bound parameters)


def person_columns_meeting(session: Session, kind: str, keys: Collection[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``person_columns`` of every member meeting one of ``keys`` of ``kind`` (``PERSON_MEETS``), in no particular
    order, a member once per key it meets: one statement per ``KEY_CHUNK`` keys, through the driver, the keys
    bound as one JSON parameter (an array of arrays: ``json_array_elements`` on PostgreSQL, ``json_each`` on
    SQLite; one ``json.dumps``, no adapter per value), each key an index lookup (the indexes the
    ``person_rows_*`` readers use; on PostgreSQL ``_person_seek``, one seek per key whatever the plan)."""
    on, types = PERSON_MEETS[kind]
    ordered = sorted({key for key in keys if None not in key})  # a null part meets nobody
    postgres = session.get_bind().dialect.name == "postgresql"
    cols = ", ".join(f"a.{c}" for c in _PERSON)
    if postgres:
        sql = _person_seek(kind)
    else:
        parts = ", ".join(f"json_extract(value, '$[{i}]') AS c{i}" for i in range(len(types)))
        sql = (f"WITH k AS (SELECT {parts} FROM json_each(?)) "
               f"SELECT {cols} FROM k CROSS JOIN replica_anggota a ON {on}")
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ordered), KEY_CHUNK):
        chunk = ordered[start : start + KEY_CHUNK]
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(sql, (json.dumps([[v.isoformat() if isinstance(v, date) else v for v in key]
                                             for key in chunk]),))
            rows += cursor.fetchall()
        finally:
            cursor.close()
    return list(zip(*rows, strict=True)) if rows else [() for _ in _PERSON]


@functools.cache
def _person_seek(kind: str) -> str:
    """PostgreSQL: the members meeting each key of the JSON array bound once (``%s``) by ``kind``, as one index seek
    per key (``shared.db.each_key``'s form: a ``LATERAL`` subquery run once per key, ``OFFSET 0`` so the planner
    cannot flatten it into a join). Planned as a join instead, a prepared statement's generic plan (psycopg prepares
    a statement from its fifth use) estimates the JSON array at 100 keys and reads a ``block`` kind (kabupaten +
    year of birth) by a hash join over the whole table, in parallel workers: 15-25 ms of the server's CPU per check
    on a 5,000-family registry, against 0.3 ms seeking each key (docs/benchmarks.md, session 13); for a unit of a
    run, a read of the whole national table per unit."""
    on, types = PERSON_MEETS[kind]
    for i, t in enumerate(types):
        on = on.replace(f"k.c{i}", f"(v ->> {i})::{t}")
    cols = ", ".join(f"a.{c}" for c in _PERSON)
    return (f"SELECT s.* FROM json_array_elements(%s::json) AS v CROSS JOIN LATERAL "
            f"(SELECT {cols} FROM replica_anggota a WHERE {on} OFFSET 0) AS s")


def person_rows_meeting(session: Session, keys: Mapping[str, Collection[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """The members (``_PERSON`` rows, the birth date as a ``date``) meeting one of ``keys[kind]`` of any kind
    (``PERSON_MEETS``), a member once per key it meets, in no particular order: what ``person_columns_meeting``
    reads kind by kind, in ONE statement (one ``UNION ALL`` branch per kind with keys, each its own JSON
    parameter): a check's widened slice is a handful of keys of several kinds, where a round trip per kind cost
    more than the lookups. More than ``KEY_CHUNK`` keys: kind by kind, ``person_columns_meeting``."""
    wanted = {kind: sorted({key for key in ks if None not in key}) for kind, ks in keys.items()}  # a null meets nobody
    wanted = {kind: ks for kind, ks in wanted.items() if ks}
    if not wanted:
        return []
    if sum(map(len, wanted.values())) > KEY_CHUNK:
        columns = [person_columns_meeting(session, kind, ks) for kind, ks in wanted.items()]
        rows = [row for c in columns for row in zip(*c, strict=True)]
    else:
        postgres = session.get_bind().dialect.name == "postgresql"
        cols = ", ".join(f"a.{c}" for c in _PERSON)
        branches = []
        for kind in wanted:
            on, types = PERSON_MEETS[kind]
            if postgres:
                branches.append(_person_seek(kind))
            else:
                parts = ", ".join(f"json_extract(value, '$[{i}]') AS c{i}" for i in range(len(types)))
                branches.append(f"SELECT {cols} FROM (SELECT {parts} FROM json_each(?)) AS k "
                                f"CROSS JOIN replica_anggota a ON {on}")
        params = tuple(json.dumps([[v.isoformat() if isinstance(v, date) else v for v in key] for key in ks])
                       for ks in wanted.values())
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(" UNION ALL ".join(branches), params)
            rows = [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()
    # SQLite's driver: the birth date as stored (ISO text)
    return [(*r[:4], date.fromisoformat(r[4]), *r[5:]) if isinstance(r[4], str) else r for r in rows]


# ---- a check's slice (``replica.slice.keys_for``) on PostgreSQL: the persons and their families in one statement ----

_WITH_FAMILIES = (
    "WITH p AS MATERIALIZED ({persons}), "
    # the families of those persons and of the KK numbers bound (``extra``), as one array (an index seek each)
    "k AS MATERIALIZED (SELECT ARRAY(SELECT no_kk FROM p UNION SELECT json_array_elements_text(%s::json)) AS a) "
    "SELECT 0, nik, no_kk, nama_norm, jenis_kelamin, ibu_norm, hubungan_keluarga, tanggal_lahir, NULL::bigint "
    "FROM p UNION ALL "
    "SELECT 1, no_kk, kode_wilayah, pkh_status, pkh_periode, no_kks, NULL, NULL, version FROM replica_keluarga "
    "WHERE no_kk = ANY((SELECT a FROM k)::text[]) UNION ALL "
    "SELECT 2, old_kk, no_kk, NULL, NULL, NULL, NULL, NULL, NULL FROM replica_kk_lama "
    "WHERE no_kk = ANY((SELECT a FROM k)::text[])")
_BY_KEYS = ("SELECT nik, no_kk, nama_norm, jenis_kelamin, tanggal_lahir, ibu_norm, hubungan_keluarga "
            "FROM replica_anggota WHERE no_kk = ANY(ARRAY("
            "SELECT no_kk FROM replica_anggota WHERE nik = ANY(ARRAY(SELECT json_array_elements_text(%s::json))) "
            "UNION SELECT no_kk FROM replica_keluarga "
            "WHERE no_kk = ANY(ARRAY(SELECT json_array_elements_text(%s::json))) "
            "UNION SELECT no_kk FROM replica_kk_lama "
            "WHERE old_kk = ANY(ARRAY(SELECT json_array_elements_text(%s::json)))))")

Slice = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]  # persons, families, kk_lama


def _persons_with_families(session: Session, persons: str, params: tuple[Any, ...], extra: Collection[str]) -> Slice:
    """PostgreSQL: the members the statement ``persons`` reads (``_PERSON`` columns, in no particular order), the
    families (``family_columns``) and former numbers (``kk_lama_columns``) of their KK numbers and of ``extra``,
    in ONE statement (one round trip and one statement's driver work instead of three)."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(_WITH_FAMILIES.format(persons=persons), (*params, json.dumps(sorted(extra))))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    people, families, lama = [], [], []
    for r in rows:
        if r[0] == 0:
            people.append((r[1], r[2], r[3], r[4], r[7], r[5], r[6]))
        elif r[0] == 1:
            families.append((r[1], r[2], r[8], r[3], r[4], r[5]))
        else:
            lama.append((r[1], r[2]))
    return people, families, lama


def slice_by_keys(session: Session, niks: Collection[str], kks: Collection[str]) -> Slice | None:
    """PostgreSQL: ``person_rows_of(family_ids_by_keys(niks, kks))`` with ``family_columns`` and ``kk_lama_columns``
    of the persons' KK numbers, in one statement; None on another database (read them one by one)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    if not niks and not kks:
        return [], [], []
    return _persons_with_families(session, _BY_KEYS, (json.dumps(sorted(niks)), json.dumps(sorted(kks)),
                                                      json.dumps(sorted(kks))), ())


def slice_meeting(session: Session, keys: Mapping[str, Collection[tuple[Any, ...]]], no_kks: Collection[str]
                  ) -> Slice | None:
    """PostgreSQL: ``person_rows_meeting(keys)`` with ``family_columns`` and ``kk_lama_columns`` of their KK numbers
    and of ``no_kks``, in one statement; None on another database or beyond ``KEY_CHUNK`` keys (read them one by
    one)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    wanted = {kind: sorted({key for key in ks if None not in key}) for kind, ks in keys.items()}  # a null meets nobody
    wanted = {kind: ks for kind, ks in wanted.items() if ks}
    if sum(map(len, wanted.values())) > KEY_CHUNK:
        return None
    persons = (" UNION ALL ".join(_person_seek(kind) for kind in wanted) if wanted
               else f"SELECT {', '.join(_PERSON)} FROM replica_anggota WHERE false")
    params = tuple(json.dumps([[v.isoformat() if isinstance(v, date) else v for v in key] for key in ks])
                   for ks in wanted.values())
    return _persons_with_families(session, persons, params, no_kks)
