"""The VERKOM CSV: what is written reads back whatever the quirks (delimiter, BOM, sep= line, month spellings),
and a bad cell is reported with its row, column and rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import verkom
from shared.kehadiran import months_of

NAME = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ ',.-;", min_size=1, max_size=30).map(str.strip).filter(bool)
DIGITS16 = st.from_regex(r"\A\d{16}\Z", fullmatch=True)
DIGITS10 = st.from_regex(r"\A\d{10}\Z", fullmatch=True)


@st.composite
def sheets(draw: st.DrawFn) -> verkom.VerkomSheet:
    year = draw(st.integers(2020, 2030))
    tahap = draw(st.integers(1, 4))
    months = tuple(months_of(year, tahap))
    days = tuple(draw(st.lists(st.integers(1, 31), min_size=3, max_size=3)))
    unreported = draw(st.sets(st.integers(0, 2), max_size=3))  # months no row reports: HARI EFEKTIF blank
    days = tuple(None if k in unreported else he for k, he in enumerate(days))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        bulan: list[verkom.VerkomBulan | None] = []
        for he in days:
            if he is None or draw(st.integers(0, 5)) == 0:  # a blank block: not reported for this student
                bulan.append(None)
                continue
            alpa = draw(st.integers(0, he))
            izin = draw(st.integers(0, he - alpa))
            sakit = draw(st.integers(0, he - alpa - izin))
            bulan.append(verkom.VerkomBulan(alpa, izin, sakit))
        rows.append(verkom.VerkomBaris(draw(DIGITS16), draw(NAME), draw(DIGITS16), draw(DIGITS10), draw(NAME), "SD",
                                       str(draw(st.integers(1, 12))), tuple(bulan), draw(st.sampled_from(["", "ok"])),
                                       draw(NAME)))
    return verkom.VerkomSheet(draw(st.from_regex(r"\A\d{8}\Z", fullmatch=True)), draw(NAME), months, days,
                              tuple(rows))


def _strip_rows(sheet: verkom.VerkomSheet) -> verkom.VerkomSheet:
    rows = tuple(verkom.VerkomBaris(*(getattr(r, f) for f in verkom.VerkomBaris.__slots__[:-1])) for r in sheet.rows)
    return verkom.VerkomSheet(sheet.npsn, sheet.nama_sekolah, sheet.months, sheet.hari_efektif, rows)


@settings(max_examples=40, deadline=None)
@given(sheets(), st.sampled_from([";", ","]), st.booleans(), st.booleans())
def test_round_trip_with_every_quirk(sheet: verkom.VerkomSheet, delimiter: str, bom: bool, sep_line: bool) -> None:
    data = verkom.write(sheet, delimiter=delimiter, bom=bom, sep_line=sep_line)
    assert data.startswith(b"\xef\xbb\xbf") is bom
    back = verkom.read(data, period=list(sheet.months))
    assert _strip_rows(back) == sheet


@settings(max_examples=25, deadline=None)
@given(sheets(), st.sampled_from([";", ","]))
def test_month_spellings_and_missing_year(sheet: verkom.VerkomSheet, delimiter: str) -> None:
    data = verkom.write(sheet, delimiter=delimiter, bom=False, sep_line=False).decode()
    spell = {"FEBRUARI": "PEBRUARI", "NOVEMBER": "NOPEMBER", "JULI": "Juli", "MEI": "Mei"}
    for (y, m) in sheet.months:
        name = verkom.MONTH_NAMES[m - 1]
        data = data.replace(f"{name} {y}", spell.get(name, name))  # no year: the caller's
    back = verkom.read(data.encode(), year=sheet.months[0][0])
    assert back.months == sheet.months


@given(st.sampled_from(["PEBRUARI", "FEBRUARI", "Pebruari 2026", "NOPEMBER", "nopember 2026", "NOVEMBER"]))
def test_month_variants(cell: str) -> None:
    assert verkom.parse_month(cell, 2026) in ((2026, 2), (2026, 11))


def _one_row(**cells: str) -> bytes:
    row = verkom.VerkomBaris("3201010101900001", "SITI", "3201010101140002", "0141234567", "ANAK", "SD", "3",
                             (verkom.VerkomBulan(1, 0, 0),) * 3)
    sheet = verkom.VerkomSheet("12345678", "SD 1", tuple(months_of(2026, 3)), (20, 21, 22), (row,))
    text = verkom.write(sheet, bom=False, sep_line=False).decode()
    for old, new in cells.items():
        text = text.replace(old, new, 1)
    return text.encode()


@pytest.mark.parametrize(("old", "new", "column", "rule"), [
    ("AGUSTUS 2026;;;;;SEPTEMBER", "AGUSTUS 2026;;;;;OKTOBER", "BULAN 3", "outside_period"),
    (";1;0;0;1;95,0;", ";-1;0;0;-1;95,0;", "JULI Alpa", "negative"),
    (";1;0;0;1;95,0;", ";x;0;0;1;95,0;", "JULI Alpa", "integer"),
    (";1;0;0;1;95,0;", ";19;2;0;21;0,0;", "JULI Jml", "exceeds_hari_efektif"),
    (";1;0;0;1;95,0;", ";1;0;0;2;95,0;", "JULI Jml", "jml_mismatch"),
    (";1;0;0;1;95,0;", ";1;0;0;1;90,0;", "JULI %", "persen_mismatch"),
    ("0141234567", "01412", "NISN", "pattern"),
])
def test_bad_cell_named_by_row_column_rule(old: str, new: str, column: str, rule: str) -> None:
    with pytest.raises(verkom.VerkomError) as exc:
        verkom.read(_one_row(**{old: new}), period=months_of(2026, 3))
    problems = [(p.column, p.rule) for p in exc.value.problems]
    assert (column, rule) in problems
    assert all("3201010101" not in p.message for p in exc.value.problems)  # no NIK in a message


def test_clean_row_reads_and_header_must_be_verkom() -> None:
    sheet = verkom.read(_one_row(), period=months_of(2026, 3))
    assert sheet.rows[0].bulan[0] == verkom.VerkomBulan(1, 0, 0) and sheet.rows[0].row == 7
    with pytest.raises(verkom.VerkomError) as exc:
        verkom.read(_one_row(**{"Nama Pendamping": "Pendamping"}))
    assert exc.value.problems[0].rule == "columns"
    with pytest.raises(verkom.VerkomError) as exc:
        verkom.read(b"\xff\xfe")
    assert exc.value.problems[0].rule == "utf8"


def _set_cells(data: bytes, line: int, cells: dict[int, str]) -> bytes:
    """``data`` (a ``;`` sheet) with cells of 1-based ``line`` replaced (0-based column -> text)."""
    lines = data.decode("utf-8-sig").split("\r\n")
    row = lines[line - 1].split(";")
    for j, text in cells.items():
        row[j] = text
    lines[line - 1] = ";".join(row)
    return "\r\n".join(lines).encode()


def test_blank_blocks_are_months_not_reported() -> None:
    """A student who left in July has blank August and September blocks; a month no row reports may leave its
    HARI EFEKTIF blank; but a month a row reports needs it, and a half-filled block is refused."""
    left = verkom.VerkomBaris("", "", "", "0141234568", "KELUAR", "SD", "3", (verkom.VerkomBulan(2, 0, 0), None, None))
    sheet = verkom.VerkomSheet("12345678", "SD 1", tuple(months_of(2026, 3)), (20, 21, None), (left,))
    data = verkom.write(sheet)
    back = verkom.read(data, period=months_of(2026, 3))
    assert back.hari_efektif == (20, 21, None) and back.rows[0].bulan == (verkom.VerkomBulan(2, 0, 0), None, None)
    september = len(verkom.FRONT) + 2 * len(verkom.PER_MONTH)
    with pytest.raises(verkom.VerkomError) as exc:  # the row now reports September: its HARI EFEKTIF is blank
        verkom.read(_set_cells(data, 8, {september: "0", september + 1: "0", september + 2: "0"}),
                    period=months_of(2026, 3))
    assert [(p.row, p.column, p.rule) for p in exc.value.problems] == [(6, "HARI EFEKTIF 3", "required")]
    half = _set_cells(_set_cells(data, 6, {september: "20"}), 8, {september: "1"})  # Izin, Sakit left empty
    with pytest.raises(verkom.VerkomError) as exc:
        verkom.read(half, period=months_of(2026, 3))
    assert {(p.column, p.rule) for p in exc.value.problems} == {("SEPTEMBER Izin", "integer"),
                                                               ("SEPTEMBER Sakit", "integer")}
