"""Reading the families-at-risk report for the API: a page of families, the period's counts, a file of rows.

Every NIK and KK number leaves masked (``shared.nik.mask``). A cursor names the build it was issued from and the
last family of its page (the family's position in the report, never its KK number): a report rebuilt since
answers 409, naming the cursor.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import tempfile
from collections.abc import Iterable
from typing import IO, Any

from sqlmodel import Session

from services.sync_hub.risk import repository
from services.sync_hub.risk.models import FamilyRiskReportRow
from services.sync_hub.risk.schemas import RiskFilters, RiskQuery
from shared.clock import as_utc
from shared.contracts.common import Page
from shared.contracts.hub import SourceSystem
from shared.contracts.risk import ChildAtRisk, FamilyAtRisk, RiskActor, RiskReason, RiskSummary
from shared.errors import Conflict, InvalidInput, NotFound
from shared.nik import mask

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = ("periode", "no_kk", "kode_wilayah", "nik", "age", "reason", "actor", "error", "system", "student_id",
           "school", "npsn", "region", "months_below", "evidence", "detail")


def the_report(session: Session, periode: str | None) -> FamilyRiskReportRow:
    row = repository.report(session, periode)
    if row is None:
        if periode:
            raise NotFound.field("periode", "report_built", f"no families-at-risk report for {periode} (a sync run "
                                 "with that period builds it)")
        raise NotFound.field("periode", "report_built", "no families-at-risk report yet (a sync run builds it)")
    return row


def _filters(q: RiskFilters) -> repository.Filters:
    if q.province and q.kabupaten and not q.kabupaten.startswith(q.province):
        raise InvalidInput.field("kabupaten", "within_province", "kabupaten is not in the province asked for")
    return repository.Filters(province=q.province, kabupaten=q.kabupaten, school=q.school,
                              reason=q.reason.value if q.reason else None)


def _encode(build_id: str, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([build_id, seq]).encode()).decode().rstrip("=")


def _decode(token: str, build_id: str) -> int:
    try:
        raw = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        issued, seq = str(raw[0]), int(raw[1])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued") from exc
    if issued != build_id:
        raise Conflict.field("cursor", "report_rebuilt", "the report was built again since this cursor was issued; "
                             "start again without a cursor")
    return seq


def child(r: dict[str, Any]) -> ChildAtRisk:
    return ChildAtRisk(nik=mask(r["child_nik"]) or None, age=r["age"], reason=RiskReason(r["reason"]),
                       actor=RiskActor(r["actor"]),
                       error=bool(r["error"]), system=SourceSystem(r["system"]) if r["system"] else None,
                       student_id=r["student_id"], school=r["school"], npsn=r["npsn"], region=r["region"],
                       months_below=list(r["months_below"] or []), evidence=r["evidence"], detail=r["detail"])


def _families(periode: str, rows: list[dict[str, Any]]) -> list[FamilyAtRisk]:
    out: list[FamilyAtRisk] = []
    by_seq: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_seq.setdefault(int(r["family_seq"]), []).append(r)
    for group in by_seq.values():
        first = group[0]
        kids = [child(r) for r in group]
        out.append(FamilyAtRisk(periode=periode, no_kk=mask(first["no_kk"]), kode_wilayah=first["family_region"],
                                at_risk=any(k.error for k in kids), reasons=sorted({k.reason for k in kids}),
                                children=kids))
    return out


def page(session: Session, q: RiskQuery) -> Page[FamilyAtRisk]:
    rep = the_report(session, q.periode)
    filters = _filters(q)
    after = _decode(q.cursor, rep.build_id) if q.cursor else 0
    seqs = repository.families(session, rep.periode, filters, after, q.limit + 1)
    shown = seqs[:q.limit]
    items = _families(rep.periode, repository.rows_of(session, rep.periode, filters, shown))
    nxt = _encode(rep.build_id, shown[-1]) if len(seqs) > q.limit else None
    return Page[FamilyAtRisk](items=items, next_cursor=nxt)


def summary(session: Session, periode: str | None) -> RiskSummary:
    rep = the_report(session, periode)
    return RiskSummary.model_validate({**rep.counts, "periode": rep.periode, "sync_run_id": rep.sync_run_id,
                                       "built_at": as_utc(rep.built_at)})


def _line(periode: str, r: dict[str, Any]) -> list[str]:
    return [periode, mask(r["no_kk"]), r["family_region"], mask(r["child_nik"]),
            "" if r["age"] is None else str(r["age"]), r["reason"], r["actor"],
            "true" if r["error"] else "false", r["system"] or "", r["student_id"] or "", r["school"] or "",
            r["npsn"] or "", r["region"], " ".join(str(m) for m in r["months_below"] or []), r["evidence"] or "",
            r["detail"] or ""]


def export_target(session: Session, q: RiskFilters) -> tuple[str, repository.Filters]:
    """The period to export and its filters (checked before any byte is sent)."""
    return the_report(session, q.periode).periode, _filters(q)


def csv_file(session: Session, periode: str, filters: repository.Filters) -> IO[bytes]:
    """The CSV file, written in the request's transaction to a spooled temporary file (a batch of families at a
    time), then streamed: a reader that stops half-way holds no transaction open."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  (closed by file_chunks)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in repository.iter_rows(session, periode, filters):
        writer.writerow(_line(periode, r))
    text.detach()
    out.seek(0)
    return out


def xlsx_file(session: Session, periode: str, filters: repository.Filters) -> IO[bytes]:
    """The XLSX workbook (a zip: written whole, to a spooled temporary file, then streamed)."""
    from openpyxl import Workbook

    from shared.spreadsheet import xlsx_row

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"families at risk {periode}")
    ws.append(list(COLUMNS))
    for r in repository.iter_rows(session, periode, filters):
        ws.append(xlsx_row(_line(periode, r)))
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115  (closed by file_chunks)
    wb.save(out)
    out.seek(0)
    return out


def file_chunks(f: IO[bytes], size: int = 1 << 16) -> Iterable[bytes]:
    with f:
        while chunk := f.read(size):
            yield chunk
