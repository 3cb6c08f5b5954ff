"""KIP rules: keyset paging over the registry version (a resumable listing), admin upsert, row -> contract mapping."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlmodel import Session

from services.kemensos_mock.kip import repository as repo
from services.kemensos_mock.kip.models import KipRow
from services.kemensos_mock.kip.schemas import KipQuery
from services.kemensos_mock.registry import repository as registry
from services.kemensos_mock.storage import reject_unstorable
from shared.contracts.kemensos import Jenjang, KipIssuance, KipPage, KipRecord
from shared.cursor import Cursor, IdCursor
from shared.errors import InvalidInput

log = logging.getLogger("jembatan.kemensos.kip")


def to_issuance(row: KipRow) -> KipIssuance:
    return KipIssuance(no_kip=row.no_kip, nama=row.nama, tanggal_lahir=row.tanggal_lahir,
                       nama_ibu_kandung=row.nama_ibu_kandung, kode_wilayah=row.kode_wilayah,
                       jenjang=Jenjang(row.jenjang), nik=row.nik, tahun=row.tahun, version=row.version,
                       updated_at=row.updated_at)


_RANGE_END_AT = datetime(1970, 1, 1, tzinfo=UTC)  # a range's end position names a version, not an issuance's time


def decode_cursor(token: str) -> tuple[Cursor, int]:
    cursor = Cursor.decode(token)
    if not (cursor.key.isascii() and cursor.key.isdigit() and len(cursor.key) <= 18):
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
    return cursor, int(cursor.key)


def list_kip(session: Session, query: KipQuery) -> KipPage:
    """One page of issuances in version order (each write takes a new registry version, so a changed issuance
    moves to the end); ``resume_cursor`` is the position after the page's last issuance, from which a later read
    returns only what was put since (a range's last page: after the range's end)."""
    if query.no_kip_after is not None or query.no_kip_upto is not None:
        return _range_page(session, query)
    after = decode_cursor(query.cursor)[1] if query.cursor else None
    seq = registry.observed_seq(session)  # before the rows: they reflect at least this sequence
    rows = repo.page(session, after=after, limit=query.limit + 1, kode_wilayah=query.kode_wilayah,
                     jenjang=query.jenjang.value if query.jenjang else None, since_version=query.since_version,
                     until_version=query.until_version)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    end = Cursor(rows[-1].updated_at, str(rows[-1].version)).encode() if rows else query.cursor
    if query.until_version is not None and not more:
        # a range's last page: after the range's end, which no later write can fall below (a write takes a version
        # above the sequence read here); a reader holding every range up to it resumes the whole listing from it
        end = Cursor(_RANGE_END_AT, str(min(query.until_version, seq))).encode()
    return KipPage(items=[to_issuance(r) for r in rows], next_cursor=end if more else None, observed_seq=seq,
                   resume_cursor=end)


def _range_page(session: Session, query: KipQuery) -> KipPage:
    """A page of a range of card numbers, in ``no_kip`` order: part of a read of the whole listing, so it resumes
    nowhere (``resume_cursor`` None); its cursors are its own."""
    after = IdCursor.decode(query.cursor).key if query.cursor else None
    seq = registry.observed_seq(session)
    rows = repo.range_page(session, after=after, limit=query.limit + 1, no_kip_after=query.no_kip_after,
                           no_kip_upto=query.no_kip_upto, kode_wilayah=query.kode_wilayah,
                           jenjang=query.jenjang.value if query.jenjang else None, since_version=query.since_version,
                           until_version=query.until_version)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = IdCursor(rows[-1].no_kip).encode() if more else None
    return KipPage(items=[to_issuance(r) for r in rows], next_cursor=next_cursor, observed_seq=seq, resume_cursor=None)


def put_kip(session: Session, record: KipRecord) -> KipIssuance:
    """Insert or replace the issuance ``no_kip``; takes a new version either way."""
    reject_unstorable(record)
    versions = registry.take_versions(session, 1)
    row = repo.by_no_kip(session, record.no_kip)
    values = record.model_dump(mode="python")
    values["jenjang"] = record.jenjang.value
    if row is None:
        row = KipRow(**values, version=versions.last, created_at=versions.at, updated_at=versions.at)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.version, row.updated_at = versions.last, versions.at
    repo.add(session, row)
    log.info("KIP issuance set (version %d)", versions.last)
    return to_issuance(row)
