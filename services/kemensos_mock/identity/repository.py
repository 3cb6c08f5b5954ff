"""All SQL of identity search: one block (birth year + region prefix) per query, families of the winners."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlmodel import Session

from services.kemensos_mock.kip.repository import prefix_upper_bound
from services.kemensos_mock.registry.models import AnggotaRow, KeluargaRow


@dataclass(frozen=True, slots=True)
class Person:
    """What scoring needs of a member (a light row: blocks can hold thousands)."""

    id: int
    nik: str
    nama: str
    tanggal_lahir: date
    nama_ibu_kandung: str
    jenis_kelamin: str


def block(session: Session, tahun_lahir: int, kode_wilayah: str, cap: int) -> list[Person]:
    """Up to ``cap`` members born in ``tahun_lahir`` whose family lives under the ``kode_wilayah`` prefix.

    Equality on the year, then a range on the region: one range of the (tahun_lahir, kode_wilayah) index.
    """
    stmt = (select(AnggotaRow.id, AnggotaRow.nik, AnggotaRow.nama, AnggotaRow.tanggal_lahir,
                   AnggotaRow.nama_ibu_kandung, AnggotaRow.jenis_kelamin)
            .where(AnggotaRow.tahun_lahir == tahun_lahir, AnggotaRow.kode_wilayah >= kode_wilayah,
                   AnggotaRow.kode_wilayah < prefix_upper_bound(kode_wilayah))
            .limit(cap))
    return [Person(*row) for row in session.execute(stmt)]


def members(session: Session, ids: Collection[int]) -> dict[int, AnggotaRow]:
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(AnggotaRow).where(AnggotaRow.id.in_(list(ids))))
            if r.id is not None}


def families(session: Session, no_kks: Collection[str]) -> dict[str, KeluargaRow]:
    if not no_kks:
        return {}
    return {r.no_kk: r for r in session.scalars(select(KeluargaRow).where(KeluargaRow.no_kk.in_(list(no_kks))))}
