"""Rules for reading students: paging (optionally per school), the read model with provenance, attendance and
validation findings, history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.kehadiran import repository as kehadiran_repository
from services.dapodik_gateway.kehadiran import service as kehadiran_service
from services.dapodik_gateway.peserta_didik import repository
from services.dapodik_gateway.peserta_didik.schemas import RiwayatNilai
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.validasi import repository as validasi_repository
from services.dapodik_gateway.validasi import service as validasi_service
from shared.contracts.common import Page
from shared.contracts.dapodik import KehadiranPd, PesertaDidik, PesertaDidikRecord, TemuanValidasi
from shared.cursor import IdCursor
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


# The feed's page is served as plain data in the read model's field order (``pydantic_core.to_json`` of it is byte
# for byte the model's JSON): a page of 1,000 students is not built as 1,000 read models with their months,
# findings and provenance, each validated from Python, then dumped.
READ_MODEL_FIELDS = tuple(PesertaDidik.model_fields)


def provenance_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """``provenance_of`` in ``FieldProvenance``'s field order, its defaults included."""
    return {
        "provenance_id": row["provenance_id"], "sync_run_id": row["sync_run_id"],
        "source_system": row["source_system"], "source_record": row["source_record"],
        "source_version": row["source_version"], "observed_seq": row["observed_seq"],
        "retrieved_at": row["retrieved_at"], "matched_by": row["matched_by"], "record_hashes": {},
        "field": row["field"], "value": results_repository.from_json(row["value"]), "written_at": row["written_at"],
        "record_hash": row.get("record_hash"),
    }


def to_data(row: Mapping[str, Any], provenance: Sequence[Mapping[str, Any]], months: Sequence[Mapping[str, Any]],
            found: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``to_contract``'s read model as plain data in its field order (months and findings as their rows)."""
    data = {name: row[name] for name in READ_FIELDS}
    data["provenance"] = [provenance_data(p) for p in provenance]
    data["kehadiran_pd"] = [kehadiran_service.month_data(m) for m in months]
    data["temuan_validasi"] = [validasi_service.temuan_data(f) for f in found]
    return {name: data[name] for name in READ_MODEL_FIELDS}


def _data_of(session: Session, rows: list[sa.RowMapping]) -> list[dict[str, Any]]:
    """``_with_provenance``'s read models as ``to_data``, read the same way."""
    ids = [r["peserta_didik_id"] for r in rows]
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":  # the three in one statement
        prov_rows, month_rows, found_rows = repository.read_model_parts(session, ids)
        prov: dict[str, list[Any]] = {}
        for p in prov_rows:
            prov.setdefault(p["peserta_didik_id"], []).append(p)
        months: dict[str, list[Any]] = {}
        for m in month_rows:
            months.setdefault(m["peserta_didik_id"], []).append(m)
        found: dict[str, list[Any]] = {}
        for f in found_rows:
            found.setdefault(f["peserta_didik_id"], []).append(f)
    else:
        prov = results_repository.latest_provenance(session, ids)  # type: ignore[assignment]
        months = kehadiran_repository.of_students(session, ids)  # type: ignore[assignment]
        found = validasi_repository.findings(session, ids)  # type: ignore[assignment]
    return [to_data(r, prov.get(pid, []), months.get(pid, []), found.get(pid, []))
            for r in rows for pid in (r["peserta_didik_id"],)]


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
              ) -> tuple[list[sa.RowMapping], list[dict[str, Any]], str | None]:
    """A page of the change feed: the rows, the students with provenance (as ``to_data``), the cursor of the next
    page."""
    rows = repository.feed_after(session, cursor, limit, sekolah_id)
    page = rows[:limit]
    next_cursor = (paging.SeqCursor(page[-1]["change_seq"], page[-1]["peserta_didik_id"]).encode()
                   if len(rows) > limit else None)
    return page, _data_of(session, page), next_cursor


def feed_range_page(session: Session, cursor: IdCursor | None, limit: int, sekolah_id: str | None,
                    id_after: str | None, id_upto: str | None
                    ) -> tuple[list[sa.RowMapping], list[dict[str, Any]], str | None]:
    """A page of a range of the feed, in id order: the rows, the students with provenance (as ``to_data``), the
    cursor of the next page."""
    rows = repository.feed_range_after(session, cursor.key if cursor else None, limit, sekolah_id, id_after, id_upto)
    page = rows[:limit]
    next_cursor = IdCursor(page[-1]["peserta_didik_id"]).encode() if len(rows) > limit else None
    return page, _data_of(session, page), next_cursor


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
