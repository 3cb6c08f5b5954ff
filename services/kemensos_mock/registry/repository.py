"""All SQL of the registry domain (and of the change sequence every domain shares)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Row, Table, any_, bindparam, delete, func, insert, literal, select, update
from sqlmodel import Session

from services.kemensos_mock.registry.models import (
    AnggotaRow,
    BansosRow,
    KeluargaHapusRow,
    KeluargaRow,
    KkLamaRow,
    PkhRow,
    RegistrySequence,
)
from services.kemensos_mock.storage import UtcDateTime, utcnow

SEQUENCE_ROW = 1
ANGGOTA: Table = AnggotaRow.__table__  # type: ignore[attr-defined]
KELUARGA: Table = KeluargaRow.__table__  # type: ignore[attr-defined]
PKH: Table = PkhRow.__table__  # type: ignore[attr-defined]
BANSOS: Table = BansosRow.__table__  # type: ignore[attr-defined]


# ---- the change sequence ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Versions:
    """A block of sequence numbers ``first..last`` taken by one change, and its timestamp."""

    first: int
    last: int
    at: datetime


def begin_edit(session: Session) -> None:
    """The first step of an edit that reads before it writes (an admin edit: does the family exist, is the new KK
    number free, is the member there): lock the counter row, which ``take_versions`` moves later in the same
    transaction. Edits then take turns, and each reads what the one before committed: two splits into one new KK
    number are a 200 and a 409, two deletions of one family a 200 and a 404 with one tombstone. PostgreSQL; SQLite's
    write transaction holds the database already."""
    table = RegistrySequence.__table__
    session.execute(select(table.c.value).where(table.c.id == SEQUENCE_ROW).with_for_update())


def take_versions(session: Session, count: int, at: datetime | None = None) -> Versions:
    """Take the next ``count`` sequence numbers.

    The UPDATE locks the counter row until the transaction ends, so writers are serialised and
    versions and timestamps grow in commit order. The timestamp is taken after the lock, and never
    earlier than the last one handed out.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    table = RegistrySequence.__table__
    row = session.execute(
        update(table).where(table.c.id == SEQUENCE_ROW).values(value=table.c.value + count)
        .returning(table.c.value, table.c.last_at)
    ).one()
    moment = at or utcnow()
    if row.last_at is not None and row.last_at > moment:
        moment = row.last_at
    session.execute(update(table).where(table.c.id == SEQUENCE_ROW).values(last_at=moment))
    return Versions(first=row.value - count + 1, last=row.value, at=moment)


def observed_seq(session: Session) -> int:
    """The current (committed) sequence. Read it before the data it goes with, so the data reflects at
    least this sequence."""
    value = session.execute(select(RegistrySequence.value).where(RegistrySequence.id == SEQUENCE_ROW)).scalar()
    return int(value or 0)


# ---- reads -----------------------------------------------------------------------------------


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``, the values bound as one parameter: a page's
    thousand keys are neither rendered into the statement nor parsed by the driver one by one."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def members_with_family(session: Session, niks: Collection[str]) -> list[tuple[Row[Any], Row[Any]]]:
    """Members whose NIK is in ``niks``, each with their family: two IN queries (members, then their
    families) returning plain rows with the tables' attribute names; ORM instances would cost more than the
    queries for a thousand NIKs."""
    if not niks:
        return []
    members = list(session.execute(select(ANGGOTA).where(ANGGOTA.c.nik.in_(list(niks)))))
    if not members:
        return []
    families = {r.no_kk: r for r in session.execute(
        select(KELUARGA).where(KELUARGA.c.no_kk.in_(list({m.no_kk for m in members}))))}
    return [(m, families[m.no_kk]) for m in members if m.no_kk in families]


