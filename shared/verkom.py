"""The VERKOM CSV ("Form Verifikasi Komitmen Pendidikan", AUDIT §5.1): read and write, for both gateways.

Layout (one school, one PKH quarter), cells separated by ``;`` or ``,``::

    sep=;                                        optional (Excel's separator line)
    FORM VERIFIKASI KOMITMEN PENDIDIKAN          title
    NPSN :;12345678
    Nama Sekolah :;SD NEGERI 1 CONTOH
    BULAN;;;;;;;;JULI 2026;;;;;AGUSTUS 2026;;;;;SEPTEMBER 2026;;;;;;     the quarter's three months
    HARI EFEKTIF;;;;;;;;22;;;;;21;;;;;20;;;;;;                          effective days of each month
    No;NIK Pengurus;Nama Pengurus;NIK Siswa;NISN;Nama Siswa;Bentuk Pendidikan;Tingkat Pendidikan;
        Alpa;Izin;Sakit;Jml;%   (three times: one block per month);Ket;Nama Pendamping      25 columns
    1;3201...;SITI AMINAH;3201...;0123456789;AHMAD;SD;3;0;1;0;1;95.5;...;;BUDI

Quirks read: a UTF-8 BOM, a ``sep=`` first line, ``;`` or ``,`` (sniffed from the header row when there is no
``sep=`` line), label case and trailing colons, month names as forms spell them (``PEBRUARI``, ``NOPEMBER``,
``AGUSTUS``, ``Juli``...) with or without a year (without one, the caller's year), ``%`` written ``95,5`` or
``95.5`` (a ``,`` decimal needs a ``;`` delimiter or quotes), ``Jml`` and ``%`` may be empty. Whatever is
written in ``Jml`` / ``%`` must agree with the counts. A month a row does not report (a student who left
before it, a month not yet recorded) is a blank block: its five cells all empty (``None`` in ``bulan``); a
month no row reports may leave its ``HARI EFEKTIF`` empty too (``None``). Every problem is collected (row,
column, rule); nothing is returned unless the whole file is clean. NIKs are never put into a message.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.kehadiran import MAX_HARI_EFEKTIF, persen

TITLE = "FORM VERIFIKASI KOMITMEN PENDIDIKAN"
FRONT = ("No", "NIK Pengurus", "Nama Pengurus", "NIK Siswa", "NISN", "Nama Siswa", "Bentuk Pendidikan",
         "Tingkat Pendidikan")
PER_MONTH = ("Alpa", "Izin", "Sakit", "Jml", "%")
BACK = ("Ket", "Nama Pendamping")
N_COLUMNS = len(FRONT) + 3 * len(PER_MONTH) + len(BACK)  # 25
MONTH_NAMES = ("JANUARI", "FEBRUARI", "MARET", "APRIL", "MEI", "JUNI", "JULI", "AGUSTUS", "SEPTEMBER",
               "OKTOBER", "NOVEMBER", "DESEMBER")
MONTH_SPELLINGS: dict[str, int] = {name: i + 1 for i, name in enumerate(MONTH_NAMES)} | {
    "PEBRUARI": 2, "NOPEMBER": 11, "AGUSTUS": 8, "AGUST": 8, "PEBRUARY": 2, "FEBRUARY": 2, "NOVEMBER": 11,
    "JANUARY": 1, "MARCH": 3, "MAY": 5, "JUNE": 6, "JULY": 7, "AUGUST": 8, "OCTOBER": 10, "DECEMBER": 12}
_MONTH_CELL = re.compile(r"^\s*([A-Za-z]+)\.?\s*(\d{4})?\s*$")
MAX_ERRORS = 200


@dataclass(frozen=True, slots=True)
class VerkomProblem:
    row: int  # 1-based line of the file (0: the file as a whole)
    column: str
    rule: str
    message: str

    @property
    def field(self) -> str:
        return f"rows[{self.row}].{self.column}" if self.row else self.column


class VerkomError(Exception):
    """The file is not a clean VERKOM sheet: every problem found, in file order."""

    def __init__(self, problems: list[VerkomProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the VERKOM file")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class VerkomBulan:
    alpa: int
    izin: int
    sakit: int

    @property
    def jml(self) -> int:
        return self.alpa + self.izin + self.sakit


@dataclass(frozen=True, slots=True)
class VerkomBaris:
    nik_pengurus: str
    nama_pengurus: str
    nik_siswa: str
    nisn: str
    nama_siswa: str
    bentuk_pendidikan: str
    tingkat_pendidikan: str
    bulan: tuple[VerkomBulan | None, ...]  # one per month of the sheet; None: not reported (a blank block)
    ket: str = ""
    nama_pendamping: str = ""
    row: int = 0  # line of the file it was read from (0 when built in code)


@dataclass(frozen=True, slots=True)
class VerkomSheet:
    npsn: str
    nama_sekolah: str
    months: tuple[tuple[int, int], ...]  # three (year, month)
    hari_efektif: tuple[int | None, ...]  # None: blank (only when no row reports that month)
    rows: tuple[VerkomBaris, ...] = field(default_factory=tuple)


def month_label(year: int, month: int) -> str:
    return f"{MONTH_NAMES[month - 1]} {year}"


def parse_month(cell: str, default_year: int | None) -> tuple[int, int] | None:
    m = _MONTH_CELL.match(cell)
    if m is None:
        return None
    month = MONTH_SPELLINGS.get(m.group(1).upper())
    year = int(m.group(2)) if m.group(2) else default_year
    if month is None or year is None:
        return None
    return year, month


def write(sheet: VerkomSheet, *, delimiter: str = ";", bom: bool = True, sep_line: bool = True) -> bytes:
    """The sheet as a VERKOM CSV (``;`` with BOM and ``sep=`` line by default, as Excel opens it)."""
    if delimiter not in (";", ","):
        raise ValueError("delimiter must be ';' or ','")
    buf = io.StringIO()
    if sep_line:
        buf.write(f"sep={delimiter}\r\n")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    pad = [""] * (N_COLUMNS - 2)
    w.writerow([TITLE] + [""] * (N_COLUMNS - 1))
    w.writerow(["NPSN :", sheet.npsn, *pad])
    w.writerow(["Nama Sekolah :", sheet.nama_sekolah, *pad])
    months = ["BULAN"] + [""] * (len(FRONT) - 1)
    days = ["HARI EFEKTIF"] + [""] * (len(FRONT) - 1)
    for (y, m), he in zip(sheet.months, sheet.hari_efektif, strict=True):
        months += [month_label(y, m), "", "", "", ""]
        days += ["" if he is None else str(he), "", "", "", ""]
    w.writerow([*months, "", ""])
    w.writerow([*days, "", ""])
    w.writerow([*FRONT, *(PER_MONTH * len(sheet.months)), *BACK])
    decimal = "," if delimiter == ";" else "."
    for i, r in enumerate(sheet.rows, 1):
        cells = [str(i), r.nik_pengurus, r.nama_pengurus, r.nik_siswa, r.nisn, r.nama_siswa, r.bentuk_pendidikan,
                 r.tingkat_pendidikan]
        for b, he in zip(r.bulan, sheet.hari_efektif, strict=True):
            if b is None:
                cells += ["", "", "", "", ""]
                continue
            if he is None:
                raise ValueError("a month a row reports needs its HARI EFEKTIF")
            pct = f"{persen(he, b.alpa, b.izin, b.sakit):.1f}".replace(".", decimal)
            cells += [str(b.alpa), str(b.izin), str(b.sakit), str(b.jml), pct]
        w.writerow([*cells, r.ket, r.nama_pendamping])
    text = buf.getvalue()
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


class _Problems:
    def __init__(self) -> None:
        self.items: list[VerkomProblem] = []
        self.count = 0

    def add(self, row: int, column: str, rule: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(VerkomProblem(row, column, rule, message))


def _label(cell: str) -> str:
    return re.sub(r"[\s:]+", " ", cell).strip().upper()


def _int(text: str, row: int, column: str, problems: _Problems) -> int | None:
    t = text.strip()
    if not re.fullmatch(r"-?\d{1,4}", t):
        problems.add(row, column, "integer", "must be a whole number of days")
        return None
    value = int(t)
    if value < 0:
        problems.add(row, column, "negative", f"a count of days cannot be negative, got {value}")
        return None
    return value


def read(data: bytes, *, year: int | None = None, period: Sequence[tuple[int, int]] | None = None) -> VerkomSheet:
    """Parse a VERKOM CSV; ``year`` for month headers without one; ``period`` (the quarter's three months):
    a month header outside it is refused (``outside_period``). Raises :class:`VerkomError` with every problem."""
    problems = _Problems()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerkomError([VerkomProblem(0, "file", "utf8", f"not UTF-8 text: {exc.reason}")]) from exc
    if "\x00" in text:
        raise VerkomError([VerkomProblem(0, "file", "characters", "the file contains a NUL character")])
    lines = text.splitlines()
    first = 1
    delimiter: str | None = None
    if lines and lines[0].strip().lower().startswith("sep="):
        delimiter = lines[0].strip()[4:5]
        if delimiter not in (";", ","):
            raise VerkomError([VerkomProblem(1, "sep", "delimiter", "sep= must name ';' or ','")])
        lines, first = lines[1:], 2
    if delimiter is None:
        header = next((ln for ln in lines if re.match(r"\s*no\s*[;,]", ln, re.I) and "NISN" in ln.upper()), "")
        delimiter = ";" if header.count(";") >= header.count(",") else ","
    table = list(csv.reader(lines, delimiter=delimiter))
    by_label: dict[str, int] = {}
    for i, cells in enumerate(table):
        if cells and (key := _label(cells[0])) and key not in by_label:
            by_label[key] = i
    need = {"NPSN": "NPSN :", "NAMA SEKOLAH": "Nama Sekolah :", "BULAN": "BULAN", "HARI EFEKTIF": "HARI EFEKTIF",
            "NO": "No"}
    missing = [title for key, title in need.items() if key not in by_label]
    if missing:
        raise VerkomError([VerkomProblem(0, title, "missing_row", f"no row labelled '{title}'") for title in missing])

    def cell(i: int, j: int) -> str:
        return table[i][j].strip() if j < len(table[i]) else ""

    npsn = cell(by_label["NPSN"], 1)
    if not re.fullmatch(r"\d{8}", npsn):
        problems.add(first + by_label["NPSN"], "NPSN", "pattern", "NPSN must be 8 digits")
    nama_sekolah = cell(by_label["NAMA SEKOLAH"], 1)
    i_head = by_label["NO"]
    head = [c.strip() for c in table[i_head]]
    expected = [*FRONT, *(PER_MONTH * 3), *BACK]
    if [h.upper() for h in head[:N_COLUMNS]] != [h.upper() for h in expected] or any(head[N_COLUMNS:]):
        raise VerkomError([VerkomProblem(first + i_head, "header", "columns",
                                         f"the header row must be the {N_COLUMNS} VERKOM columns: "
                                         + ", ".join(expected))])
    months: list[tuple[int, int]] = []
    days: list[int | None] = []  # None: blank, or bad (reported)
    blank_days: set[int] = set()
    for k in range(3):
        j = len(FRONT) + 5 * k
        raw = cell(by_label["BULAN"], j)
        ym = parse_month(raw, year)
        column = f"BULAN {k + 1}"
        if ym is None:
            problems.add(first + by_label["BULAN"], column, "month_name",
                         f"'{raw[:20]}' is not a month name (JANUARI..DESEMBER, PEBRUARI, NOPEMBER) with a year")
            months.append((0, 0))
        else:
            if period is not None and ym not in period:
                problems.add(first + by_label["BULAN"], column, "outside_period",
                             f"{ym[0]}-{ym[1]:02d} is not a month of the period "
                             + ", ".join(f"{y}-{m:02d}" for y, m in period))
            months.append(ym)
        raw_he = cell(by_label["HARI EFEKTIF"], j)
        he = (_int(raw_he, first + by_label["HARI EFEKTIF"], f"HARI EFEKTIF {k + 1}", problems)
              if raw_he else None)
        if not raw_he:
            blank_days.add(k)
        if he is not None and not 1 <= he <= MAX_HARI_EFEKTIF:
            problems.add(first + by_label["HARI EFEKTIF"], f"HARI EFEKTIF {k + 1}", "hari_efektif_range",
                         f"effective days must be 1-{MAX_HARI_EFEKTIF}, got {he}")
            he = None
        days.append(he)
    if len(set(months)) != 3 and all(m != (0, 0) for m in months):
        problems.add(first + by_label["BULAN"], "BULAN", "duplicate_month", "the three months must differ")
    rows: list[VerkomBaris] = []
    reported: set[int] = set()  # months some row reports
    for i in range(i_head + 1, len(table)):
        cells = [c.strip() for c in table[i]]
        if not any(cells):
            continue
        line = first + i
        if len(cells) > N_COLUMNS and any(cells[N_COLUMNS:]):
            problems.add(line, "-", "columns", f"more than {N_COLUMNS} columns")
            continue
        cells += [""] * (N_COLUMNS - len(cells))
        nik, nisn = cells[3], cells[4]
        if nik and not re.fullmatch(r"\d{16}", nik):
            problems.add(line, "NIK Siswa", "pattern", "NIK Siswa must be 16 digits")
        if cells[1] and not re.fullmatch(r"\d{16}", cells[1]):
            problems.add(line, "NIK Pengurus", "pattern", "NIK Pengurus must be 16 digits")
        if nisn and not re.fullmatch(r"\d{10}", nisn):
            problems.add(line, "NISN", "pattern", "NISN must be 10 digits")
        if not nik and not nisn:
            problems.add(line, "NISN", "required", "a row needs the student's NISN or NIK")
        bulan: list[VerkomBulan | None] = []
        for k in range(3):
            j = len(FRONT) + 5 * k
            label = MONTH_NAMES[months[k][1] - 1] if months[k] != (0, 0) else f"BULAN {k + 1}"
            if not any(cells[j:j + 5]):
                bulan.append(None)  # a blank block: this month is not reported for this student
                continue
            reported.add(k)
            counts = [_int(cells[j + c], line, f"{label} {PER_MONTH[c]}", problems) for c in range(3)]
            if any(c is None for c in counts):
                continue
            alpa, izin, sakit = (int(c) for c in counts)  # type: ignore[arg-type]
            he = days[k]
            if he and alpa + izin + sakit > he:
                problems.add(line, f"{label} Jml", "exceeds_hari_efektif",
                             f"{alpa} + {izin} + {sakit} days absent exceed the {he} effective days")
            jml = cells[j + 3]
            if jml and (not jml.isdigit() or int(jml) != alpa + izin + sakit):
                problems.add(line, f"{label} Jml", "jml_mismatch", "Jml must be Alpa + Izin + Sakit")
            pct = cells[j + 4].replace(",", ".").rstrip("%").strip()
            if pct and he:
                try:
                    ok = abs(float(pct) - 100 * (he - alpa - izin - sakit) / he) < 0.051
                except ValueError:
                    ok = False
                if not ok:
                    problems.add(line, f"{label} %", "persen_mismatch",
                                 "% must be the days present over HARI EFEKTIF (one decimal)")
            bulan.append(VerkomBulan(alpa, izin, sakit))
        if len(bulan) == 3:
            rows.append(VerkomBaris(cells[1], cells[2], nik, nisn, cells[5], cells[6], cells[7], tuple(bulan),
                                    cells[23], cells[24], row=line))
    for k in sorted(reported & blank_days):
        problems.add(first + by_label["HARI EFEKTIF"], f"HARI EFEKTIF {k + 1}", "required",
                     "rows report this month: give its effective days")
    if problems.count:
        raise VerkomError(problems.items)
    return VerkomSheet(npsn, nama_sekolah, tuple(months), tuple(days), tuple(rows))
