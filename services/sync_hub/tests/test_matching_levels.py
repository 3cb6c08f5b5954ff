"""The comparison levels (``matching.levels``): the null level of every comparison, names written in another
order, a mistyped birth date, and what the vetoes still refuse."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from services.sync_hub.matching import fallback, levels
from shared import names

NAMES = [label for label, _, _ in levels.FIELDS]


def _side(rows: list[dict[str, object]], missing_day: int) -> levels.Side:
    base = {"nama": "", "ibu": "", "dob": None, "sex": None, "wil": None, "nik": None, "kk": None}
    frame = pl.DataFrame([{**base, **r} for r in rows], schema={
        "nama": pl.String, "ibu": pl.String, "dob": pl.Date, "sex": pl.String, "wil": pl.String, "nik": pl.String,
        "kk": pl.String})
    return levels.side(frame, "nik", "kk", None, missing_day, name_lists=True)


def _levels(a: dict[str, object], b: dict[str, object]) -> dict[str, str]:
    s = _side([a], levels.STUDENT_MISSING_DAY)
    r = _side([b], levels.OTHER_MISSING_DAY)
    code = int(levels.pair_codes(s, r)[0])
    assert code == int(levels.matrix_codes(s, r)[0, 0])  # a block and aligned pairs mean the same
    return levels.evidence(code)


PERSON = {"nama": "budi santoso", "ibu": "siti aminah", "dob": date(2012, 5, 17), "sex": "L", "wil": "3201011001"}


def test_every_comparison_has_a_missing_level_that_weighs_nothing() -> None:
    for name, labels, has_missing in levels.FIELDS:
        assert has_missing and labels[-1] == "missing", name
    u = [np.full(size, 1.0 / size) for size in levels.SIZES]
    model = fallback.fit(np.ones(levels.N_PATTERNS), u, prior=1e-4)
    for f, w in enumerate(model.weights()):
        assert w[-1] == 0.0 and model.m[f][-1] == model.u[f][-1]


@pytest.mark.parametrize(("field", "column"), [("lahir", "dob"), ("jk", "sex"), ("nama", "nama"), ("ibu", "ibu"),
                                               ("wilayah", "wil")])
def test_a_value_missing_on_either_side_is_the_missing_level(field: str, column: str) -> None:
    gone = None if column in ("dob", "sex", "wil") else ""
    assert _levels({**PERSON, column: gone}, PERSON)[field] == "missing"
    assert _levels(PERSON, {**PERSON, column: gone})[field] == "missing"
    assert _levels({**PERSON, column: gone}, {**PERSON, column: gone})[field] == "missing"  # two blanks don't agree


def test_a_name_in_another_order_is_close_but_not_exact() -> None:
    assert levels.sim_pairs(["santoso budi"], ["budi santoso"])[0] < 0.80  # Jaro-Winkler alone: "other"
    assert _levels({**PERSON, "nama": "santoso budi"}, PERSON)["nama"] == ">=0.94"
    assert _levels({**PERSON, "nama": "santoso budy"}, PERSON)["nama"] == ">=0.94"
    assert _levels(PERSON, PERSON)["nama"] == "exact"
    # Muhammad / M. are one word after normalising, and stay so in any order
    m = names.normalise("M. Rizki")
    assert m == "muhammad rizki"
    assert _levels({**PERSON, "nama": "rizki muhammad"}, {**PERSON, "nama": m})["nama"] == ">=0.94"
    # siblings keep their distance: sorting the words brings no two given names closer than as written
    for a, b in (("andi santoso", "budi santoso"), ("muhammad rizki", "muhammad fajar"), ("siti aminah", "siti nur")):
        sa, sb = (levels.Names([x], [" ".join(sorted(x.split()))], [""]) for x in (a, b))
        assert levels.name_pairs(sa, sb)[0] == levels.sim_pairs([a], [b])[0]


@pytest.mark.parametrize(("recorded", "level"), [
    (date(2012, 5, 17), "exact"),
    (date(2012, 5, 18), "near"),
    (date(2013, 5, 17), "near"),  # a year off
    (date(2002, 5, 17), "one digit"),  # the year's third digit mistyped
    (date(2021, 5, 17), "one digit"),  # the year's last two digits swapped
    (date(2012, 8, 17), "one digit"),  # the month mistyped
    (date(2012, 5, 27), "one digit"),
    (date(2012, 5, 3), "same month"),
    (date(1985, 5, 17), "other"),  # a father's birthday, the son's day and month
    (date(2012, 11, 2), "other"),
])
def test_birth_date_levels(recorded: date, level: str) -> None:
    assert _levels({**PERSON, "dob": recorded}, PERSON)["lahir"] == level


def _code(**lv: int) -> int:
    return int(sum(lv.get(f, 0) * levels.RADIX[i] for i, f in enumerate(NAMES)))


def test_the_vetoes_that_must_hold_whatever_the_weights() -> None:
    no_key = {"nik": 5, "kk": 2}
    cases = {
        # a homonym with another mother: name and birth date equal, the mother's name disagrees
        "homonym, another mother": (_code(ibu=3, **no_key), True),
        # father and son of one name: the birth dates are decades apart, the mothers differ
        "father and son": (_code(lahir=4, ibu=3, **no_key), True),
        # ... even when the son's record carries no mother's name: the birth date alone vetoes
        "father and son, no mother's name": (_code(lahir=4, ibu=4, **no_key), True),
        # a sibling: another given name, another birth date, the same mother
        "sibling": (_code(nama=4, lahir=4, **no_key), True),
        # a sibling sharing the parent's NIK: the NIK says "equal", but name and birth date disagree
        "sibling with the parent's NIK": (_code(nama=4, lahir=4, nik=0, kk=0), True),
        # the same child with a birth date missing, or a year typed wrong: no veto
        "missing birth date": (_code(lahir=5, **no_key), False),
        "birth-year typo": (_code(lahir=2, **no_key), False),
        "reordered name": (_code(nama=1, **no_key), False),
    }
    got = levels.vetoed(np.array([c for c, _ in cases.values()]))
    assert dict(zip(cases, got.tolist(), strict=True)) == {k: v for k, (_, v) in cases.items()}


def test_sorted_words() -> None:
    out = pl.DataFrame({"n": ["santoso budi", "budi", "", "c b a"]}).select(levels.sorted_words(pl.col("n")))
    assert out["n"].to_list() == ["budi santoso", "budi", "", "a b c"]


def test_the_level_chains_stay_one_byte_a_pair() -> None:
    """The NIK's levels of a unit of pairs are int8 (a chain of ``np.where`` over Python ints would be int64: 8x the
    memory traffic per pair), and the codes built from them are the same."""
    s = _side([{**PERSON, "nik": "3201015705120001"}, {**PERSON, "nik": None}], levels.STUDENT_MISSING_DAY)
    r = _side([{**PERSON, "nik": "3201015705120002"}, {**PERSON, "nik": "3201015705120001"}], levels.OTHER_MISSING_DAY)
    assert levels._nik_level(s, r, pairwise=True).dtype == np.int8
    assert levels._nik_level(s, r, pairwise=True).tolist() == [3, 5]  # only the serial differs / missing
    assert levels.pair_codes(s, r).tolist() == np.diag(levels.matrix_codes(s, r)).tolist()


@pytest.mark.parametrize("space", [1, 7, 1_000, 50_000, 10**9])
def test_distinct_keys_are_numpys_unique_whichever_way_they_are_found(space: int) -> None:
    """``levels.distinct_keys`` marks the keys in a table when their range is small against them and sorts them
    otherwise: both give ``np.unique``'s distinct keys and inverse, repeated and running keys included."""
    rng = np.random.default_rng(space)
    for i, n in enumerate((0, 1, 5, 2_000, 2_000, 20_000, 20_000)):
        key = np.sort(rng.integers(0, space, n)) if i % 2 else rng.integers(0, space, n)
        distinct, inverse = levels.distinct_keys(key.astype(np.int64), space)
        want, want_inverse = np.unique(key, return_inverse=True)
        assert distinct.tolist() == want.tolist()
        assert inverse.tolist() == want_inverse.reshape(-1).tolist()