def latest_pkh(session: Session, no_kks: Collection[str]) -> dict[str, Row[Any]]:
    """The latest PKH membership (by year, then stage) of each family in ``no_kks``: one IN query. Plain rows with
    the table's attribute names (read-only; ORM instances cost more than the query for a page's thousand)."""
    if not no_kks:
        return {}
    rank = func.row_number().over(partition_by=PKH.c.no_kk, order_by=(PKH.c.tahun.desc(), PKH.c.tahap.desc())
                                  ).label("rank")
    ranked = select(PKH.c.id, rank).where(among(session, PKH.c.no_kk, no_kks)).subquery()
    stmt = select(PKH).join(ranked, ranked.c.id == PKH.c.id).where(ranked.c.rank == 1)
    return {row.no_kk: row for row in session.execute(stmt)}


def latest_bansos(session: Session, no_kks: Collection[str]) -> dict[str, list[Row[Any]]]:
    """The latest BPNT and PBI-JK membership (by year, then quarter) of each family: one IN query (plain rows, as
    ``latest_pkh``)."""
    if not no_kks:
        return {}
    rank = func.row_number().over(partition_by=(BANSOS.c.no_kk, BANSOS.c.program),
                                  order_by=(BANSOS.c.tahun.desc(), BANSOS.c.tahap.desc())).label("rank")
    ranked = select(BANSOS.c.id, rank).where(among(session, BANSOS.c.no_kk, no_kks)).subquery()
    stmt = select(BANSOS).join(ranked, ranked.c.id == BANSOS.c.id).where(ranked.c.rank == 1)
    out: dict[str, list[Row[Any]]] = {}
    for row in session.execute(stmt):
        out.setdefault(row.no_kk, []).append(row)
    return out


def bansos_history(session: Session, no_kk: str) -> list[BansosRow]:
    stmt = (select(BansosRow).where(BansosRow.no_kk == no_kk)
            .order_by(BansosRow.tahun.desc(), BansosRow.tahap.desc(), BansosRow.program))
    return list(session.scalars(stmt))


def bansos_of(session: Session, no_kk: str, program: str, tahun: int, tahap: int) -> BansosRow | None:
    stmt = select(BansosRow).where(BansosRow.no_kk == no_kk, BansosRow.program == program,
                                   BansosRow.tahun == tahun, BansosRow.tahap == tahap)
    return session.scalars(stmt).first()


def current_triwulan(session: Session) -> str | None:
    """The newest DTSEN quarter any family carries (``2026-Q3``); None for an empty registry."""
    return session.execute(select(func.max(KeluargaRow.dtsen_triwulan))).scalar()


def family(session: Session, no_kk: str) -> KeluargaRow | None:
    return session.scalars(select(KeluargaRow).where(KeluargaRow.no_kk == no_kk)).first()


def family_by_past_kk(session: Session, no_kk: str) -> KeluargaRow | None:
    """The family that held ``no_kk`` before its current number (the latest such, if reused)."""
    stmt = (select(KeluargaRow).join(KkLamaRow, KkLamaRow.keluarga_id == KeluargaRow.id)
            .where(KkLamaRow.no_kk == no_kk).order_by(KkLamaRow.version.desc()).limit(1))
    return session.scalars(stmt).first()


def member(session: Session, nik: str) -> AnggotaRow | None:
    return session.scalars(select(AnggotaRow).where(AnggotaRow.nik == nik)).first()


def members_of(session: Session, no_kk: str) -> list[AnggotaRow]:
    return list(session.scalars(select(AnggotaRow).where(AnggotaRow.no_kk == no_kk).order_by(AnggotaRow.id)))


def past_kk_rows(session: Session, keluarga_id: int) -> list[KkLamaRow]:
    stmt = select(KkLamaRow).where(KkLamaRow.keluarga_id == keluarga_id).order_by(KkLamaRow.version, KkLamaRow.id)
    return list(session.scalars(stmt))


def family_holds_or_held(session: Session, no_kk: str) -> bool:
    """Whether any family holds ``no_kk`` now or held it before (KK numbers are never reused)."""
    return family(session, no_kk) is not None or family_by_past_kk(session, no_kk) is not None


