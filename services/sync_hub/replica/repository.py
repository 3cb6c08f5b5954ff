"""All SQL of the replica."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlmodel import Session

from services.sync_hub.replica.models import (
    ReplicaAnggotaRow,
    ReplicaKeluargaRow,
    ReplicaKkLamaRow,
    ReplicaStateRow,
)


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


def family(session: Session, no_kk: str) -> ReplicaKeluargaRow | None:
    return session.get(ReplicaKeluargaRow, no_kk)


def drop_family(session: Session, no_kk: str) -> None:
    session.execute(delete(ReplicaAnggotaRow).where(ReplicaAnggotaRow.no_kk == no_kk))
    session.execute(delete(ReplicaKkLamaRow).where(ReplicaKkLamaRow.no_kk == no_kk))
    session.execute(delete(ReplicaKeluargaRow).where(ReplicaKeluargaRow.no_kk == no_kk))


def put_family(session: Session, row: ReplicaKeluargaRow, members: list[ReplicaAnggotaRow],
               old_kks: list[str]) -> None:
    """Replace the family, its members and its former KK numbers; a NIK moves here from any other family."""
    niks = [m.nik for m in members]
    session.execute(delete(ReplicaAnggotaRow).where(ReplicaAnggotaRow.no_kk == row.no_kk))
    if niks:
        session.execute(delete(ReplicaAnggotaRow).where(ReplicaAnggotaRow.nik.in_(niks)))
    for old in old_kks:
        if old != row.no_kk:
            drop_family(session, old)
    session.execute(delete(ReplicaKkLamaRow).where(ReplicaKkLamaRow.no_kk == row.no_kk))
    if old_kks:
        session.execute(delete(ReplicaKkLamaRow).where(ReplicaKkLamaRow.old_kk.in_(old_kks)))
    session.merge(row)
    session.flush()
    session.add_all(members)
    session.add_all([ReplicaKkLamaRow(old_kk=o, no_kk=row.no_kk) for o in dict.fromkeys(old_kks) if o != row.no_kk])
    session.flush()


def families(session: Session) -> Iterable[ReplicaKeluargaRow]:
    return session.scalars(select(ReplicaKeluargaRow))


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
