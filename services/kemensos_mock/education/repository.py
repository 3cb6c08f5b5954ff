"""All SQL of education verification."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlmodel import Session

from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.registry.models import AnggotaRow


def known_niks(session: Session, niks: Collection[str]) -> set[str]:
    """Which of ``niks`` are members of the registry: one IN query."""
    if not niks:
        return set()
    return set(session.scalars(select(AnggotaRow.nik).where(AnggotaRow.nik.in_(list(niks)))))


def current(session: Session, niks: Collection[str]) -> dict[tuple[str, str], VerifikasiRow]:
    """The stored verifications of these children, by (nik_anak, periode): one IN query."""
    if not niks:
        return {}
    stmt = select(VerifikasiRow).where(VerifikasiRow.nik_anak.in_(list(niks)))
    return {(r.nik_anak, r.periode): r for r in session.scalars(stmt)}


def of_child(session: Session, nik: str) -> tuple[list[VerifikasiRow], list[VerifikasiRiwayatRow]]:
    rows = list(session.scalars(select(VerifikasiRow).where(VerifikasiRow.nik_anak == nik)
                                .order_by(VerifikasiRow.periode.desc())))
    history = list(session.scalars(select(VerifikasiRiwayatRow).where(VerifikasiRiwayatRow.nik_anak == nik)
                                   .order_by(VerifikasiRiwayatRow.id.desc())))
    return rows, history


def add(session: Session, *rows: VerifikasiRow | VerifikasiRiwayatRow) -> None:
    session.add_all(rows)
