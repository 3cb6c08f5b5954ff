"""Rules of the kehadiran domain: a month's counts and what PKH reads from them (``shared.kehadiran``), and the
import and export of a school's attendance for one PKH period (``shared.kehadiran_import``).

Import (VERKOM CSV, or this gateway's own CSV/XLSX with Dapodik's field names): the whole file is read,
matched to the school's students and checked first (also: no month after the one a student left in,
``after_keluar``, as the loader); any problem makes it a 422 naming each one by row, column and rule, and
nothing is written. A clean file upserts its months in the request's transaction; the students with a month
inserted or changed take one new change number and ``last_update`` (they move in the hub's feed, as when the
loader adds attendance), those whose months the file repeats do not. Months the file does not give stay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.kehadiran import repository
from services.dapodik_gateway.sekolah import repository as sekolah_repository
from services.dapodik_gateway.sekolah.models import SekolahRow
from services.dapodik_gateway.sinkronisasi import service as sync_service
from shared import kehadiran, verkom
from shared import kehadiran_import as ki
from shared import spreadsheet as sheets
from shared.contracts.common import KehadiranImportReport
from shared.contracts.dapodik import KehadiranPd, KehadiranPdRecord
from shared.errors import InvalidInput, NotFound
from shared.spreadsheet import FileFormat

log = logging.getLogger("dapodik_gateway.kehadiran")
VERKOM_MEDIA_TYPE = "text/csv; charset=utf-8"

# The names of shared.kehadiran's rules under Dapodik's field names.
FIELD_NAMES = {"tahun": "tahun", "bulan": "bulan", "hari_efektif": "jml_hari_efektif",
               "alpa": "jml_tanpa_keterangan", "izin": "jml_izin", "sakit": "jml_sakit"}
# The own spreadsheet layout: one row per (student, month), Dapodik's field names as headers.
LAYOUT = ki.Layout(id="peserta_didik_id", names=FIELD_NAMES,
                   derived=("jml_tidak_hadir", "persen_hadir", "memenuhi_85_persen"))


def violations(rec: KehadiranPdRecord, period: list[tuple[int, int]] | None = None) -> list[kehadiran.Violation]:
    return kehadiran.check_month(tahun=rec.tahun, bulan=rec.bulan, hari_efektif=rec.jml_hari_efektif,
                                 alpa=rec.jml_tanpa_keterangan, izin=rec.jml_izin, sakit=rec.jml_sakit,
                                 names=FIELD_NAMES, period=period)


def to_contract(row: Mapping[str, Any]) -> KehadiranPd:
    he, a, i, s = row["jml_hari_efektif"], row["jml_tanpa_keterangan"], row["jml_izin"], row["jml_sakit"]
    return KehadiranPd(peserta_didik_id=row["peserta_didik_id"], tahun=row["tahun"], bulan=row["bulan"],
                       jml_hari_efektif=he, jml_sakit=s, jml_izin=i, jml_tanpa_keterangan=a,
                       jml_tidak_hadir=a + i + s, persen_hadir=kehadiran.persen(he, a, i, s),
                       memenuhi_85_persen=kehadiran.memenuhi(he, a, i, s))


def month_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """``to_contract`` as plain data in ``KehadiranPd``'s field order (``pydantic_core.to_json`` of it is the model's
    JSON)."""
    he, a, i, s = row["jml_hari_efektif"], row["jml_tanpa_keterangan"], row["jml_izin"], row["jml_sakit"]
    return {"peserta_didik_id": row["peserta_didik_id"], "tahun": row["tahun"], "bulan": row["bulan"],
            "jml_hari_efektif": he, "jml_sakit": s, "jml_izin": i, "jml_tanpa_keterangan": a,
            "jml_tidak_hadir": a + i + s, "persen_hadir": float(kehadiran.persen(he, a, i, s)),
            "memenuhi_85_persen": kehadiran.memenuhi(he, a, i, s)}


def of_students(session: Session, peserta_didik_ids: Sequence[str]) -> dict[str, list[KehadiranPd]]:
    """The months of a page of students, read set-wise."""
    return {pid: [to_contract(r) for r in rows]
            for pid, rows in repository.of_students(session, peserta_didik_ids).items()}


# -- import and export of a period ----------------------------------------------------------------------

def _sekolah(session: Session, npsn: str) -> SekolahRow:
    row = sekolah_repository.by_npsn(session, npsn)
    if row is None:
        raise NotFound.field("npsn", "not_found", "no school with this NPSN")
    return row


def _students(session: Session, sekolah_id: str, *, lock: bool = False
              ) -> tuple[list[sa.RowMapping], ki.Directory]:
    """The school's students; ``lock`` (an import, which changes records): the gateway's lock order (README,
    *Locks*), the change counter first, then the school's students in id order, then their months."""
    if lock:
        sync_service.begin_change(session.connection())
    rows = repository.students_of(session, sekolah_id, lock=lock)
    return rows, ki.Directory(ki.Student(r["peserta_didik_id"], r["nisn"], r["nik"], r["tanggal_keluar"])
                              for r in rows)


def _held(session: Session, ids: Sequence[str], tahun: int, tahap: int) -> dict[ki.Key, ki.Counts]:
    return {(r["peserta_didik_id"], r["tahun"], r["bulan"]): ki.Counts(
        r["jml_hari_efektif"], r["jml_tanpa_keterangan"], r["jml_izin"], r["jml_sakit"])
        for r in repository.held(session, ids, kehadiran.months_of(tahun, tahap))}


