"""All SQL of SK batches: the SK rows and the unmatched issuances."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from services.dapodik_gateway import db, paging
from services.dapodik_gateway.kip.models import KipTidakCocokRow, SkKipRow
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.results.models import FieldProvenanceRow

SK: sa.Table = SkKipRow.__table__  # type: ignore[assignment]
UNMATCHED: sa.Table = KipTidakCocokRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
PESERTA_DIDIK: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]


def sk(conn: Connection, nomor_sk: str) -> sa.RowMapping | None:
    return conn.execute(sa.select(SK).where(SK.c.nomor_sk == nomor_sk).with_for_update()).mappings().first()


def latest_sk_dates(conn: Connection, peserta_didik_ids: Sequence[str], fields: Sequence[str]) -> dict[str, date]:
    """peserta_didik_id -> the date of the newest SK that wrote any of ``fields`` of the student (its
    provenance rows name the SK as run ``sk:<nomor_sk>``); students no SK wrote to are absent."""
    out: dict[str, date] = {}
    ids = list(peserta_didik_ids)
    for i in range(0, len(ids), 1000):
        stmt = (sa.select(PROVENANCE.c.peserta_didik_id, sa.func.max(SK.c.tanggal_sk))
                .join(SK, PROVENANCE.c.sync_run_id == sa.literal("sk:") + SK.c.nomor_sk)
                .where(PROVENANCE.c.peserta_didik_id.in_(ids[i:i + 1000]), PROVENANCE.c.field.in_(fields))
                .group_by(PROVENANCE.c.peserta_didik_id))
        out.update({pid: day for pid, day in conn.execute(stmt).all()})
    return out


def cards_of_sk(conn: Connection, nomor_sk: str, peserta_didik_ids: Sequence[str]) -> dict[str, str]:
    """peserta_didik_id -> the KIP number the SK gave the student before: the number it wrote (its provenance,
    run ``sk:<nomor_sk>``), else the one of its unmatched issuance."""
    out: dict[str, str] = {}
    ids = sorted(set(peserta_didik_ids))
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        unmatched = (sa.select(UNMATCHED.c.peserta_didik_id, UNMATCHED.c.no_kip)
                     .where(UNMATCHED.c.nomor_sk == nomor_sk, UNMATCHED.c.peserta_didik_id.in_(chunk))
                     .order_by(UNMATCHED.c.id))
        out.update({pid: card for pid, card in conn.execute(unmatched).all()})
        written = (sa.select(PROVENANCE.c.peserta_didik_id, PROVENANCE.c.value)
                   .where(PROVENANCE.c.sync_run_id == f"sk:{nomor_sk}", PROVENANCE.c.field == "no_kip",
                          PROVENANCE.c.peserta_didik_id.in_(chunk))
                   .order_by(PROVENANCE.c.id))
        for pid, value in conn.execute(written).all():
            card = json.loads(value)
            if isinstance(card, str):
                out[pid] = card
    return out


def holders_of_cards(conn: Connection, cards: Sequence[str]) -> dict[str, list[str]]:
    """KIP number -> the active students holding it (``no_kip``), in id order."""
    out: dict[str, list[str]] = {}
    wanted = sorted(set(cards))
    for i in range(0, len(wanted), 1000):
        stmt = (sa.select(PESERTA_DIDIK.c.no_kip, PESERTA_DIDIK.c.peserta_didik_id)
                .where(PESERTA_DIDIK.c.no_kip.in_(wanted[i:i + 1000]), PESERTA_DIDIK.c.soft_delete.is_(False))
                .order_by(PESERTA_DIDIK.c.peserta_didik_id))
        for card, pid in conn.execute(stmt).all():
            out.setdefault(card, []).append(pid)
    return out


def save_sk(conn: Connection, row: dict[str, Any], exists: bool) -> None:
    if exists:
        conn.execute(sa.update(SK).where(SK.c.nomor_sk == row["nomor_sk"]).values(
            last_received_at=row["last_received_at"], n_items=row["n_items"], n_applied=row["n_applied"],
            n_unmatched=row["n_unmatched"]))
    else:
        conn.execute(sa.insert(SK).values(**row))


def known_unmatched(conn: Connection, nomor_sk: str) -> set[str]:
    stmt = sa.select(UNMATCHED.c.peserta_didik_id).where(UNMATCHED.c.nomor_sk == nomor_sk)
    return set(conn.execute(stmt).scalars().all())


def add_unmatched(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.executemany(conn, sa.insert(UNMATCHED), rows)


def resolve(conn: Connection, peserta_didik_ids: Sequence[str], at: datetime) -> None:
    """Open unmatched issuances of students an SK has now applied to are resolved."""
    for i in range(0, len(peserta_didik_ids), 1000):
        conn.execute(sa.update(UNMATCHED).where(UNMATCHED.c.peserta_didik_id.in_(peserta_didik_ids[i:i + 1000]),
                                                UNMATCHED.c.resolved_at.is_(None)).values(resolved_at=at))


def unmatched_of_sk(conn: Connection, nomor_sk: str) -> list[sa.RowMapping]:
    stmt = (sa.select(UNMATCHED, SK.c.tanggal_sk).join(SK, SK.c.nomor_sk == UNMATCHED.c.nomor_sk)
            .where(UNMATCHED.c.nomor_sk == nomor_sk).order_by(UNMATCHED.c.id))
    return list(conn.execute(stmt).mappings().all())


def unmatched(session: Session, npsn: str | None, nomor_sk: str | None, include_resolved: bool,
              cursor: paging.SeqCursor | None, limit: int) -> list[sa.RowMapping]:
    stmt = sa.select(UNMATCHED, SK.c.tanggal_sk).join(SK, SK.c.nomor_sk == UNMATCHED.c.nomor_sk)
    if npsn is not None:
        stmt = stmt.where(UNMATCHED.c.npsn == npsn)
    if nomor_sk is not None:
        stmt = stmt.where(UNMATCHED.c.nomor_sk == nomor_sk)
    if not include_resolved:
        stmt = stmt.where(UNMATCHED.c.resolved_at.is_(None))
    if cursor is not None:
        stmt = stmt.where(UNMATCHED.c.id > cursor.seq)
    return list(session.execute(stmt.order_by(UNMATCHED.c.id).limit(limit + 1)).mappings().all())
