"""All SQL of the access log."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.sync_hub.audit.models import AccessLogRow, AccessSubjectRow

_LOCK_KEY = 7_204_113  # pg_advisory_xact_lock key of the access log's head (one appender at a time)


def lock_head(session: Session) -> None:
    """Serialise appends until the transaction ends (SQLite: the hub's transactions begin IMMEDIATE already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def head(session: Session) -> AccessLogRow | None:
    return session.exec(select(AccessLogRow).order_by(col(AccessLogRow.seq).desc()).limit(1)).first()


def add(session: Session, row: AccessLogRow, subjects: list[tuple[str, str]]) -> None:
    session.add(row)
    session.flush()
    session.add_all(AccessSubjectRow(seq=row.seq, kind=kind, value=value) for kind, value in subjects)
    session.flush()


def for_subject(session: Session, kind: str, value: str) -> list[AccessLogRow]:
    seqs = select(AccessSubjectRow.seq).where(AccessSubjectRow.kind == kind, AccessSubjectRow.value == value)
    return list(session.exec(select(AccessLogRow).where(col(AccessLogRow.seq).in_(seqs))
                             .order_by(col(AccessLogRow.seq))))


def in_order(session: Session, batch: int = 1000) -> Iterator[AccessLogRow]:
    after = 0
    while True:
        rows = list(session.exec(select(AccessLogRow).where(AccessLogRow.seq > after)
                                 .order_by(col(AccessLogRow.seq)).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq
