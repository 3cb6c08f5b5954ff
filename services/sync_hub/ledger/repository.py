"""All SQL of the ledger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.ledger.models import LedgerCheckpointRow, LedgerEntryRow, LedgerHeadRow
from services.sync_hub.provenance.models import ProvenanceRow

HEAD: sa.Table = LedgerHeadRow.__table__  # type: ignore[assignment]
ENTRY: sa.Table = LedgerEntryRow.__table__  # type: ignore[assignment]
CHECKPOINT: sa.Table = LedgerCheckpointRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = ProvenanceRow.__table__  # type: ignore[assignment]

# the columns of a provenance row the ledger record is made of, in this order
RECORD_COLUMNS = ("provenance_id", "sync_run_id", "target_system", "target_record", "field", "value_json",
                  "source_system", "source_record", "source_version", "observed_seq", "retrieved_at", "matched_by")


def lock_head(session: Session) -> sa.Row[Any]:
    """Take the ledger's one lock and read the head: a no-op UPDATE of the head row holds its row lock until commit
    on PostgreSQL and the database's write lock on SQLite, so appends from any process queue here."""
    session.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=HEAD.c.seq))
    return session.execute(sa.select(HEAD.c.seq, HEAD.c.chain_hash, HEAD.c.checkpoint_seq, HEAD.c.checkpoint_hash)
                           .where(HEAD.c.id == 1)).one()


def head(session: Session) -> sa.Row[Any]:
    return session.execute(sa.select(HEAD.c.seq, HEAD.c.chain_hash, HEAD.c.checkpoint_seq, HEAD.c.checkpoint_hash)
                           .where(HEAD.c.id == 1)).one()


def add_entries(session: Session, rows: list[dict[str, object]], seq: int, chain_hash: str) -> None:
    session.connection().execute(ENTRY.insert(), rows)
    session.execute(sa.update(HEAD).where(HEAD.c.id == 1).values(seq=seq, chain_hash=chain_hash))


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
    return session.execute(sa.select(ENTRY.c.seq, ENTRY.c.record_hash).where(
        ENTRY.c.record_id == record_id).order_by(ENTRY.c.seq)).first()


def entries_for(session: Session, record_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for start in range(0, len(record_ids), 1000):
        part = list(record_ids[start:start + 1000])
        for rid, seq, rh in session.execute(sa.select(ENTRY.c.record_id, ENTRY.c.seq, ENTRY.c.record_hash).where(
                ENTRY.c.record_id.in_(part))):
            out.setdefault(rid, (seq, rh))
    return out


def seqs_of_hashes(session: Session, hashes: Sequence[str]) -> dict[str, int]:
    stmt = sa.select(ENTRY.c.record_hash, sa.func.min(ENTRY.c.seq)).where(
        ENTRY.c.record_hash.in_(list(hashes))).group_by(ENTRY.c.record_hash)
    return {h: int(s) for h, s in session.execute(stmt)}


def stream_entries(session: Session, batch: int = 20_000) -> Iterator[Sequence[sa.Row[Any]]]:
    """Every entry in seq order with the provenance row it names (None columns when the row is gone)."""
    stmt = (sa.select(ENTRY.c.seq, ENTRY.c.kind, ENTRY.c.record_id, ENTRY.c.record_hash, ENTRY.c.chain_hash,
                      *(PROVENANCE.c[c] for c in RECORD_COLUMNS), PROVENANCE.c.id)
            .select_from(ENTRY.outerjoin(PROVENANCE, PROVENANCE.c.id == ENTRY.c.record_id))
            .order_by(ENTRY.c.seq))
    result = session.connection().execution_options(stream_results=True, yield_per=batch).execute(stmt)
    yield from result.partitions(batch)


def unledgered(session: Session) -> tuple[int, str | None]:
    """Provenance rows no ledger entry names: how many, and one of them."""
    missing = sa.select(PROVENANCE.c.id).where(~sa.exists().where(ENTRY.c.record_id == PROVENANCE.c.id))
    count = session.execute(sa.select(sa.func.count()).select_from(missing.subquery())).scalar_one()
    first = session.execute(missing.order_by(PROVENANCE.c.written_at, PROVENANCE.c.id).limit(1)).scalar() \
        if count else None
    return int(count), first