def pkh_history(session: Session, no_kk: str) -> list[PkhRow]:
    stmt = select(PkhRow).where(PkhRow.no_kk == no_kk).order_by(PkhRow.tahun.desc(), PkhRow.tahap.desc())
    return list(session.scalars(stmt))


def pkh_of(session: Session, no_kk: str, tahun: int, tahap: int) -> PkhRow | None:
    stmt = select(PkhRow).where(PkhRow.no_kk == no_kk, PkhRow.tahun == tahun, PkhRow.tahap == tahap)
    return session.scalars(stmt).first()


# ---- writes ----------------------------------------------------------------------------------


def add(session: Session, row: KeluargaRow | PkhRow | KkLamaRow | AnggotaRow) -> None:
    session.add(row)
    session.flush()


def change_kk(session: Session, keluarga: KeluargaRow, new_no_kk: str, version: int, at: datetime,
              alasan: str | None = None) -> None:
    """Give a family a new KK number, keeping the old one; members and PKH rows follow by cascade."""
    assert keluarga.id is not None
    session.add(KkLamaRow(keluarga_id=keluarga.id, no_kk=keluarga.no_kk, replaced_at=at, version=version,
                          alasan=alasan))
    keluarga.no_kk = new_no_kk
    session.flush()
    session.expire_all()  # members and PKH rows loaded before still hold the old number


def set_members_region(session: Session, no_kk: str, kode_wilayah: str) -> None:
    session.execute(update(AnggotaRow).where(AnggotaRow.no_kk == no_kk).values(kode_wilayah=kode_wilayah))


def remove_member(session: Session, row: AnggotaRow) -> None:
    session.execute(delete(AnggotaRow).where(AnggotaRow.id == row.id))
    session.expire_all()


def move_members(session: Session, niks: Collection[str], no_kk: str, kode_wilayah: str) -> None:
    session.execute(update(AnggotaRow).where(AnggotaRow.nik.in_(list(niks)))
                    .values(no_kk=no_kk, kode_wilayah=kode_wilayah))
    session.expire_all()


def remove_family(session: Session, row: KeluargaRow, version: int, at: datetime) -> None:
    """Delete a family (members, PKH rows and past KK numbers go with it by cascade) and leave its
    tombstone for the change feed."""
    session.add(KeluargaHapusRow(no_kk=row.no_kk, version=version, updated_at=at))
    session.execute(delete(PkhRow).where(PkhRow.no_kk == row.no_kk))
    session.execute(delete(BansosRow).where(BansosRow.no_kk == row.no_kk))
    session.execute(delete(AnggotaRow).where(AnggotaRow.no_kk == row.no_kk))
    session.execute(delete(KkLamaRow).where(KkLamaRow.keluarga_id == row.id))
    session.execute(delete(KeluargaRow).where(KeluargaRow.id == row.id))
    session.flush()
    session.expire_all()


def bump_families(session: Session, no_kks: Sequence[str], first_version: int, at: datetime) -> None:
    """Give each family in ``no_kks`` (in the given order) the next version from ``first_version``: its
    members changed, so it moves to the change feed's end. One executemany."""
    if not no_kks:
        return
    table = KeluargaRow.__table__
    stmt = (update(table).where(table.c.no_kk == bindparam("kk"))
            .values(version=bindparam("new_version"), updated_at=bindparam("new_at")))
    session.connection().execute(stmt, [{"kk": kk, "new_version": first_version + i, "new_at": at}
                                        for i, kk in enumerate(no_kks)])
    session.expire_all()


def count_families(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(KeluargaRow)).scalar_one())


def tombstone_all(session: Session, first_version: int, at: datetime) -> None:
    """A tombstone for every family (before a replacing load empties the registry), versions
    ``first_version``.. in id order: one INSERT ... SELECT."""
    fam = KeluargaRow.__table__
    numbered = select(fam.c.no_kk, func.row_number().over(order_by=fam.c.id) + (first_version - 1),
                      literal(at, UtcDateTime()))
    session.execute(insert(KeluargaHapusRow.__table__).from_select(["no_kk", "version", "updated_at"], numbered))
