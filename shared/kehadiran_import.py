"""Import and export of one school's attendance for one PKH period, for both gateways (pure: no database).

Two layouts:

* the VERKOM CSV (``shared.verkom``): one row per student, three month blocks, one HARI EFEKTIF per month for
  the whole school. A row names its student by NISN, else by NIK Siswa (never echoed in a message); a blank
  block is a month not reported and changes nothing;
* the gateway's own table (CSV or XLSX): one row per (student, month), the gateway's field names as headers
  (``Layout``). A row names its student by the gateway's id, else by NISN.

A gateway hands in its students (``Student``), the months it holds (``Counts``) and its field names; it gets
back the months the file gives, keyed by (student id, tahun, bulan), or every problem of the file named by
row, column and rule (``Problems`` -> ``InvalidInput``), and then the ``Plan``: what to insert and update,
what is unchanged, and which students move in the hub's feed (a student moves when one of its months is
inserted or changed, never when the file repeats what is held).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared import kehadiran, verkom
from shared.errors import Conflict, FieldError, InvalidInput

MAX_REPORTED = 1000
Key = tuple[str, int, int]  # (student id, tahun, bulan)
_NIK = re.compile(r"\d{16}")
_NISN = re.compile(r"\d{10}")
_INT = re.compile(r"-?\d{1,4}")


@dataclass(frozen=True, slots=True)
class Counts:
    """One month of one student, in shared.kehadiran's terms (each gateway maps its own field names)."""

    hari_efektif: int
    alpa: int
    izin: int
    sakit: int


@dataclass(frozen=True, slots=True)
class Student:
    """A student of the school as matching needs it; ``keluar``: the day it left, when months after it are
    refused (``after_keluar``)."""

    id: str
    nisn: str | None = None
    nik: str | None = None
    keluar: date | None = None


@dataclass(frozen=True, slots=True)
class FormStudent:
    """What the VERKOM form shows of a student (``pengurus``: the PKH caretaker, usually the mother)."""

    id: str
    nik_pengurus: str | None
    nama_pengurus: str
    nik: str | None
    nisn: str | None
    nama: str
    bentuk_pendidikan: str
    tingkat_pendidikan: str
    active: bool = True
    ket: str = ""


@dataclass(frozen=True, slots=True)
class Layout:
    """The gateway's own table: its id column, NISN and name columns, and shared.kehadiran's keys (``tahun``,
    ``bulan``, ``hari_efektif``, ``alpa``, ``izin``, ``sakit``) under the gateway's field names; ``derived``:
    the read-only columns an export adds (days absent, percent present, meets 85 %), ignored on import."""

    id: str
    names: Mapping[str, str]
    derived: tuple[str, str, str]
    nisn: str = "nisn"
    nama: str = "nama"

    @property
    def header(self) -> list[str]:
        n = self.names
        return [self.id, self.nisn, self.nama, n["tahun"], n["bulan"], n["hari_efektif"], n["sakit"], n["izin"],
                n["alpa"], *self.derived]


