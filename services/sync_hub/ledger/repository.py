"""All SQL of the ledger."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.ledger.models import (
    LedgerCheckpointRow,
    LedgerEntryRow,
    LedgerHeadRow,
    LedgerVerificationRow,
)
from services.sync_hub.provenance.models import ProvenanceRow
from shared import bulk

HEAD: sa.Table = LedgerHeadRow.__table__  # type: ignore[assignment]
ENTRY: sa.Table = LedgerEntryRow.__table__  # type: ignore[assignment]
CHECKPOINT: sa.Table = LedgerCheckpointRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = ProvenanceRow.__table__  # type: ignore[assignment]
# the access log's chain (audit/), read only: its head is anchored in the ledger at each checkpoint
ACCESS_LOG = sa.table("access_log", sa.column("seq", sa.BigInteger), sa.column("hash", sa.String))
VERIFICATION: sa.Table = LedgerVerificationRow.__table__  # type: ignore[assignment]
VERIFICATION_COLUMNS = ("id", "provenance_id", "sync_run_id", "nik_anak", "periode", "version", "observed_at",
                        "facts_hash", "payload_hash", "status", "detail", "answered_at")

# the columns of a provenance row the ledger record is made of, in this order
RECORD_COLUMNS = ("provenance_id", "sync_run_id", "target_system", "target_record", "field", "value_json",
                  "source_system", "source_record", "source_version", "observed_seq", "retrieved_at", "matched_by")


class Head(NamedTuple):
    seq: int
    chain_hash: str
    checkpoint_seq: int
    checkpoint_hash: str | None


def _driver(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """One statement straight through the driver (``%s`` placeholders; ``?`` on SQLite), its rows if any: the
    ledger's few statements per append, without SQLAlchemy's statement processing."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        sql = sql.replace("%s", "?")
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, tuple(params))
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def lock_head(session: Session) -> Head:
    """Take the ledger's one lock and read the head, in one statement: a no-op UPDATE of the head row (RETURNING
    it) holds its row lock until commit on PostgreSQL and the database's write lock on SQLite, so appends from any
    process queue here. The session's pending objects are flushed first, as a statement through it would."""
    session.flush()
    rows = _driver(session, f"UPDATE {HEAD.name} SET seq = seq WHERE id = 1 "
                            "RETURNING seq, chain_hash, checkpoint_seq, checkpoint_hash")
    if len(rows) != 1:
        raise sa.exc.NoResultFound("the ledger has no head row")
    return Head(*rows[0])


HEAD_COLUMNS = "seq, chain_hash, checkpoint_seq, checkpoint_hash"


def lock_head_after(names: Sequence[str]) -> str:
    """PostgreSQL: ``lock_head``'s statement as the main statement after the data-modifying CTEs ``names`` (each
    with a ``RETURNING``), so the writes before an append and the head's lock are one round trip. The lock is taken
    only once those writes are done, as when they are statements of their own before it (the head row is locked
    when the UPDATE has found it, and its condition reads every CTE to the end first; a CTE nobody reads would run
    only after the main statement), so the locks a transaction takes keep their order: its rows, then the head.
    The statement returns the head as ``lock_head`` does (``Head(*row)``)."""
    done = " + ".join(f"(SELECT count(*) FROM {n})" for n in names) or "0"
    return f"UPDATE {HEAD.name} SET seq = seq WHERE id = 1 AND {done} >= 0 RETURNING {HEAD_COLUMNS}"


def head(session: Session) -> sa.Row[Any]:
    return session.execute(sa.select(HEAD.c.seq, HEAD.c.chain_hash, HEAD.c.checkpoint_seq, HEAD.c.checkpoint_hash)
                           .where(HEAD.c.id == 1)).one()


ENTRY_COLUMNS = ("seq", "kind", "record_id", "record_hash", "chain_hash", "appended_at")