def _apply(session: Session, npsn: str, incoming: Mapping[ki.Key, ki.Counts], fmt: str, rows: int, tahun: int,
           tahap: int, client: str) -> KehadiranImportReport:
    plan = ki.plan(incoming, _held(session, sorted({k[0] for k in incoming}), tahun, tahap))
    if plan.students:
        now = datetime.now(UTC)
        conn = session.connection()
        seq = sync_service.next_change_seq(conn)  # one change for the whole import
        repository.insert_months(conn, [
            {"peserta_didik_id": pid, "tahun": y, "bulan": m, "jml_hari_efektif": c.hari_efektif,
             "jml_sakit": c.sakit, "jml_izin": c.izin, "jml_tanpa_keterangan": c.alpa, "last_update": now}
            for (pid, y, m), c in plan.inserts])
        repository.update_months(conn, [
            {"b_id": pid, "b_tahun": y, "b_bulan": m, "jml_hari_efektif": c.hari_efektif, "jml_sakit": c.sakit,
             "jml_izin": c.izin, "jml_tanpa_keterangan": c.alpa, "last_update": now}
            for (pid, y, m), c in plan.updates])
        repository.mark_changed(conn, plan.students, now, seq)
    log.info("kehadiran %s import into %s (%d tahap %d) by %s: %d rows, %d inserted, %d updated, %d unchanged",
             fmt, npsn, tahun, tahap, client, rows, len(plan.inserts), len(plan.updates), plan.unchanged)
    return KehadiranImportReport(format=fmt, tahun=tahun, tahap=tahap, rows=rows, inserted=len(plan.inserts),
                                 updated=len(plan.updates), unchanged=plan.unchanged,
                                 students_changed=len(plan.students))


def import_verkom(session: Session, npsn: str, data: bytes, tahun: int, tahap: int,
                  client: str) -> KehadiranImportReport:
    """A VERKOM CSV of the school for the period: all its months or, with any problem, none."""
    sekolah = _sekolah(session, npsn)
    sheet = ki.read_verkom(data, tahun, tahap)
    problems = ki.Problems()
    if sheet.npsn != npsn:
        problems.add(0, "NPSN", "other_school", f"the form is of NPSN {sheet.npsn}, not of {npsn}")
    _, directory = _students(session, sekolah.sekolah_id, lock=True)
    incoming = ki.from_verkom(sheet, directory, problems)
    problems.raise_if_any()
    return _apply(session, npsn, incoming, "verkom", len(sheet.rows), tahun, tahap, client)


def export_verkom(session: Session, npsn: str, tahun: int, tahap: int) -> tuple[bytes, str, str, int]:
    """The school's VERKOM CSV of the period: (content, media type, file name, students left off the form
    because no NISN or NIK names them alone)."""
    sekolah = _sekolah(session, npsn)
    rows, directory = _students(session, sekolah.sekolah_id)
    held = _held(session, [r["peserta_didik_id"] for r in rows], tahun, tahap)
    form = [ki.FormStudent(
        r["peserta_didik_id"], *((r["nik_ibu"], r["nama_ibu_kandung"]) if r["nik_ibu"] or r["nama_ibu_kandung"]
                                 else (r["nik_wali"], r["nama_wali"])),
        r["nik"], r["nisn"], r["nama"], sekolah.bentuk_pendidikan, str(r["tingkat_pendidikan_id"]),
        r["tanggal_keluar"] is None,
        f"Keluar {r['tanggal_keluar'].isoformat()}" if r["tanggal_keluar"] else "") for r in rows]
    sheet, omitted = ki.to_verkom(npsn, sekolah.nama, tahun, tahap, form, directory, held, "jml_hari_efektif")
    return verkom.write(sheet), VERKOM_MEDIA_TYPE, f"verkom_{npsn}_{tahun}_tahap{tahap}.csv", omitted


def import_table(session: Session, npsn: str, data: bytes, fmt: FileFormat, tahun: int, tahap: int,
                 client: str) -> KehadiranImportReport:
    """The own layout (CSV or XLSX, one row per student and month, Dapodik field names) for the period."""
    sekolah = _sekolah(session, npsn)
    try:
        header, rows = sheets.read(data, fmt)
    except sheets.FileError as exc:
        raise InvalidInput.field("file", exc.rule, exc.message) from exc
    problems = ki.Problems()
    _, directory = _students(session, sekolah.sekolah_id, lock=True)
    incoming = ki.from_table(header, rows, LAYOUT, directory, tahun, tahap, problems)
    problems.raise_if_any()
    return _apply(session, npsn, incoming, fmt.value, len(rows), tahun, tahap, client)


def export_table(session: Session, npsn: str, fmt: FileFormat, tahun: int, tahap: int) -> tuple[bytes, str, str]:
    """Every month the school's students hold in the period, in the own layout: (content, media type, name)."""
    sekolah = _sekolah(session, npsn)
    rows, _ = _students(session, sekolah.sekolah_id)
    held = _held(session, [r["peserta_didik_id"] for r in rows], tahun, tahap)
    header, table = ki.to_table(LAYOUT, [(r["peserta_didik_id"], r["nisn"], r["nama"]) for r in rows], held,
                                tahun, tahap)
    content = sheets.write(fmt, header, table, sheet="Kehadiran")
    return content, sheets.MEDIA_TYPES[fmt], f"kehadiran_{npsn}_{tahun}_tahap{tahap}.{fmt.value}"