class Problems:
    """Every problem of a file, as ``rows[<row>].<column>`` (row 0: the file or the header as a whole)."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.count = 0
        self.rows: set[int] = set()

    def add(self, row: int, column: str, rule: str, message: str) -> None:
        self.count += 1
        if row:
            self.rows.add(row)
        if len(self.items) < MAX_REPORTED:
            self.items.append(FieldError(field=f"rows[{row}].{column}" if row else column, rule=rule,
                                         message=message))

    def raise_if_any(self) -> None:
        if self.count:
            more = f" (the first {MAX_REPORTED} listed)" if self.count > MAX_REPORTED else ""
            raise InvalidInput(f"{self.count} problem(s) in {len(self.rows)} row(s) of the file{more}; nothing "
                               "was imported", self.items)


@dataclass(slots=True)
class Plan:
    inserts: list[tuple[Key, Counts]] = field(default_factory=list)
    updates: list[tuple[Key, Counts]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def students(self) -> list[str]:
        """The students whose attendance changes (they move in the hub's feed)."""
        return sorted({key[0] for key, _ in self.inserts} | {key[0] for key, _ in self.updates})


def plan(incoming: Mapping[Key, Counts], stored: Mapping[Key, Counts]) -> Plan:
    """What writing ``incoming`` over ``stored`` changes: an upsert; months the file does not give stay."""
    out = Plan()
    for key in sorted(incoming):
        new, old = incoming[key], stored.get(key)
        if old is None:
            out.inserts.append((key, new))
        elif old != new:
            out.updates.append((key, new))
        else:
            out.unchanged += 1
    return out


class Directory:
    """The school's students, to name a row's student by NISN, else NIK."""

    def __init__(self, students: Iterable[Student]) -> None:
        self.students: dict[str, Student] = {}
        self.by_nisn: dict[str, list[str]] = {}
        self.by_nik: dict[str, list[str]] = {}
        for s in students:
            self.students[s.id] = s
            if s.nisn:
                self.by_nisn.setdefault(s.nisn, []).append(s.id)
            if s.nik:
                self.by_nik.setdefault(s.nik, []).append(s.id)

    def resolve(self, nisn: str | None, nik: str | None, nisn_column: str = "NISN",
                nik_column: str = "NIK Siswa") -> tuple[str | None, tuple[str, str, str] | None]:
        """(student id, None), or (None, (column, rule, message)) when the identifiers name no single student
        of the school. NISN first; a NIK naming another student than the NISN is refused."""
        by_nisn = self.by_nisn.get(nisn, []) if nisn else []
        by_nik = self.by_nik.get(nik, []) if nik else []
        if len(by_nisn) == 1:
            if len(by_nik) == 1 and by_nik[0] != by_nisn[0]:
                return None, (nik_column, "identity_mismatch",
                              f"the {nisn_column} and the {nik_column} name two different students of the school")
            return by_nisn[0], None
        if len(by_nik) == 1:
            return by_nik[0], None
        if len(by_nisn) > 1 or len(by_nik) > 1:
            column = nisn_column if len(by_nisn) > 1 else nik_column
            return None, (column, "ambiguous", f"several students of the school hold this {column}")
        column = nisn_column if nisn else nik_column
        return None, (column, "not_in_school", f"no student of this school has this {nisn_column} or {nik_column}")


def _after_keluar(student: Student, tahun: int, bulan: int) -> str | None:
    left = student.keluar
    if left is not None and (tahun, bulan) > (left.year, left.month):
        return f"{tahun}-{bulan:02d} is after the month the student left ({left.year}-{left.month:02d})"
    return None


# -- VERKOM -------------------------------------------------------------------------------------------

def read_verkom(data: bytes, tahun: int, tahap: int) -> verkom.VerkomSheet:
    """The sheet of the period (``InvalidInput`` naming every problem of the file otherwise)."""
    if len(data) > 20 * 1024 * 1024:
        raise InvalidInput.field("file", "too_large", "the file is larger than 20 MB")
    if not data.strip():
        raise InvalidInput.field("file", "empty", "the file is empty")
    try:
        return verkom.read(data, year=tahun, period=kehadiran.months_of(tahun, tahap))
    except verkom.VerkomError as exc:
        problems = Problems()
        for p in exc.problems:
            problems.add(p.row, p.column, p.rule, p.message)
        problems.raise_if_any()
        raise  # not reached: a VerkomError names at least one problem


def from_verkom(sheet: verkom.VerkomSheet, directory: Directory, problems: Problems) -> dict[Key, Counts]:
    """The months a clean VERKOM sheet gives, per (student, tahun, bulan); rows naming no single student of
    the school, a student twice, or a month after the student left go to ``problems``."""
    out: dict[Key, Counts] = {}
    first_row: dict[str, int] = {}
    for r in sheet.rows:
        sid, problem = directory.resolve(r.nisn or None, r.nik_siswa or None)
        if sid is None:
            assert problem is not None
            problems.add(r.row, *problem)
            continue
        if sid in first_row:
            problems.add(r.row, "NISN" if r.nisn else "NIK Siswa", "duplicate",
                         f"the same student as row {first_row[sid]}")
            continue
        first_row[sid] = r.row
        for (tahun, bulan), he, b in zip(sheet.months, sheet.hari_efektif, r.bulan, strict=True):
            if b is None:
                continue  # not reported: what is held stays
            if he is None:  # verkom.read refuses a reported month without its effective days
                raise ValueError("a reported month needs its HARI EFEKTIF")
            if (message := _after_keluar(directory.students[sid], tahun, bulan)) is not None:
                problems.add(r.row, f"{verkom.MONTH_NAMES[bulan - 1]} Alpa", "after_keluar", message)
                continue
            out[(sid, tahun, bulan)] = Counts(he, b.alpa, b.izin, b.sakit)
    return out


def _identifiable(value: str | None, pattern: re.Pattern[str]) -> str:
    return value if value and pattern.fullmatch(value) else ""


def to_verkom(npsn: str, nama_sekolah: str, tahun: int, tahap: int, students: Sequence[FormStudent],
              directory: Directory, held: Mapping[Key, Counts], hari_efektif_field: str
              ) -> tuple[verkom.VerkomSheet, int]:
    """The school's VERKOM sheet of the period and how many students were left off it because the form cannot
    name them (no NISN or NIK that is the student's alone). On the sheet: every active student, and every
    other one with a month held in the period; a month not held is a blank block. ``Conflict`` naming
    ``hari_efektif_field`` when the students' effective days of a month differ (the form has one per month)."""
    period = kehadiran.months_of(tahun, tahap)
    rows: list[verkom.VerkomBaris] = []
    omitted = 0
    days: list[set[int]] = [set(), set(), set()]
    for s in students:
        months = [held.get((s.id, y, m)) for y, m in period]
        if not s.active and not any(months):
            continue
        nisn, nik = _identifiable(s.nisn, _NISN), _identifiable(s.nik, _NIK)
        if directory.resolve(nisn or None, nik or None)[0] != s.id:
            omitted += 1
            continue
        for k, c in enumerate(months):
            if c is not None:
                days[k].add(c.hari_efektif)
        rows.append(verkom.VerkomBaris(
            _identifiable(s.nik_pengurus, _NIK), s.nama_pengurus, nik, nisn, s.nama, s.bentuk_pendidikan,
            s.tingkat_pendidikan, tuple(None if c is None else verkom.VerkomBulan(c.alpa, c.izin, c.sakit)
                                        for c in months), s.ket, ""))
    for (y, m), values in zip(period, days, strict=True):
        if len(values) > 1:
            seen = ", ".join(map(str, sorted(values)))
            raise Conflict.field(hari_efektif_field, "hari_efektif_differs",
                                 f"in {y}-{m:02d} the students' effective days differ ({seen}); the VERKOM form "
                                 "has one per month: export the spreadsheet layout instead")
    sheet = verkom.VerkomSheet(npsn, nama_sekolah, tuple(period),
                               tuple(next(iter(v)) if v else None for v in days), tuple(rows))
    return sheet, omitted


# -- the gateway's own table ----------------------------------------------------------------------------

def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def _int(cell: Any) -> int | None:
    """A whole number from a CSV text or an XLSX cell; None if it is not one."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return int(cell) if cell.is_integer() and abs(cell) < 10_000 else None
    if isinstance(cell, str) and _INT.fullmatch(cell.strip()):
        return int(cell.strip())
    return None


def _text(cell: Any) -> str | None:
    if cell is None:
        return None
    text = str(cell).strip()
    return text or None


def from_table(header: Sequence[str], rows: Sequence[tuple[int, Sequence[Any]]], layout: Layout,
               directory: Directory, tahun: int, tahap: int, problems: Problems) -> dict[Key, Counts]:
    """The months of the gateway's own table (the header is row 1), each within shared.kehadiran's rules and
    the period; every bad cell goes to ``problems``."""
    n = layout.names
    counted = ("hari_efektif", "alpa", "izin", "sakit")
    known = {_norm(layout.id): "id", _norm(layout.nisn): "nisn",
             **{_norm(n[k]): k for k in ("tahun", "bulan", *counted)}}
    ignored = {_norm(layout.nama), *(_norm(d) for d in layout.derived)}
    position: dict[str, int] = {}
    for i, title in enumerate(header):
        key = _norm(str(title or ""))
        if not key or key in ignored:
            continue
        name = known.get(key)
        if name is None:
            problems.add(1, str(title), "unknown_column",
                         f"not a column of this layout; the columns are: {', '.join(layout.header)}")
        elif name in position:
            problems.add(1, str(title), "duplicate_column", "this column appears twice")
        else:
            position[name] = i
    for key in ("tahun", "bulan", *counted):
        if key not in position:
            problems.add(1, n[key], "missing_column", f"the column {n[key]!r} is required")
    if "id" not in position and "nisn" not in position:
        problems.add(1, layout.id, "missing_column", f"a row names its student by {layout.id!r}, else {layout.nisn!r}")
    if problems.count:
        return {}
    period = kehadiran.months_of(tahun, tahap)
    title = {"id": layout.id, "nisn": layout.nisn, **{k: n[k] for k in ("tahun", "bulan", *counted)}}
    out: dict[Key, Counts] = {}
    first_row: dict[Key, int] = {}
    for number, cells in rows:
        def cell(name: str, cells: Sequence[Any] = cells) -> Any:
            i = position.get(name)
            return cells[i] if i is not None and i < len(cells) else None

        if all(_text(c) is None for c in cells):
            continue
        before = problems.count
        values: dict[str, int] = {}
        for key in ("tahun", "bulan", *counted):
            raw = cell(key)
            value = _int(raw)
            if _text(raw) is None:
                problems.add(number, title[key], "required", "this cell must be filled")
            elif value is None:
                problems.add(number, title[key], "integer", "must be a whole number")
            else:
                values[key] = value
        sid = _student(number, cell("id"), cell("nisn"), layout, directory, problems)
        if problems.count > before or sid is None:
            continue
        for v in kehadiran.check_month(tahun=values["tahun"], bulan=values["bulan"],
                                       hari_efektif=values["hari_efektif"], alpa=values["alpa"],
                                       izin=values["izin"], sakit=values["sakit"], names=n, period=period):
            problems.add(number, v.field, v.rule, v.message)
        if problems.count > before:
            continue
        key3 = (sid, values["tahun"], values["bulan"])
        if (message := _after_keluar(directory.students[sid], values["tahun"], values["bulan"])) is not None:
            problems.add(number, n["bulan"], "after_keluar", message)
        elif key3 in first_row:
            problems.add(number, n["bulan"], "duplicate", f"the same student and month as row {first_row[key3]}")
        else:
            first_row[key3] = number
            out[key3] = Counts(values["hari_efektif"], values["alpa"], values["izin"], values["sakit"])
    return out


def _student(number: int, id_cell: Any, nisn_cell: Any, layout: Layout, directory: Directory,
             problems: Problems) -> str | None:
    sid = _text(id_cell)
    if sid is not None:
        if sid not in directory.students:
            problems.add(number, layout.id, "not_in_school", f"no student of this school has this {layout.id}")
            return None
        return sid
    if isinstance(nisn_cell, int | float) and not isinstance(nisn_cell, bool):
        problems.add(number, layout.nisn, "numeric_cell", "the cell is a number, which loses leading zeros: "
                     "format the column as Text and type the NISN again")
        return None
    nisn = _text(nisn_cell)
    if nisn is None:
        problems.add(number, layout.id, "required", f"a row names its student by {layout.id!r}, else {layout.nisn!r}")
        return None
    found, problem = directory.resolve(nisn, None, nisn_column=layout.nisn)
    if found is None:
        assert problem is not None
        problems.add(number, *problem)
    return found


def to_table(layout: Layout, students: Sequence[tuple[str, str | None, str]], held: Mapping[Key, Counts],
             tahun: int, tahap: int) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of the gateway's own table: every month held in the period of ``students``
    ((id, nisn, nama), in the order given), months in order; identifiers as text."""
    rows: list[list[Any]] = []
    for sid, nisn, nama in students:
        for y, m in kehadiran.months_of(tahun, tahap):
            c = held.get((sid, y, m))
            if c is None:
                continue
            rows.append([sid, nisn, nama, y, m, c.hari_efektif, c.sakit, c.izin, c.alpa, c.alpa + c.izin + c.sakit,
                         kehadiran.persen(c.hari_efektif, c.alpa, c.izin, c.sakit),
                         "Ya" if kehadiran.memenuhi(c.hari_efektif, c.alpa, c.izin, c.sakit) else "Tidak"])
    return layout.header, rows
