"""All SQL of the KIP domain."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlmodel import Session

from services.kemensos_mock.kip.models import KipRow
from services.kemensos_mock.storage import version_param


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string above every string starting with ``prefix`` (digits only: '9' -> ':')."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def page(session: Session, *, after: int | None, limit: int, kode_wilayah: str | None,
         jenjang: str | None, since_version: int | None = None, until_version: int | None = None) -> list[KipRow]:
    """Up to ``limit`` issuances whose version is above ``after``, in version order: the registry sequence grows in
    commit order and every write takes a new number, so a reader resuming after the last version it saw misses no
    later write (a timestamp can repeat; a version cannot).

    The region prefix is a range condition (``>= prefix`` and ``< next prefix``) so a plain B-tree index
    serves it on both databases. ``since_version`` / ``until_version``: only the versions in (since, until] (a
    range of the listing: the version index walked over the range alone).
    """
    low = max((v for v in (after, since_version) if v is not None), default=None)
    stmt = _filtered(low, until_version, kode_wilayah, jenjang)
    return list(session.scalars(stmt.order_by(KipRow.version).limit(limit)))


def _filtered(since_version: int | None, until_version: int | None, kode_wilayah: str | None,
              jenjang: str | None) -> Select[tuple[KipRow]]:
    """The issuances of the version window (since, until], of the region prefix and the school level, where given."""
    stmt = select(KipRow)
    if since_version is not None:
        stmt = stmt.where(KipRow.version > version_param(since_version))
    if until_version is not None:
        stmt = stmt.where(KipRow.version <= version_param(until_version))
    if kode_wilayah:
        stmt = stmt.where(KipRow.kode_wilayah >= kode_wilayah,
                          KipRow.kode_wilayah < prefix_upper_bound(kode_wilayah))
    if jenjang:
        stmt = stmt.where(KipRow.jenjang == jenjang)
    return stmt


def range_page(session: Session, *, after: str | None, limit: int, no_kip_after: str | None,
               no_kip_upto: str | None, kode_wilayah: str | None, jenjang: str | None, since_version: int | None,
               until_version: int | None) -> list[KipRow]:
    """Up to ``limit`` issuances of a range of card numbers (above ``no_kip_after``, up to ``no_kip_upto``), after
    ``after`` in ``no_kip`` order: the card number's unique index walked over the range alone."""
    stmt = _filtered(since_version, until_version, kode_wilayah, jenjang)
    low = max((v for v in (after, no_kip_after) if v is not None), default=None)
    if low is not None:
        stmt = stmt.where(KipRow.no_kip > low)
    if no_kip_upto is not None:
        stmt = stmt.where(KipRow.no_kip <= no_kip_upto)
    return list(session.scalars(stmt.order_by(KipRow.no_kip).limit(limit)))


def by_no_kip(session: Session, no_kip: str) -> KipRow | None:
    return session.scalars(select(KipRow).where(KipRow.no_kip == no_kip)).first()


def add(session: Session, row: KipRow) -> None:
    session.add(row)
    session.flush()
