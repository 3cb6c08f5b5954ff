"""Monthly school attendance against PKH's education commitment (AUDIT §5.1, DOMAIN.md §4.2).

PKH pays its education component while the child attends at least 85 % of the effective school days
(*hari efektif*) of every month; the school reports it per quarter (PKH *tahap*: I Jan-Mar, II Apr-Jun,
III Jul-Sep, IV Oct-Dec) on the VERKOM form. A month's attendance is the effective days less the days
absent, whether without notice (*alpa*), excused (*izin*) or sick (*sakit*): the form's ``Jml`` is their
sum and its ``%`` the days present over the effective days.

Both gateways and worldgen use these rules, each under its own field names.
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD_PERCENT = 85
MAX_HARI_EFEKTIF = 31  # a month has no more school days than days


def months_of(tahun: int, tahap: int) -> list[tuple[int, int]]:
    """The three (year, month) of PKH stage ``tahap`` (1-4) of ``tahun``."""
    if not 1 <= tahap <= 4:
        raise ValueError(f"tahap must be 1-4, got {tahap}")
    return [(tahun, 3 * (tahap - 1) + i) for i in (1, 2, 3)]


def tahap_of(bulan: int) -> int:
    return (bulan - 1) // 3 + 1


def hadir(hari_efektif: int, alpa: int, izin: int, sakit: int) -> int:
    """Days present."""
    return hari_efektif - alpa - izin - sakit


def persen(hari_efektif: int, alpa: int, izin: int, sakit: int) -> float:
    """Days present over effective days, in percent, one decimal (the VERKOM ``%`` column)."""
    if hari_efektif <= 0:
        return 0.0
    return round(100 * hadir(hari_efektif, alpa, izin, sakit) / hari_efektif, 1)


def memenuhi(hari_efektif: int, alpa: int, izin: int, sakit: int) -> bool:
    """The month meets the commitment: present on at least 85 % of its effective days (exact, in integers)."""
    return hari_efektif > 0 and 100 * hadir(hari_efektif, alpa, izin, sakit) >= THRESHOLD_PERCENT * hari_efektif


@dataclass(frozen=True, slots=True)
class Violation:
    field: str
    rule: str
    message: str


def check_month(*, tahun: int, bulan: int, hari_efektif: int, alpa: int, izin: int, sakit: int,
                names: dict[str, str], period: list[tuple[int, int]] | None = None) -> list[Violation]:
    """The rules one month's counts must keep, reported under the caller's field ``names`` (keys ``tahun``,
    ``bulan``, ``hari_efektif``, ``alpa``, ``izin``, ``sakit``): no negative count, effective days 1-31,
    absences not above the effective days, and (with ``period``) a month of that period."""
    out: list[Violation] = []
    if not 1 <= bulan <= 12:
        out.append(Violation(names["bulan"], "month_range", f"month must be 1-12, got {bulan}"))
    elif period is not None and (tahun, bulan) not in period:
        months = ", ".join(f"{y}-{m:02d}" for y, m in period)
        out.append(Violation(names["bulan"], "outside_period",
                             f"{tahun}-{bulan:02d} is not a month of the period ({months})"))
    if not 1 <= hari_efektif <= MAX_HARI_EFEKTIF:
        out.append(Violation(names["hari_efektif"], "hari_efektif_range",
                             f"effective days must be 1-{MAX_HARI_EFEKTIF}, got {hari_efektif}"))
    counts = {"alpa": alpa, "izin": izin, "sakit": sakit}
    for key, value in counts.items():
        if value < 0:
            out.append(Violation(names[key], "negative", f"a count of days cannot be negative, got {value}"))
    if all(v >= 0 for v in counts.values()) and hari_efektif >= 1 and sum(counts.values()) > hari_efektif:
        worst = names["alpa"] if alpa > hari_efektif else names["izin"] if izin > hari_efektif else (
            names["sakit"] if sakit > hari_efektif else names["alpa"])
        out.append(Violation(worst, "exceeds_hari_efektif",
                             f"{alpa} + {izin} + {sakit} days absent exceed the {hari_efektif} effective days"))
    return out


def rows_by_student(session, table, key: str, student_ids, chunk: int = 1000):  # type: ignore[no-untyped-def]
    """Every stored month of these students from a gateway's attendance ``table`` (its student column ``key``),
    oldest first, grouped by student: on PostgreSQL one statement, an index seek per student
    (``shared.db.each_key``); on SQLite one statement per ``chunk`` students, whatever the page's size."""
    import json

    import sqlalchemy as sa

    out: dict[str, list[sa.RowMapping]] = {}
    ids = sorted(set(student_ids))
    column = table.c[key]
    if ids and session.get_bind().dialect.name == "postgresql":  # one index seek per student (whatever the stats)
        from shared.db import built_once, each_key

        def build():  # type: ignore[no-untyped-def]
            stmt = each_key(lambda student: sa.select(table).where(column == student), "ids")
            got = stmt.selected_columns
            return stmt.order_by(got[key], got.tahun, got.bulan)

        stmt = built_once(("kehadiran.rows_by_student", table, key), build)
        for row in session.execute(stmt, {"ids": json.dumps(ids)}).mappings():
            out.setdefault(row[key], []).append(row)
        return out
    for start in range(0, len(ids), chunk):
        stmt = (sa.select(table).where(column.in_(ids[start:start + chunk]))
                .order_by(column, table.c.tahun, table.c.bulan))
        for row in session.execute(stmt).mappings():
            out.setdefault(row[key], []).append(row)
    return out


def each_student_part(table, key: str):  # type: ignore[no-untyped-def]
    """PostgreSQL: ``rows_by_student``'s statement unordered, and its order, as a part of ``shared.db.together``
    (the student ids bound as ``ids``, a JSON array of distinct ids)."""
    import sqlalchemy as sa

    from shared.db import each_key

    column = table.c[key]
    return each_key(lambda student: sa.select(table).where(column == student), "ids"), (key, "tahun", "bulan")


def stored_months(session, table, key: str, student_ids, months, chunk: int = 1000):  # type: ignore[no-untyped-def]
    """The rows of a gateway's attendance ``table`` (student column ``key``) for these students in these
    (year, month) pairs: what an import compares its file with."""
    import sqlalchemy as sa

    ids = sorted(set(student_ids))
    which = sa.or_(*(sa.and_(table.c.tahun == y, table.c.bulan == m) for y, m in months))
    out: list[sa.RowMapping] = []
    for start in range(0, len(ids), chunk):
        stmt = sa.select(table).where(table.c[key].in_(ids[start:start + chunk]), which)
        out.extend(session.execute(stmt).mappings())
    return out