def add_entries(session: Session, rows: Sequence[tuple[Any, ...]], seq: int, chain_hash: str) -> None:
    """``rows``: tuples in ``ENTRY_COLUMNS`` order, written straight through the driver (``copy_rows``). On
    PostgreSQL, up to ``FEW_ROWS`` entries (a check's): the entries and the head's update in ONE statement (the
    insert a data-modifying CTE), one round trip instead of two."""
    conn = session.connection()
    if conn.dialect.name == "postgresql" and 0 < len(rows) <= FEW_ROWS:
        with conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(f"WITH e AS ({_json_insert(ENTRY.name, ENTRY_COLUMNS)}) "
                        f"UPDATE {HEAD.name} SET seq = %s, chain_hash = %s WHERE id = 1",
                        (json_rows(ENTRY_COLUMNS, rows), seq, chain_hash))
        return
    copy_rows(session, ENTRY, ENTRY_COLUMNS, rows)
    _driver(session, f"UPDATE {HEAD.name} SET seq = %s, chain_hash = %s WHERE id = 1", (seq, chain_hash))


def sqlite_value(value: object) -> object:
    """What SQLAlchemy's SQLite ``DateTime`` stores for a time (UTC wall time as fixed-width text)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


@functools.cache
def _json_insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, %s::json)"


def json_rows(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """Rows as one JSON array of objects for ``json_populate_recordset`` (times and dates as ISO text, with their
    offset: the column's type reads them back exactly)."""
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], ensure_ascii=False,
                      default=_json_time)


def json_dicts(rows: Sequence[Mapping[str, Any]]) -> str:
    """``json_rows`` of rows that are already dicts of column values (keys beyond a table's columns are ignored by
    ``json_populate_recordset``): one ``json.dumps``, no tuple and dict made again per row."""
    return json.dumps(rows, ensure_ascii=False, default=_json_time)


def _json_time(value: object) -> str:
    if isinstance(value, date):  # a time (a ``datetime`` is a ``date``) or a date
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value copy_rows writes")


FEW_ROWS = 64  # up to this many rows, ``copy_rows`` writes one multi-row INSERT on PostgreSQL instead of a COPY


def copy_rows(session: Session, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert many rows without SQLAlchemy's per-row parameter processing: ``COPY ... FROM STDIN`` on PostgreSQL
    (up to ``FEW_ROWS`` rows one multi-row ``INSERT``), one ``executemany`` of plain tuples on SQLite (times written
    as SQLAlchemy writes them). Columns must be plain (strings, integers, times), which the ledger's are."""
    if not rows:
        return
    conn = session.connection()
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and len(rows) <= FEW_ROWS:
        # a few rows (a check's): one INSERT, one round trip (COPY's handshake takes two), the rows bound as ONE
        # JSON parameter (one ``json.dumps``; times as ISO text with their offset, read back exactly by the
        # column's type): a multi-row ``VALUES`` with a placeholder per value is a new statement text per row
        # count, which psycopg parses in Python every time (it caches only statements of <= 50 parameters:
        # ~0.25 ms for 8 provenance rows, ~2.5 ms for 64)
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(_json_insert(table.name, tuple(columns)), (json_rows(columns, rows),))
        return
    if conn.dialect.name == "postgresql":  # the rows' text written a column at a time (``shared.bulk.copy_columns``)
        bulk.copy_columns(raw, f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", list(zip(*rows, strict=True)))
        return
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        times = [i for i, v in enumerate(rows[0]) if isinstance(v, datetime)]
        if times:
            texts: dict[object, object] = {}
            converted = []
            for row in rows:
                out = list(row)
                for i in times:
                    v = out[i]
                    t = texts.get(v)
                    if t is None:
                        t = texts[v] = sqlite_value(v)
                    out[i] = t
                converted.append(tuple(out))
            rows = converted
        cur.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})", rows)
    finally:
        cur.close()


def record_hashes(session: Session, first: int, last: int) -> list[str]:
    return list(session.execute(sa.select(ENTRY.c.record_hash).where(ENTRY.c.seq.between(first, last))
                                .order_by(ENTRY.c.seq)).scalars())


def add_checkpoint(session: Session, row: dict[str, object], checkpoint_hash: str) -> None:
    session.connection().execute(CHECKPOINT.insert(), [row])
    session.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(checkpoint_seq=row["last_seq"],
                                                                   checkpoint_hash=checkpoint_hash))


