"""All SQL of the sync log: counts per (madrasah, run), and the changes a run applied to a madrasah."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from services.emis_gateway.results.models import FieldHistoryRow, FieldProvenanceRow
from services.emis_gateway.sinkron.models import SyncBatchRow, SyncLogRow
from services.emis_gateway.siswa.models import SiswaRow
from shared.bulk import executemany

LOG: sa.Table = SyncLogRow.__table__  # type: ignore[assignment]
BATCH: sa.Table = SyncBatchRow.__table__  # type: ignore[assignment]
HISTORY: sa.Table = FieldHistoryRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]
COUNTERS = ("items", "applied", "unchanged", "stale", "rejected", "values_written")


def first_time(session: Session, sync_run_id: str, digest: str, now: datetime) -> bool:
    """Whether this batch (by digest) is new in its run; a new one is remembered."""
    seen = session.execute(sa.select(BATCH.c.digest).where(BATCH.c.sync_run_id == sync_run_id,
                                                           BATCH.c.digest == digest)).first()
    if seen is not None:
        return False
    session.execute(sa.insert(BATCH).values(sync_run_id=sync_run_id, digest=digest, received_at=now))
    return True


def add_counts(session: Session, sync_run_id: str, counts: Mapping[str, Mapping[str, int]], now: datetime) -> None:
    """Add a batch's counts (nsm -> counter -> n) to the run's rows: one upsert (``INSERT ... ON CONFLICT DO
    UPDATE``), in NSM order. Two batches of one check may be applied at once (the presses a gateway sent to the
    hub together, ``shared.batching``): the second waits for the first's row and adds to it."""
    if not counts:
        return
    conn = session.connection()
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(LOG)
    stmt = insert.on_conflict_do_update(
        index_elements=[LOG.c.nsm, LOG.c.sync_run_id],
        set_={"last_at": insert.excluded.last_at, **{c: LOG.c[c] + insert.excluded[c] for c in COUNTERS}})
    executemany(session, stmt, [
        {"nsm": nsm, "sync_run_id": sync_run_id, "first_at": now, "last_at": now,
         **{c: counts[nsm].get(c, 0) for c in COUNTERS}} for nsm in sorted(counts)])


def runs(session: Session, nsm: str, limit: int) -> list[SyncLogRow]:
    """The madrasah's most recent runs, newest first."""
    stmt = (sa.select(SyncLogRow).where(LOG.c.nsm == nsm)
            .order_by(LOG.c.last_at.desc(), LOG.c.sync_run_id.desc()).limit(limit))
    return list(session.execute(stmt).scalars())


def latest(session: Session, nsms: Sequence[str]) -> dict[str, SyncLogRow]:
    """The newest run of each madrasah among ``nsms`` (one statement)."""
    if not nsms:
        return {}
    newest = (sa.select(LOG.c.nsm, sa.func.max(LOG.c.last_at).label("at")).where(LOG.c.nsm.in_(list(nsms)))
              .group_by(LOG.c.nsm).subquery())
    stmt = (sa.select(SyncLogRow).join(newest, sa.and_(LOG.c.nsm == newest.c.nsm, LOG.c.last_at == newest.c.at))
            .order_by(LOG.c.nsm, LOG.c.sync_run_id))
    out: dict[str, SyncLogRow] = {}
    for row in session.execute(stmt).scalars():
        out[row.nsm] = row  # two runs ending at the same instant: the greater id
    return out


def get(session: Session, nsm: str, sync_run_id: str) -> SyncLogRow | None:
    return session.get(SyncLogRow, (nsm, sync_run_id))


@dataclass(frozen=True, slots=True)
class ChangeRow:
    id: int
    siswa_id: str
    nama: str
    field: str
    old_value: str
    new_value: str
    changed_at: datetime


def changes(session: Session, nsm: str, sync_run_id: str, after: int, limit: int) -> list[ChangeRow]:
    """The values the run changed on the madrasah's students, in the order they were written."""
    stmt = (sa.select(HISTORY.c.id, HISTORY.c.siswa_id, SISWA.c.nama, HISTORY.c.field, HISTORY.c.old_value,
                      HISTORY.c.new_value, HISTORY.c.changed_at)
            .join(PROVENANCE, PROVENANCE.c.id == HISTORY.c.provenance_id)
            .join(SISWA, SISWA.c.siswa_id == HISTORY.c.siswa_id)
            .where(PROVENANCE.c.sync_run_id == sync_run_id, SISWA.c.nsm == nsm, HISTORY.c.id > after)
            .order_by(HISTORY.c.id).limit(limit + 1))
    return [ChangeRow(*row) for row in session.execute(stmt)]


def changes_per_field(session: Session, nsm: str, sync_run_id: str) -> dict[str, int]:
    stmt = (sa.select(HISTORY.c.field, sa.func.count())
            .join(PROVENANCE, PROVENANCE.c.id == HISTORY.c.provenance_id)
            .join(SISWA, SISWA.c.siswa_id == HISTORY.c.siswa_id)
            .where(PROVENANCE.c.sync_run_id == sync_run_id, SISWA.c.nsm == nsm)
            .group_by(HISTORY.c.field))
    return {name: int(n) for name, n in session.execute(stmt)}
