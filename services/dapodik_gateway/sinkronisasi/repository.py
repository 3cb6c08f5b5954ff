"""All SQL of sync bookkeeping: the change counter, the hub's read positions per school, the sync log, and
the tables of the sync screen (local changes waiting, incoming changes of a run)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.dapodik_gateway import db, paging
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.results.models import FieldProvenanceRow, ValueHistoryRow
from services.dapodik_gateway.sekolah.models import SekolahRow
from services.dapodik_gateway.sinkronisasi.models import ChangeCounterRow, SyncPositionRow, TableSyncLogRow

PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
PROV: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
HIST: sa.Table = ValueHistoryRow.__table__  # type: ignore[assignment]
COUNTER: sa.Table = ChangeCounterRow.__table__  # type: ignore[assignment]
POSITION: sa.Table = SyncPositionRow.__table__  # type: ignore[assignment]
LOG: sa.Table = TableSyncLogRow.__table__  # type: ignore[assignment]
SEKOLAH: sa.Table = SekolahRow.__table__  # type: ignore[assignment]
COUNTER_NAME = "peserta_didik"
INVALID = 2


def lock_change_counter(conn: Connection) -> None:
    """Take the change counter's row without moving it (``SELECT ... FOR UPDATE``; on SQLite the write
    transaction holds the whole database already): the first lock of every transaction that changes records."""
    stmt = sa.select(COUNTER.c.value).where(COUNTER.c.name == COUNTER_NAME).with_for_update()
    if conn.execute(stmt).scalar_one_or_none() is None:  # a database created by metadata rather than the migrations
        conn.execute(sa.insert(COUNTER).values(name=COUNTER_NAME, value=0))


def next_change_seq(conn: Connection) -> int:
    """The next change sequence number; the counter row stays locked until the caller's transaction ends,
    so numbers become visible in the order they were taken (commit order)."""
    stmt = (sa.update(COUNTER).where(COUNTER.c.name == COUNTER_NAME).values(value=COUNTER.c.value + 1)
            .returning(COUNTER.c.value))
    value = conn.execute(stmt).scalar_one_or_none()
    if value is None:  # a database created by metadata rather than the migrations
        conn.execute(sa.insert(COUNTER).values(name=COUNTER_NAME, value=1))
        value = 1
    return int(value)


# -- what the hub has read ---------------------------------------------------------------------------------

def positions(session: Session, sekolah_ids: Sequence[str]) -> dict[str, sa.RowMapping]:
    if not sekolah_ids:
        return {}
    stmt = sa.select(POSITION).where(POSITION.c.sekolah_id.in_(sekolah_ids))
    return {r["sekolah_id"]: r for r in session.execute(stmt).mappings().all()}


def raise_positions(session: Session, rows: list[dict[str, Any]]) -> None:
    """Each school's read position set to the row's, unless it is already there or further: one upsert per
    school (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), so two readers at once neither collide on a new
    school's row nor move a position back; schools in id order, the order their rows are locked in. One
    execution for all of them (SQLAlchemy's ``insertmanyvalues``: multi-row statements, rows kept in order), not
    one round trip per school: a feed page in change order names hundreds of schools."""
    conn = session.connection()
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(POSITION)
    new = insert.excluded
    stmt = insert.on_conflict_do_update(
        index_elements=[POSITION.c.sekolah_id],
        set_={"change_seq": new.change_seq, "peserta_didik_id": new.peserta_didik_id,
              "delivered_at": new.delivered_at, "client": new.client},
        where=sa.tuple_(POSITION.c.change_seq, POSITION.c.peserta_didik_id)
        < sa.tuple_(new.change_seq, new.peserta_didik_id))
    if rows:
        conn.execute(stmt, sorted(rows, key=lambda r: r["sekolah_id"]))


def raise_positions_upto(session: Session, upto: paging.SeqCursor, client: str, at: datetime) -> int:
    """Every school's read position raised to its last record in the feed (validated, not deleted) at or before
    ``upto`` in (change_seq, id) order, in one statement; a position never moves back. Returns how many moved.

    PostgreSQL finds each school's last record by one backward probe of ``ix_peserta_didik_sekolah_change_seq_id``
    per school (a ``LATERAL ... LIMIT 1`` over ``sekolah``): the work follows the number of schools, not of records
    (nationally ~448,000 schools against ~53 M records, which a window over the feed would sort whole). SQLite, the
    embedded default's size, ranks the records by school with a window."""
    conn = session.connection()
    last = _last_per_school(conn.dialect.name, upto)
    rows = (sa.select(last.c.sekolah_id, last.c.change_seq, last.c.peserta_didik_id,
                      sa.literal(at, POSITION.c.delivered_at.type), sa.literal(client, POSITION.c.client.type))
            .order_by(last.c.sekolah_id))  # the order school rows are locked in
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(POSITION)
    new = insert.excluded
    stmt = insert.from_select(["sekolah_id", "change_seq", "peserta_didik_id", "delivered_at", "client"], rows
                              ).on_conflict_do_update(
        index_elements=[POSITION.c.sekolah_id],
        set_={"change_seq": new.change_seq, "peserta_didik_id": new.peserta_didik_id,
              "delivered_at": new.delivered_at, "client": new.client},
        where=sa.tuple_(POSITION.c.change_seq, POSITION.c.peserta_didik_id)
        < sa.tuple_(new.change_seq, new.peserta_didik_id)).returning(POSITION.c.sekolah_id)
    return len(conn.execute(stmt).all())


def _last_per_school(dialect: str, upto: paging.SeqCursor) -> sa.Subquery:
    """(sekolah_id, change_seq, peserta_didik_id) of each school's last record in the feed at or before ``upto``;
    schools with none are absent."""
    in_feed = [PD.c.soft_delete.is_(False), PD.c.status_validasi.is_not(None),
               sa.tuple_(PD.c.change_seq, PD.c.peserta_didik_id)
               <= sa.tuple_(sa.literal(upto.seq, PD.c.change_seq.type),
                            sa.literal(upto.key, PD.c.peserta_didik_id.type))]
    if dialect == "postgresql":
        probe = (sa.select(PD.c.change_seq, PD.c.peserta_didik_id)
                 .where(PD.c.sekolah_id == SEKOLAH.c.sekolah_id, *in_feed)
                 .order_by(PD.c.change_seq.desc(), PD.c.peserta_didik_id.desc()).limit(1)
                 .lateral("last_record"))
        return (sa.select(SEKOLAH.c.sekolah_id, probe.c.change_seq, probe.c.peserta_didik_id)
                .select_from(SEKOLAH.join(probe, sa.true())).subquery())
    ranked = (sa.select(PD.c.sekolah_id, PD.c.change_seq, PD.c.peserta_didik_id,
                        sa.func.row_number().over(partition_by=PD.c.sekolah_id,
                                                  order_by=(PD.c.change_seq.desc(), PD.c.peserta_didik_id.desc())
                                                  ).label("nth"))
              .where(*in_feed).subquery())
    return (sa.select(ranked.c.sekolah_id, ranked.c.change_seq, ranked.c.peserta_didik_id)
            .where(ranked.c.nth == 1).subquery())


def _after_position(position: sa.RowMapping | None) -> sa.ColumnElement[bool]:
    if position is None:
        return sa.true()
    return sa.or_(PD.c.change_seq > position["change_seq"],
                  sa.and_(PD.c.change_seq == position["change_seq"],
                          PD.c.peserta_didik_id > position["peserta_didik_id"]))


def _waiting(sekolah_id: str, position: sa.RowMapping | None) -> list[sa.ColumnElement[bool]]:
    return [PD.c.sekolah_id == sekolah_id, PD.c.soft_delete.is_(False), PD.c.status_validasi.is_not(None),
            _after_position(position)]


def count_waiting(session: Session, sekolah_id: str, position: sa.RowMapping | None) -> int:
    stmt = sa.select(sa.func.count()).select_from(PD).where(*_waiting(sekolah_id, position))
    return int(session.execute(stmt).scalar_one())


def waiting(session: Session, sekolah_id: str, position: sa.RowMapping | None, cursor: paging.SeqCursor | None,
            limit: int) -> list[sa.RowMapping]:
    """The school's records in the hub's feed (validated, held back or not) the hub has not read since they last
    changed, in feed order."""
    stmt = sa.select(PD.c.peserta_didik_id, PD.c.nipd, PD.c.nama, PD.c.status_validasi, PD.c.create_date,
                     PD.c.last_update, PD.c.change_seq).where(*_waiting(sekolah_id, position))
    stmt = paging.after_seq(stmt, PD.c.change_seq, PD.c.peserta_didik_id, cursor, limit)
    return list(session.execute(stmt).mappings().all())


def count_held_back(session: Session, sekolah_id: str) -> int:
    stmt = sa.select(sa.func.count()).select_from(PD).where(
        PD.c.sekolah_id == sekolah_id, PD.c.soft_delete.is_(False),
        sa.or_(PD.c.status_validasi >= INVALID, PD.c.status_validasi.is_(None)))
    return int(session.execute(stmt).scalar_one())


# -- what the hub wrote ------------------------------------------------------------------------------------

def insert_log(session: Session, rows: list[dict[str, Any]]) -> None:
    """A batch's rows (one per school it touched: hundreds in a first sync's batch): COPY on PostgreSQL."""
    db.bulk_insert(session, LOG, rows)


def last_run_id(session: Session, sekolah_id: str) -> str | None:
    stmt = (sa.select(LOG.c.sync_run_id).where(LOG.c.sekolah_id == sekolah_id)
            .order_by(LOG.c.end_sync.desc(), LOG.c.id.desc()).limit(1))
    return session.execute(stmt).scalar_one_or_none()


def run_summary(session: Session, sekolah_id: str, sync_run_id: str) -> sa.RowMapping:
    stmt = sa.select(
        sa.func.min(LOG.c.begin_sync).label("begin_sync"), sa.func.max(LOG.c.end_sync).label("end_sync"),
        sa.func.count().label("batches"), sa.func.sum(LOG.c.n_create).label("n_create"),
        sa.func.sum(LOG.c.n_update).label("n_update"), sa.func.sum(LOG.c.n_konflik).label("n_konflik"),
        sa.func.sum(LOG.c.n_unchanged).label("n_unchanged"), sa.func.sum(LOG.c.n_rejected).label("n_rejected"),
    ).where(LOG.c.sekolah_id == sekolah_id, LOG.c.sync_run_id == sync_run_id)
    return session.execute(stmt).mappings().one()


def incoming(session: Session, sekolah_id: str, sync_run_id: str, cursor: paging.SeqCursor | None, limit: int
             ) -> list[sa.RowMapping]:
    """The values run ``sync_run_id`` wrote to the school's students, in write order: each with the value it
    replaced (none when it only attested the value the record held) and whether the hub had written the
    field before (update) or not (create)."""
    earlier = sa.alias(PROV, "earlier")
    had_value = (sa.select(earlier.c.id).where(earlier.c.peserta_didik_id == PROV.c.peserta_didik_id,
                                               earlier.c.field == PROV.c.field, earlier.c.id < PROV.c.id)
                 .exists().label("had_value"))
    stmt = (sa.select(PROV.c.id, PROV.c.peserta_didik_id, PD.c.nipd, PD.c.nama, PROV.c.field, PROV.c.value,
                      HIST.c.old_value, HIST.c.id.label("history_id"), had_value, PROV.c.provenance_id,
                      PROV.c.source_system, PROV.c.source_record, PROV.c.written_at)
            .select_from(PROV.join(PD, PD.c.peserta_didik_id == PROV.c.peserta_didik_id)
                         .outerjoin(HIST, HIST.c.field_provenance_id == PROV.c.id))
            .where(PD.c.sekolah_id == sekolah_id, PROV.c.sync_run_id == sync_run_id))
    if cursor is not None:
        stmt = stmt.where(PROV.c.id > cursor.seq)
    return list(session.execute(stmt.order_by(PROV.c.id).limit(limit + 1)).mappings().all())


def last_results_at(session: Session, sekolah_id: str) -> datetime | None:
    stmt = sa.select(sa.func.max(LOG.c.end_sync)).where(LOG.c.sekolah_id == sekolah_id)
    return session.execute(stmt).scalar_one_or_none()