def checkpoints(session: Session) -> list[LedgerCheckpointRow]:
    return list(session.execute(sa.select(LedgerCheckpointRow).order_by(
        LedgerCheckpointRow.last_seq)).scalars())  # type: ignore[arg-type]


def checkpoint_covering(session: Session, seq: int) -> LedgerCheckpointRow | None:
    return session.execute(sa.select(LedgerCheckpointRow).where(
        LedgerCheckpointRow.first_seq <= seq, LedgerCheckpointRow.last_seq >= seq)).scalars().first()  # type: ignore[arg-type]


def provenance_row(session: Session, provenance_id: str, field: str) -> sa.Row[Any] | None:
    stmt = (sa.select(PROVENANCE.c.id, *(PROVENANCE.c[c] for c in RECORD_COLUMNS))
            .where(PROVENANCE.c.provenance_id == provenance_id, PROVENANCE.c.field == field)
            .order_by(PROVENANCE.c.written_at))
    return session.execute(stmt).first()


def entry_for(session: Session, record_id: str) -> sa.Row[Any] | None:
    return session.execute(sa.select(ENTRY.c.seq, ENTRY.c.record_hash, ENTRY.c.kind).where(
        ENTRY.c.record_id == record_id).order_by(ENTRY.c.seq)).first()


