"""Rules for reading students: paging (optionally per school), the read model with provenance, attendance and
validation findings, history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.kehadiran import service as kehadiran_service
from services.dapodik_gateway.peserta_didik import repository
from services.dapodik_gateway.peserta_didik.schemas import RiwayatNilai
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.validasi import service as validasi_service
from shared.contracts.common import Page
from shared.contracts.dapodik import KehadiranPd, PesertaDidik, PesertaDidikRecord, TemuanValidasi
from shared.errors import NotFound

RECORD_FIELDS = tuple(PesertaDidikRecord.model_fields)
READ_FIELDS = (*RECORD_FIELDS, "status_padan", "keterangan_padan", "status_validasi", "last_update", "last_sync",
               "jenis_keluar_id", "tanggal_keluar")


def provenance_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "provenance_id": row["provenance_id"], "sync_run_id": row["sync_run_id"],
        "source_system": row["source_system"], "source_record": row["source_record"],
        "source_version": row["source_version"], "observed_seq": row["observed_seq"],
        "retrieved_at": row["retrieved_at"], "matched_by": row["matched_by"], "field": row["field"],
        "value": results_repository.from_json(row["value"]), "written_at": row["written_at"],
        "record_hash": row.get("record_hash"),
    }


def to_contract(row: Mapping[str, Any], provenance: list[sa.RowMapping],
                kehadiran_pd: Sequence[KehadiranPd] = (), temuan: Sequence[TemuanValidasi] = ()) -> PesertaDidik:
    return PesertaDidik.model_validate({
        **{name: row[name] for name in READ_FIELDS},
        "provenance": [provenance_of(p) for p in provenance],
        "kehadiran_pd": list(kehadiran_pd),
        "temuan_validasi": list(temuan),
    })


def _with_provenance(session: Session, rows: list[sa.RowMapping]) -> list[PesertaDidik]:
    """The read models of a page: its provenance, its months of attendance and its validation findings, each
    read in one statement."""
    ids = [r["peserta_didik_id"] for r in rows]
    if ids and session.get_bind().dialect.name == "postgresql":  # the three in one statement
        return from_parts(rows, *repository.read_model_parts(session, ids))
    prov = results_repository.latest_provenance(session, ids)
    months = kehadiran_service.of_students(session, ids)
    found = validasi_service.temuan_of(session, ids)
    return [to_contract(r, prov.get(pid, []), months.get(pid, []), found.get(pid, []))
            for r in rows for pid in (r["peserta_didik_id"],)]


def from_parts(rows: Sequence[Mapping[str, Any]], prov_rows: list[dict[str, Any]], month_rows: list[dict[str, Any]],
               found_rows: list[dict[str, Any]]) -> list[PesertaDidik]:
    """The read models of ``rows`` from what ``repository.read_model_parts`` read for them (PostgreSQL)."""
    prov: dict[str, list[Any]] = {}
    for p in prov_rows:
        prov.setdefault(p["peserta_didik_id"], []).append(p)
    months: dict[str, list[KehadiranPd]] = {}
    for m in month_rows:
        months.setdefault(m["peserta_didik_id"], []).append(kehadiran_service.to_contract(m))
    found: dict[str, list[TemuanValidasi]] = {}
    for f in found_rows:
        found.setdefault(f["peserta_didik_id"], []).append(validasi_service.temuan(f))
    return [to_contract(r, prov.get(pid, []), months.get(pid, []), found.get(pid, []))
            for r in rows for pid in (r["peserta_didik_id"],)]


def list_peserta_didik(session: Session, cursor: str | None, limit: int, npsn: str | None = None, *,
                       below_status: int | None = None) -> Page[PesertaDidik]:
    """One page: the students (one statement) and their latest provenance per field (one statement)."""
    after = paging.parse_cursor(cursor)
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn) if npsn is not None else None
    rows = repository.list_after(session, after, limit, sekolah_id, below_status=below_status)
    page, next_cursor = paging.cut(rows, limit, lambda r: (r["last_update"], r["peserta_didik_id"]))
    return Page[PesertaDidik](items=_with_provenance(session, page), next_cursor=next_cursor)


def feed_page(session: Session, cursor: paging.SeqCursor | None, limit: int, sekolah_id: str | None
              ) -> tuple[list[sa.RowMapping], list[PesertaDidik], str | None]:
    """A page of the change feed: the rows, the students with provenance, the cursor of the next page."""
    rows = repository.feed_after(session, cursor, limit, sekolah_id)
    page = rows[:limit]
    next_cursor = (paging.SeqCursor(page[-1]["change_seq"], page[-1]["peserta_didik_id"]).encode()
                   if len(rows) > limit else None)
    return page, _with_provenance(session, page), next_cursor


def _require(session: Session, peserta_didik_id: str) -> sa.RowMapping:
    row = repository.record(session, peserta_didik_id)
    if row is None:
        raise NotFound.field("peserta_didik_id", "not_found", "no student with this peserta_didik_id")
    return row


def get_peserta_didik(session: Session, peserta_didik_id: str) -> PesertaDidik:
    return _with_provenance(session, [_require(session, peserta_didik_id)])[0]


def require_record(session: Session, peserta_didik_id: str) -> sa.RowMapping:
    """The student's row (404 naming ``peserta_didik_id`` if there is none)."""
    return _require(session, peserta_didik_id)


def with_provenance(session: Session, row: sa.RowMapping) -> PesertaDidik:
    return _with_provenance(session, [row])[0]


def with_provenances(session: Session, rows: list[sa.RowMapping]) -> list[PesertaDidik]:
    """``with_provenance`` of several rows, each read for all of them in one statement."""
    return _with_provenance(session, rows)


def riwayat(session: Session, peserta_didik_id: str) -> list[RiwayatNilai]:
    _require(session, peserta_didik_id)
    return [
        RiwayatNilai(field=h.field, old_value=results_repository.from_json(h.old_value),
                     new_value=results_repository.from_json(h.new_value), changed_at=h.changed_at,
                     provenance_id=h.provenance_id, source=h.source, changed_by=h.changed_by)
        for h in results_repository.history(session, peserta_didik_id)
    ]
