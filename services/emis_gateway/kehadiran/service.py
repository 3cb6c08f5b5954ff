"""Rules of the kehadiran domain: a month's counts and what PKH reads from them (``shared.kehadiran``), and the
import and export of a madrasah's attendance for one PKH period (``shared.kehadiran_import``).

Import (VERKOM CSV, or this gateway's own CSV/XLSX with EMIS's field names): the whole file is read, matched
to the madrasah's students and checked first; any problem makes it a 422 naming each one by row, column and
rule, and nothing is written. A clean file upserts its months in the request's transaction; a student with
a month inserted or changed gets a new ``updated_at`` (it moves in the hub's feed), one whose months the
file repeats does not. Months the file does not give (a blank VERKOM block, a row left out) stay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.base import utcnow
from services.emis_gateway.kehadiran import repository
from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.madrasah.models import MadrasahRow
from services.emis_gateway.spreadsheet import files
from shared import kehadiran, verkom
from shared import kehadiran_import as ki
from shared.contracts.common import KehadiranImportReport
from shared.contracts.emis import FileFormat, KehadiranSiswa, KehadiranSiswaRecord
from shared.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger("emis_gateway.kehadiran")
VERKOM_MEDIA_TYPE = "text/csv; charset=utf-8"

# The rule names of shared.kehadiran under this system's field names.
FIELD_NAMES = {"tahun": "tahun", "bulan": "bulan", "hari_efektif": "hari_efektif", "alpa": "alpa", "izin": "izin",
               "sakit": "sakit"}
# The own spreadsheet layout: one row per (student, month), EMIS's field names as headers.
LAYOUT = ki.Layout(id="siswa_id", names=FIELD_NAMES,
                   derived=("jumlah_tidak_hadir", "persentase_kehadiran", "memenuhi_syarat_pkh"))


def violations(rec: KehadiranSiswaRecord, period: list[tuple[int, int]] | None = None) -> list[kehadiran.Violation]:
    return kehadiran.check_month(tahun=rec.tahun, bulan=rec.bulan, hari_efektif=rec.hari_efektif, alpa=rec.alpa,
                                 izin=rec.izin, sakit=rec.sakit, names=FIELD_NAMES, period=period)


def to_contract(row: Mapping[str, Any]) -> KehadiranSiswa:
    he, a, i, s = row["hari_efektif"], row["alpa"], row["izin"], row["sakit"]
    return KehadiranSiswa(siswa_id=row["siswa_id"], tahun=row["tahun"], bulan=row["bulan"], hari_efektif=he,
                          sakit=s, izin=i, alpa=a, jumlah_tidak_hadir=a + i + s,
                          persentase_kehadiran=kehadiran.persen(he, a, i, s),
                          memenuhi_syarat_pkh=kehadiran.memenuhi(he, a, i, s))


def of_students(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[KehadiranSiswa]]:
    return {sid: [to_contract(r) for r in rows] for sid, rows in repository.of_students(session, siswa_ids).items()}


# -- import and export of a period ----------------------------------------------------------------------

def _madrasah(session: Session, nsm: str) -> MadrasahRow:
    row = madrasah_repository.get(session, nsm)
    if row is None:
        raise NotFound.field("nsm", "not_found", f"no madrasah or pesantren numbered {nsm}")
    return row


def _npsn(row: MadrasahRow) -> str:
    if not row.npsn:
        raise Conflict.field("npsn", "no_npsn", "the VERKOM form names a school by its NPSN and this institution "
                             "has none: use the spreadsheet layout (kehadiran/import, kehadiran/export)")
    return row.npsn


def _students(session: Session, nsm: str, *, lock: bool = False) -> tuple[list[sa.RowMapping], ki.Directory]:
    rows = repository.students_of(session, nsm, lock=lock)
    return rows, ki.Directory(ki.Student(r["siswa_id"], r["nisn"], r["nik"]) for r in rows)


def _held(session: Session, siswa_ids: Sequence[str], tahun: int, tahap: int) -> dict[ki.Key, ki.Counts]:
    return {(r["siswa_id"], r["tahun"], r["bulan"]): ki.Counts(r["hari_efektif"], r["alpa"], r["izin"], r["sakit"])
            for r in repository.held(session, siswa_ids, kehadiran.months_of(tahun, tahap))}


def _apply(session: Session, nsm: str, incoming: Mapping[ki.Key, ki.Counts], fmt: str, rows: int, tahun: int,
           tahap: int, dry_run: bool) -> KehadiranImportReport:
    plan = ki.plan(incoming, _held(session, sorted({k[0] for k in incoming}), tahun, tahap))
    if not dry_run and plan.students:
        now = utcnow()
        repository.insert_months(session, [
            {"siswa_id": sid, "tahun": y, "bulan": m, "hari_efektif": c.hari_efektif, "sakit": c.sakit,
             "izin": c.izin, "alpa": c.alpa, "updated_at": now} for (sid, y, m), c in plan.inserts])
        repository.update_months(session, [
            {"b_siswa_id": sid, "b_tahun": y, "b_bulan": m, "hari_efektif": c.hari_efektif, "sakit": c.sakit,
             "izin": c.izin, "alpa": c.alpa, "updated_at": now} for (sid, y, m), c in plan.updates])
        repository.touch_students(session, plan.students, now)
    log.info("kehadiran %s import into %s (%d tahap %d): %d rows, %d inserted, %d updated, %d unchanged%s", fmt,
             nsm, tahun, tahap, rows, len(plan.inserts), len(plan.updates), plan.unchanged,
             " (dry run)" if dry_run else "")
    return KehadiranImportReport(format=fmt, tahun=tahun, tahap=tahap, rows=rows, inserted=len(plan.inserts),
                                 updated=len(plan.updates), unchanged=plan.unchanged,
                                 students_changed=len(plan.students), dry_run=dry_run)


def import_verkom(session: Session, nsm: str, data: bytes, tahun: int, tahap: int, *,
                  dry_run: bool = False) -> KehadiranImportReport:
    """A VERKOM CSV of the madrasah for the period: all its months or, with any problem, none."""
    npsn = _npsn(_madrasah(session, nsm))
    sheet = ki.read_verkom(data, tahun, tahap)
    problems = ki.Problems()
    if sheet.npsn != npsn:
        problems.add(0, "NPSN", "other_school", f"the form is of NPSN {sheet.npsn}, this madrasah's is {npsn}")
    _, directory = _students(session, nsm, lock=True)
    incoming = ki.from_verkom(sheet, directory, problems)
    problems.raise_if_any()
    return _apply(session, nsm, incoming, "verkom", len(sheet.rows), tahun, tahap, dry_run)


def export_verkom(session: Session, nsm: str, tahun: int, tahap: int) -> tuple[bytes, str, str, int]:
    """The madrasah's VERKOM CSV of the period: (content, media type, file name, students left off the form
    because no NISN or NIK names them alone)."""
    madrasah = _madrasah(session, nsm)
    npsn = _npsn(madrasah)
    rows, directory = _students(session, nsm)
    held = _held(session, [r["siswa_id"] for r in rows], tahun, tahap)
    form = [ki.FormStudent(
        r["siswa_id"], *((r["nik_ibu"], r["nama_ibu_kandung"]) if r["nik_ibu"] or r["nama_ibu_kandung"]
                         else (r["nik_wali"], r["nama_wali"])),
        r["nik"], r["nisn"], r["nama"], madrasah.jenjang, str(r["tingkat"]), bool(r["status_aktif"]),
        f"Keluar {r['tanggal_keluar'].isoformat()}" if r["tanggal_keluar"] else "") for r in rows]
    sheet, omitted = ki.to_verkom(npsn, madrasah.nama, tahun, tahap, form, directory, held, "hari_efektif")
    return verkom.write(sheet), VERKOM_MEDIA_TYPE, f"verkom_{nsm}_{tahun}_tahap{tahap}.csv", omitted


def import_table(session: Session, nsm: str, data: bytes, fmt: FileFormat, tahun: int, tahap: int, *,
                 dry_run: bool = False) -> KehadiranImportReport:
    """The own layout (CSV or XLSX, one row per student and month, EMIS field names) for the period."""
    _madrasah(session, nsm)
    try:
        header, rows = files.read_table(data, fmt)
    except files.FileError as exc:
        raise InvalidInput.field("file", exc.rule, exc.message) from exc
    problems = ki.Problems()
    _, directory = _students(session, nsm, lock=True)
    incoming = ki.from_table(header, rows, LAYOUT, directory, tahun, tahap, problems)
    problems.raise_if_any()
    return _apply(session, nsm, incoming, fmt.value, sum(1 for _, cells in rows if any(cells)), tahun, tahap,
                  dry_run)


def export_table(session: Session, nsm: str, fmt: FileFormat, tahun: int, tahap: int) -> tuple[bytes, str, str]:
    """Every month the madrasah's students hold in the period, in the own layout: (content, media type, name)."""
    _madrasah(session, nsm)
    rows, _ = _students(session, nsm)
    held = _held(session, [r["siswa_id"] for r in rows], tahun, tahap)
    header, table = ki.to_table(LAYOUT, [(r["siswa_id"], r["nisn"], r["nama"]) for r in rows], held, tahun, tahap)
    content = files.write(fmt, header, table, sheet="Kehadiran")
    return content, files.MEDIA_TYPES[fmt], f"kehadiran_{nsm}_{tahun}_tahap{tahap}.{fmt.value}"