def entries_for(session: Session, record_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for start in range(0, len(record_ids), 1000):
        part = list(record_ids[start:start + 1000])
        for rid, seq, rh in session.execute(sa.select(ENTRY.c.record_id, ENTRY.c.seq, ENTRY.c.record_hash).where(
                ENTRY.c.record_id.in_(part))):
            out.setdefault(rid, (seq, rh))
    return out


# the indexed expression, written as the index is (constants, not bound parameters, so both databases use it)
HASH_PREFIX = sa.func.substr(ENTRY.c.record_hash, sa.literal_column("1"), sa.literal_column("16"))


def seqs_of_hashes(session: Session, hashes: Sequence[str]) -> dict[str, int]:
    hashes = [h.lower() for h in hashes]
    stmt = sa.select(ENTRY.c.record_hash, sa.func.min(ENTRY.c.seq)).where(
        HASH_PREFIX.in_(sorted({h[:16] for h in hashes})), ENTRY.c.record_hash.in_(hashes)).group_by(
        ENTRY.c.record_hash)
    return {h: int(s) for h, s in session.execute(stmt)}


# SQLite reads the verification's join (a random index probe per entry) through a memory map, as large as its build
# allows: the pages are read without a system call and a copy each (the setting is the connection's, put back after)
SQLITE_VERIFY_MMAP = 1 << 34


# the record columns whose values repeat from row to row (a run, the systems, a field name, the match key): read as
# one JSON array (one text per row for the driver to turn into a Python object, not five; JSON is exact for text)
REPEATED_COLUMNS = ("sync_run_id", "target_system", "field", "source_system", "matched_by")
OTHER_COLUMNS = ("provenance_id", "target_record", "value_json", "source_record", "source_version", "observed_seq",
                 "retrieved_at")


def stream_entries(session: Session, batch: int = 50_000, *, lo: int = 1, hi: int | None = None
                   ) -> Iterator[list[tuple[Any, ...]]]:
    """Every entry in seq order with the provenance row it names (None columns when the row is gone, or when the
    entry is of another kind), as plain driver tuples: ``seq, record_id, record_hash, chain_hash``, the JSON array
    text of the entry's ``kind`` and the row's ``REPEATED_COLUMNS``, then the row's ``OTHER_COLUMNS``
    (``retrieved_at`` as the driver returns it: text on SQLite, a time on PostgreSQL), for the seqs ``lo..hi``. A
    server-side cursor on PostgreSQL; batches of ``batch`` rows."""
    conn = session.connection()
    array = "json_build_array({})::text" if conn.dialect.name == "postgresql" else "json_array({})"
    repeated = array.format(", ".join(["e.kind", *(f"p.{c}" for c in REPEATED_COLUMNS)]))
    cols = ", ".join(f"p.{c}" for c in OTHER_COLUMNS)
    sql = (f"SELECT e.seq, e.record_id, e.record_hash, e.chain_hash, {repeated}, {cols} "
           "FROM ledger_entry e LEFT JOIN provenance p ON p.id = e.record_id "
           f"WHERE e.seq >= {int(lo)}{'' if hi is None else f' AND e.seq <= {int(hi)}'} ORDER BY e.seq")
    raw = conn.connection.driver_connection
    mmap = None
    if conn.dialect.name == "postgresql":
        # every row is read: plan for the whole result (a hash join, ~20 % less server time at 1M entries) rather
        # than the first rows, which is what a cursor's plan favours by default (nested loop over the index)
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
        cur = raw.cursor(name="ledger_verify")  # type: ignore[union-attr]
        cur.itersize = batch
    else:
        cur = raw.cursor()  # type: ignore[union-attr]
        mmap = cur.execute("PRAGMA mmap_size").fetchone()[0]
        cur.execute(f"PRAGMA mmap_size = {SQLITE_VERIFY_MMAP}")
    try:
        cur.execute(sql)
        while part := cur.fetchmany(batch):
            yield part
    finally:
        if mmap is not None:
            cur.execute(f"PRAGMA mmap_size = {int(mmap)}")
        cur.close()


def verification_rows(session: Session, ids: Sequence[str]) -> dict[str, sa.Row[Any]]:
    out: dict[str, sa.Row[Any]] = {}
    for start in range(0, len(ids), 1000):
        stmt = sa.select(*(VERIFICATION.c[c] for c in VERIFICATION_COLUMNS)).where(
            VERIFICATION.c.id.in_(list(ids[start:start + 1000])))
        out.update({r.id: r for r in session.execute(stmt)})
    return out


def add_verifications(session: Session, rows: list[dict[str, object]]) -> None:
    bulk.insert(session, VERIFICATION, rows)  # COPY on PostgreSQL


def unledgered(session: Session, table: sa.Table | None = None) -> tuple[int, str | None]:
    """Rows of ``table`` (provenance, or ledgered verifications) no ledger entry names: how many, and one."""
    table = PROVENANCE if table is None else table
    missing = sa.select(table.c.id).where(~sa.exists().where(ENTRY.c.record_id == table.c.id))
    count = session.execute(sa.select(sa.func.count()).select_from(missing.subquery())).scalar_one()
    order = (PROVENANCE.c.written_at, PROVENANCE.c.id) if table is PROVENANCE else (table.c.answered_at, table.c.id)
    first = session.execute(missing.order_by(*order).limit(1)).scalar() if count else None
    return int(count), first


def access_log_head(session: Session) -> tuple[int, str] | None:
    row = session.execute(sa.select(ACCESS_LOG.c.seq, ACCESS_LOG.c.hash).order_by(ACCESS_LOG.c.seq.desc())
                          .limit(1)).first()
    return (int(row[0]), str(row[1])) if row else None


def access_log_hashes(session: Session, seqs: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(seqs), 1000):
        out.update({int(s): str(h) for s, h in session.execute(sa.select(ACCESS_LOG.c.seq, ACCESS_LOG.c.hash).where(
            ACCESS_LOG.c.seq.in_(list(seqs[start:start + 1000]))))})
    return out


def last_anchored_access_seq(session: Session) -> int:
    rid = session.execute(sa.select(ENTRY.c.record_id).where(ENTRY.c.kind == "access_log_head")
                          .order_by(ENTRY.c.seq.desc()).limit(1)).scalar()
    return int(rid) if rid is not None else 0


def chain_hash_before(session: Session, seq: int) -> str:
    """The stored chain hash of the last entry before ``seq`` (zeros: none)."""
    value = session.execute(sa.select(ENTRY.c.chain_hash).where(ENTRY.c.seq < seq).order_by(ENTRY.c.seq.desc())
                            .limit(1)).scalar()
    return str(value) if value is not None else "0" * 64


def max_seq(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.coalesce(sa.func.max(ENTRY.c.seq), 0))).scalar_one())
