"""The scalar fallback's Python twins (``matching.scalar_fallback``) equal the polars expressions they stand in for,
on awkward inputs: empty strings, None, non-ASCII text, one-letter names, Feb 29, malformed NIKs, KK numbers and
regions. Each comparison level is checked on its own (the pattern codes decoded field by field), over every pair
of the rows below. That the whole scalar fallback decides as ``fallback.run`` does is the property test in
``test_matching_scalar.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import polars as pl
import pytest

from services.sync_hub.matching import fallback, levels, scalar_fallback

# (nama, ibu, dob, sex, wil, nik, kk, kk_old): values a student or a registry row may hold, normal-form names
ROWS: list[tuple[Any, ...]] = [
    ("budi santoso", "siti aminah", date(2012, 2, 29), "L", "3201010001", "3201012902120001", "3201010101010001",
     None),
    ("santoso budi", "siti aminah", date(2012, 2, 28), "L", "3201010002", "3201012902120002", "3201010101010001",
     "3201010101010009"),
    ("budi santosa", "siti aminh", date(2013, 2, 28), "P", "320101", "3201016902120001", "3201010101010009", None),
    ("b", "s", date(2012, 2, 29), "P", "3201", "3201012902120010", "+3201010101010001", None),
    ("", "", None, None, None, None, None, None),
    (None, None, None, "X", "", "", "", ""),
    ("ni gede sriasih", "ni gede suastini", date(2000, 1, 2), "P", "32010", "3201010201000001", "0000000000000001",
     "-1"),
    ("ni gede suastini", "ni gede sriasih", date(2000, 2, 1), "P", "3202010001", "3201010201000010", "1", None),
    ("josé maría", "ñañez", date(2000, 1, 2), "L", "32 01", "３２０１０１０２０１０００００１", " 1",
     "99999999999999999999"),
    ("a b c d e f", "a", date(2001, 1, 2), "L", "３２０１", "320101020100000", "1e3", "0012"),
    ("x", "", date(1999, 12, 31), "L", "-32010", "32010102010000011", "12a", None),
    ("muhammad", "a", date(2000, 1, 1), "L", "3201010001", "32010102010000x1", "3201010101010001", None),
    ("muhammad ali", "ibu", date(2000, 1, 1), "L", "3201020001", "3201010201000001", None, None),
    ("ali muhammad", "ibu", date(2000, 10, 1), "P", "3201020001", "3201011001000001", None, None),
]


def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"nama": pl.String, "ibu": pl.String, "dob": pl.Date, "sex": pl.String,
                                      "wil": pl.String, "nik": pl.String, "kk": pl.String, "kk_old": pl.String},
                        orient="row")


def _polars_side(rows: list[tuple[Any, ...]], missing_day: int, registry: bool) -> levels.Side:
    return levels.side(_frame(rows), "nik", "kk", "kk_old" if registry else None, missing_day, name_lists=True)


def _twin_side(rows: list[tuple[Any, ...]], missing_day: int, registry: bool) -> levels.Side:
    return scalar_fallback.side([r if registry else (*r[:7], None) for r in rows], missing_day)


@pytest.mark.parametrize("registry", [False, True])
@pytest.mark.parametrize("column", ["nama", "nsort", "ibu", *levels._ARRAYS])
def test_side_columns_equal_the_polars_side(column: str, registry: bool) -> None:
    missing = levels.OTHER_MISSING_DAY if registry else levels.STUDENT_MISSING_DAY
    want = getattr(_polars_side(ROWS, missing, registry), column)
    got = getattr(_twin_side(ROWS, missing, registry), column)
    if isinstance(want, list):
        assert got == want
    else:
        assert got.dtype == want.dtype
        assert got.tolist() == want.tolist()


@pytest.mark.parametrize("field", [name for name, _, _ in levels.FIELDS])
def test_each_level_equals_the_polars_sides(field: str) -> None:
    """Every row against every row, the level of ``field`` from the twin's sides and from polars' sides."""
    f = [name for name, _, _ in levels.FIELDS].index(field)
    n = len(ROWS)
    si, ri = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)

    def codes(make: Any) -> np.ndarray:
        s = make(ROWS, levels.STUDENT_MISSING_DAY, False).take(si)
        r = make(ROWS, levels.OTHER_MISSING_DAY, True).take(ri)
        return levels.pair_codes(s, r)

    want, got = levels.decode(codes(_polars_side))[:, f], levels.decode(codes(_twin_side))[:, f]
    assert got.tolist() == want.tolist()
    assert len(set(want.tolist())) > 1  # the rows reach more than one level of every field


def test_pairs_and_matrices_give_the_same_codes() -> None:
    """The scalar fallback scores aligned pairs where ``fallback.run`` scores blocks as matrices."""
    s = _twin_side(ROWS, levels.STUDENT_MISSING_DAY, False)
    r = _twin_side(ROWS, levels.OTHER_MISSING_DAY, True)
    n = len(ROWS)
    paired = levels.pair_codes(s.take(np.repeat(np.arange(n), n)), r.take(np.tile(np.arange(n), n)))
    assert paired.tolist() == levels.matrix_codes(s, r).ravel().tolist()


NAMES = ["", "a", "b a", "budi santoso", "santoso budi", " budi  santoso ", "a b c d e", "a b c d e f", "é a",
         "ñañez lópez", "x\u00a0y", "budi\tsantoso", "zz a"]


def test_name_keys_equal_the_polars_expressions() -> None:
    values = [*NAMES, None]
    frame = pl.DataFrame({"n": values}, schema={"n": pl.String})
    got = frame.select(fallback.name_words(pl.col("n")).alias("w"), fallback.name_initials(pl.col("n")).alias("i"),
                       levels.sorted_words(pl.col("n")).alias("s"))
    assert [scalar_fallback.name_words(v) for v in values] == got["w"].to_list()
    assert [scalar_fallback.name_initials(v) for v in values] == got["i"].to_list()
    assert [scalar_fallback.sorted_words(v) for v in NAMES] == got["s"].to_list()[:-1]


def test_integers_are_read_as_polars_casts_them() -> None:
    values = ["12", "0012", "-12", "+12", " 12", "12 ", "1_2", "", "１２", "1e3", "9223372036854775807",
              "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "-0", "+", "-", "٣٣", "+-1", None]
    want = pl.Series(values, dtype=pl.String).cast(pl.Int64, strict=False).to_list()
    assert [scalar_fallback.as_int64(v) for v in values] == want


def test_initials_split_words_as_the_regex_they_replace() -> None:
    """``name_initials`` splits with ``str.split()`` where it used ``re.findall(r"\\S+")``: the same words for every
    whitespace character Python knows (both ask ``str.isspace``), leading, trailing, repeated or alone."""
    import re

    spaces = [c for c in map(chr, range(0x3100)) if c.isspace()]
    names = [*NAMES, *spaces, *(f"{a}budi{s}{s}santoso{a}" for s in spaces for a in ("", s)),
             *(f"é{s}ß" for s in spaces)]
    for name in names:
        words = re.findall(r"\S+", name)
        want = "".join(sorted((words[0][0], words[-1][0]))) if words else None
        assert scalar_fallback.name_initials(name) == want, repr(name)


def test_an_empty_registry_is_what_build_makes_of_no_rows() -> None:
    from services.sync_hub.matching.frames import FAMILY_SCHEMA, PERSON_SCHEMA, Registry

    built = Registry.build(pl.DataFrame(schema={k: v for k, v in PERSON_SCHEMA.items() if k != "pid"}),
                           pl.DataFrame(schema=FAMILY_SCHEMA), None)
    empty = Registry.empty()
    for name in ("persons", "families", "kk_lama"):
        assert getattr(empty, name).schema == getattr(built, name).schema
        assert getattr(empty, name).equals(getattr(built, name))
