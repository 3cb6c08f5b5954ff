"""The pure part of attendance import and export: whom a row names, what an upsert changes, what the VERKOM
form can show."""

from __future__ import annotations

from datetime import date

import pytest

from shared import kehadiran_import as ki
from shared.errors import Conflict, InvalidInput

NIK_A, NIK_B = "3201010101140001", "3201010101140002"
DIRECTORY = ki.Directory([ki.Student("a", "0000000001", NIK_A), ki.Student("b", "0000000002", NIK_B),
                          ki.Student("c", "0000000003", None), ki.Student("d", "0000000003", None),
                          ki.Student("e", None, None, keluar=date(2026, 8, 10))])


@pytest.mark.parametrize(("nisn", "nik", "found", "problem"), [
    ("0000000001", None, "a", None),
    (None, NIK_B, "b", None),
    ("0000000009", NIK_B, "b", None),  # a NISN naming no one: the NIK decides
    ("0000000001", NIK_B, None, ("NIK Siswa", "identity_mismatch")),
    ("0000000003", None, None, ("NISN", "ambiguous")),
    ("0000000009", None, None, ("NISN", "not_in_school")),
    (None, "3201010101149999", None, ("NIK Siswa", "not_in_school")),
])
def test_a_row_names_one_student_by_nisn_else_nik(nisn: str | None, nik: str | None, found: str | None,
                                                  problem: tuple[str, str] | None) -> None:
    sid, why = DIRECTORY.resolve(nisn, nik)
    assert sid == found and (why[:2] if why else None) == problem
    assert why is None or (NIK_A not in why[2] and NIK_B not in why[2])


def test_plan_is_an_upsert_that_reports_what_changed() -> None:
    held = {("a", 2026, 7): ki.Counts(20, 0, 0, 0), ("b", 2026, 7): ki.Counts(20, 1, 0, 0)}
    incoming = {("a", 2026, 7): ki.Counts(20, 0, 0, 0), ("b", 2026, 7): ki.Counts(20, 2, 0, 0),
                ("c", 2026, 8): ki.Counts(21, 0, 0, 0)}
    plan = ki.plan(incoming, held)
    assert plan.inserts == [(("c", 2026, 8), ki.Counts(21, 0, 0, 0))]
    assert plan.updates == [(("b", 2026, 7), ki.Counts(20, 2, 0, 0))]
    assert plan.unchanged == 1 and plan.students == ["b", "c"]
    assert ki.plan(held, held).students == []


def _form(sid: str, nisn: str | None, nik: str | None, active: bool = True) -> ki.FormStudent:
    return ki.FormStudent(sid, None, "IBU", nik, nisn, "ANAK", "SD", "3", active)


def test_the_form_shows_who_it_can_name_and_one_effective_days_per_month() -> None:
    students = [_form("a", "0000000001", NIK_A), _form("c", "0000000003", None), _form("e", None, None, False),
                _form("b", "12345", NIK_B)]  # b: a NISN the form cannot hold, named by its NIK
    held = {("a", 2026, 7): ki.Counts(20, 1, 0, 0), ("b", 2026, 7): ki.Counts(20, 0, 0, 0)}
    sheet, omitted = ki.to_verkom("12345678", "SD", 2026, 3, students, DIRECTORY, held, "hari_efektif")
    assert omitted == 1  # c shares its NISN with d and has no NIK; e left and has no month held: not on the form
    assert [r.nisn or r.nik_siswa for r in sheet.rows] == ["0000000001", NIK_B]
    assert sheet.hari_efektif == (20, None, None) and sheet.rows[0].bulan[1] is None
    held[("b", 2026, 7)] = ki.Counts(21, 0, 0, 0)
    with pytest.raises(Conflict) as exc:
        ki.to_verkom("12345678", "SD", 2026, 3, students, DIRECTORY, held, "hari_efektif")
    assert (exc.value.errors[0].field, exc.value.errors[0].rule) == ("hari_efektif", "hari_efektif_differs")


def test_the_own_table_needs_its_columns_and_reads_xlsx_numbers() -> None:
    layout = ki.Layout(id="siswa_id", names={k: k for k in ("tahun", "bulan", "hari_efektif", "alpa", "izin", "sakit")},
                       derived=("jumlah", "persen", "memenuhi"))
    problems = ki.Problems()
    header = ["siswa_id", "tahun", "bulan", "hari_efektif", "sakit", "izin", "alpa", "jumlah"]
    rows = [(2, ["a", 2026, 7.0, 20, 0, 0, 1, 1]), (3, ["e", "2026", "9", "20", "0", "0", "0", None])]
    got = ki.from_table(header, rows, layout, DIRECTORY, 2026, 3, problems)
    assert got == {("a", 2026, 7): ki.Counts(20, 1, 0, 0)}
    assert [(e.field, e.rule) for e in problems.items] == [("rows[3].bulan", "after_keluar")]
    with pytest.raises(InvalidInput):
        problems.raise_if_any()
    problems = ki.Problems()
    assert ki.from_table(["nisn", "tahun", "bulan", "hari_efektif", "alpa"], [], layout, DIRECTORY, 2026, 3,
                         problems) == {}
    assert {(e.field, e.rule) for e in problems.items} == {("rows[1].izin", "missing_column"),
                                                           ("rows[1].sakit", "missing_column")}
