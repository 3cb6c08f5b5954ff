"""All SQL of education verification."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.registry.models import AnggotaRow, KeluargaRow, KkLamaRow, PkhRow
from shared import bulk


def known_niks(session: Session, niks: Collection[str]) -> set[str]:
    """Which of ``niks`` are members of the registry: one IN query."""
    if not niks:
        return set()
    return set(session.scalars(select(AnggotaRow.nik).where(AnggotaRow.nik.in_(list(niks)))))


def current(session: Session, keys: Collection[tuple[str, str]], *, lock: bool = False
            ) -> dict[tuple[str, str], VerifikasiRow]:
    """The stored verifications for these (nik_anak, periode) keys: one query on the unique index. ``lock`` (a
    write): the rows are locked until the transaction ends, in key order (PostgreSQL; SQLite's write transaction
    holds the database), so a second writer of a key waits and then reads what the first stored."""
    if not keys:
        return {}
    niks = list({nik for nik, _ in keys})
    periods = list({periode for _, periode in keys})
    stmt = select(VerifikasiRow).where(VerifikasiRow.nik_anak.in_(niks), VerifikasiRow.periode.in_(periods))
    if lock:
        stmt = stmt.order_by(VerifikasiRow.nik_anak, VerifikasiRow.periode).with_for_update()
    return {(r.nik_anak, r.periode): r for r in session.scalars(stmt) if (r.nik_anak, r.periode) in keys}


def of_child(session: Session, nik: str) -> tuple[list[VerifikasiRow], list[VerifikasiRiwayatRow]]:
    rows = list(session.scalars(select(VerifikasiRow).where(VerifikasiRow.nik_anak == nik)
                                .order_by(VerifikasiRow.periode.desc())))
    history = list(session.scalars(select(VerifikasiRiwayatRow).where(VerifikasiRiwayatRow.nik_anak == nik)
                                   .order_by(VerifikasiRiwayatRow.id.desc())))
    return rows, history


def insert_current(session: Session, rows: list[dict[str, Any]]) -> None:
    """New current verifications (keys not stored yet), set-wise (``shared.bulk.insert``: COPY on PostgreSQL)."""
    bulk.insert(session, VerifikasiRow.__table__, rows)  # type: ignore[arg-type]


def insert_history(session: Session, rows: list[dict[str, Any]]) -> None:
    """States accepted, in the order they were accepted (``id`` follows it), set-wise."""
    bulk.insert(session, VerifikasiRiwayatRow.__table__, rows)  # type: ignore[arg-type]


def current_kk(session: Session, numbers: Collection[str]) -> dict[str, str]:
    """KK number asked -> the family's current KK number (a number the family held before resolves too)."""
    if not numbers:
        return {}
    asked = list(numbers)
    found = {n: n for n in session.scalars(select(KeluargaRow.no_kk).where(KeluargaRow.no_kk.in_(asked)))}
    old = select(KkLamaRow.no_kk, KeluargaRow.no_kk).join(KeluargaRow, KeluargaRow.id == KkLamaRow.keluarga_id) \
        .where(KkLamaRow.no_kk.in_([n for n in asked if n not in found]))
    for before, now in session.execute(old):
        found.setdefault(before, now)
    return found


def pkh_of(session: Session, kks: Collection[str], tahun: int, tahap: int) -> dict[str, PkhRow]:
    if not kks:
        return {}
    stmt = select(PkhRow).where(PkhRow.no_kk.in_(list(kks)), PkhRow.tahun == tahun, PkhRow.tahap == tahap)
    return {r.no_kk: r for r in session.scalars(stmt)}


def children_of(session: Session, kks: Collection[str], born_from: int, born_to: int) -> list[tuple[str, str]]:
    """(no_kk, nik) of the children (ANAK) of these families born in [born_from, born_to]."""
    if not kks:
        return []
    stmt = select(AnggotaRow.no_kk, AnggotaRow.nik).where(
        AnggotaRow.no_kk.in_(list(kks)), AnggotaRow.hubungan_keluarga == "ANAK",
        AnggotaRow.tahun_lahir.between(born_from, born_to)).order_by(AnggotaRow.no_kk, AnggotaRow.nik)
    return [(kk, nik) for kk, nik in session.execute(stmt)]


def current_for(session: Session, niks: Collection[str], periode: str) -> dict[str, VerifikasiRow]:
    if not niks:
        return {}
    stmt = select(VerifikasiRow).where(VerifikasiRow.nik_anak.in_(list(niks)), VerifikasiRow.periode == periode)
    return {r.nik_anak: r for r in session.scalars(stmt)}
