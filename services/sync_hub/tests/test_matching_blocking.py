"""The fallback's blocking rules (``fallback.RULES``): each one finds the true person of a record the others
miss, pairs are scored once whichever rules find them, and the fallback then links the record. The rescue rule
(``fallback.RESCUE_RULES``) is scored only for the records the others leave without an auto link."""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl
import pytest

from services.sync_hub.matching import fallback, levels, scalar, scalar_fallback
from services.sync_hub.matching.frames import students_frame
from services.sync_hub.matching.service import Matcher, to_rows
from services.sync_hub.tests.factories import CHILD, CHILD_DOB, KK
from services.sync_hub.tests.factories import student as make_student
from services.sync_hub.tests.test_matching import _big_registry
from shared.contracts.common import MatchKey, Outcome

NO_KEYS = dict(nik=None, nik_ibu=None, nik_ayah=None, no_kk=None)
HOME, AWAY = "3201012001", "3301012001"  # the family's kecamatan, and a school in another province

YEAR_TYPO = CHILD_DOB.replace(year=CHILD_DOB.year - 10)  # another block, another birth date

CASES = {
    # the record and its school's region -> the one rule that finds the child (the registry's child is "M. Rizky",
    # initials "mr")
    "kabupaten x birth year": (dict(nama="Rizky Muhamad Salim", tanggal_lahir=date(CHILD_DOB.year, 12, 30),
                                    nama_ibu_kandung="Aminah"), HOME),
    "kabupaten x name": (dict(nama="Rizky Muhammad", tanggal_lahir=YEAR_TYPO, nama_ibu_kandung="Aminah"),
                         HOME),  # a birth-year typo, reordered
    "mother x birth date": (dict(nama="Ahmad Risky"), AWAY),  # another first name, the school elsewhere
    "kabupaten x mother": (dict(nama="Ahmad Risky", tanggal_lahir=None), HOME),  # another first name, no birth date
    "birth date x initials": (dict(nama="Mohamad Risky", nama_ibu_kandung="Aminah"), AWAY),  # a typo, elsewhere
    "kabupaten x initials": (dict(nama="Mohamad Risky", tanggal_lahir=None, nama_ibu_kandung="Aminah"),
                             HOME),  # a typo, no birth date
}
# "name x birth date" finds nothing "birth date x initials" does not (the same words have the same initials); it
# stays a rule of its own as one EM learns from (``TRAINING_RULES``), the initials rule being scoring-only
SUBSUMED = {"name x birth date": ((dict(nama="Rizky Muhammad", nama_ibu_kandung="Aminah"), AWAY),
                                  {"name x birth date", "birth date x initials"})}


def _frame(overrides: dict[str, object], wil: str, others: int = 0) -> pl.DataFrame:
    """A student frame (the record, then ``others`` students every key links); ``tanggal_lahir=None``: the
    record's birth date is missing."""
    born = overrides.get("tanggal_lahir", CHILD_DOB)
    s = make_student(**{**NO_KEYS, **overrides, "tanggal_lahir": born or CHILD_DOB})
    rest = [make_student(student_id=f"s{i}") for i in range(others)]
    frame = students_frame(to_rows([s, *rest], {s.student_id: wil}))
    return frame if born else frame.with_columns(pl.when(pl.col("sid") == 0).then(None).otherwise(pl.col("dob"))
                                                 .alias("dob"))


RESCUE = "birth date x an initial"
# the rescue rule's own case: the same birth date, a letter in common between the initials ("rs" / "mr"), the name's
# words and the mother's name other, the school elsewhere
RESCUE_CASE = (dict(nama="Rizky Salim", nama_ibu_kandung="Aminah"), AWAY)


def _rules(recall: dict[str, float]) -> dict[str, float]:
    """``rule_recall`` of ``fallback.RULES`` and the union (the rescue rule's left out)."""
    return {k: v for k, v in recall.items() if k not in fallback.RESCUE_RULES}


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_finds_a_record_the_others_miss(rule: str) -> None:
    reg = _big_registry()
    stu = _frame(*CASES[rule])
    pid = reg.persons.filter(pl.col("nik") == CHILD)["pid"]
    recall = fallback.rule_recall(stu, reg, pid)
    assert _rules(recall) == {**dict.fromkeys(fallback.RULES, 0.0), rule: 1.0, "union": 1.0}
    # the rescue rule finds what shares the birth date and a letter of the initials ("ar" / "mr", "mr" / "mr")
    assert recall[RESCUE] == (1.0 if rule in ("mother x birth date", "birth date x initials") else 0.0)


def test_the_rescue_rule_finds_a_record_the_others_miss() -> None:
    reg = _big_registry()
    pid = reg.persons.filter(pl.col("nik") == CHILD)["pid"]
    recall = fallback.rule_recall(_frame(*RESCUE_CASE), reg, pid)
    assert recall == {**dict.fromkeys(fallback.RULES, 0.0), RESCUE: 1.0, "union": 1.0}
    assert set(fallback.RESCUE_RULES) == {RESCUE} and not set(fallback.RESCUE_RULES) & set(fallback.TRAINING_RULES)


def test_the_rescue_rule_is_scored_only_for_records_left_without_an_auto_link() -> None:
    # the first record is linked by the other rules; the second only the rescue rule reaches. Its pairs are scored
    # for the second alone (the first's would be its siblings and strangers born the same day)
    # A third record, the second's with a KK number that links nothing, carries a key: a record whose key did not
    # link is mostly one whose family is not in the registry, and the rule is not for it
    reg = _big_registry()
    keyed = _frame(*RESCUE_CASE).with_columns(pl.lit("7101019999999999").alias("no_kk"))
    stu = pl.concat([_frame({"nama": "M. Rizky"}, HOME), _frame(*RESCUE_CASE), keyed],
                    how="vertical_relaxed").with_columns(pl.Series("sid", [0, 1, 2], dtype=pl.Int64))
    assert fallback.rescued(levels.prepare_students(stu)).tolist() == [True, True, False]
    settings = fallback.Settings(auto_p=0.95)  # the test's tiny fitted model: the first record at p 0.98
    model = fallback.train(_frame(*RESCUE_CASE, others=30), reg, settings)
    res = fallback.run(stu, reg, model, settings)
    assert res.decisions.filter(pl.col("sid") == 0)["band"].to_list() == ["auto"]
    assert res.decisions.filter(pl.col("sid") == 2)["band"].to_list() == []  # no candidate: the key's record
    assert res.stats["rescued_students"] == 1 and res.stats["rescue_pairs"] > 0
    alone = fallback.run(stu.filter(pl.col("sid") == 1), reg, model, settings)
    assert alone.stats["rescue_pairs"] == res.stats["rescue_pairs"]
    second = res.decisions.filter(pl.col("sid") == 1).to_dicts()[0]
    assert second["no_kk"] == KK and levels.evidence(second["code"])["wilayah"] == "other"
    assert {k: v for k, v in alone.decisions.to_dicts()[0].items() if k != "sid"} == {
        k: v for k, v in second.items() if k != "sid"}
    # the scalar path (a check) decides both alike
    rows = to_rows([make_student(**NO_KEYS, nama="M. Rizky"), make_student(**NO_KEYS, **RESCUE_CASE[0])])
    rows = [dataclasses.replace(rows[0], wil=HOME), dataclasses.replace(rows[1], wil=AWAY),
            dataclasses.replace(rows[1], wil=AWAY, no_kk="7101019999999999")]
    few = scalar_fallback.run(scalar.students(rows, date(2026, 7, 1)), reg, model, settings)
    assert [(d["band"], d["no_kk"], d["code"]) for d in few] == [
        (d["band"], d["no_kk"], d["code"]) for d in res.decisions.to_dicts()]


def test_every_rule_has_a_case() -> None:
    assert set(CASES) | set(SUBSUMED) == set(fallback.RULES)


@pytest.mark.parametrize("rule", list(SUBSUMED))
def test_a_subsumed_rule_finds_what_its_wider_rule_finds(rule: str) -> None:
    case, finders = SUBSUMED[rule]
    reg = _big_registry()
    pid = reg.persons.filter(pl.col("nik") == CHILD)["pid"]
    recall = _rules(fallback.rule_recall(_frame(*case), reg, pid))
    assert recall == {**dict.fromkeys(fallback.RULES, 0.0), **dict.fromkeys(finders, 1.0), "union": 1.0}


@pytest.mark.parametrize(("name", "key"), [("muhammad rizky", "mr"), ("rizky muhammad", "mr"), ("budi", "bb"),
                                           ("siti nur aisyah", "as"), ("", None), ("  budi  santoso ", "bs")])
def test_initials_are_the_first_letters_of_the_first_and_last_words_sorted(name: str, key: str | None) -> None:
    assert fallback.initials(name) == key
    assert pl.select(fallback.name_initials(pl.lit(name))).item() == key


def test_the_initials_rules_are_not_learnt_from() -> None:
    # their pairs are mostly strangers sharing two letters and a birth date or a kabupaten (what u describes)
    assert not {"birth date x initials", "kabupaten x initials"} & set(fallback.TRAINING_RULES)


def test_a_pair_several_rules_find_is_scored_once() -> None:
    reg = _big_registry()
    stu = _frame({"nama": "M. Rizky"}, HOME)  # every rule finds the child (but the one for a missing birth date)
    pid = reg.persons.filter(pl.col("nik") == CHILD)["pid"]
    assert fallback.rule_recall(stu, reg, pid) == {**dict.fromkeys([*fallback.RULES, RESCUE, "union"], 1.0),
                                                   "kabupaten x initials": 0.0}
    b = fallback._blocks(stu, reg)
    pairs = sum(codes.size for _, _, _, codes in b.each())
    block = reg.persons.filter(pl.col("dob").dt.year() == CHILD_DOB.year).height  # kab 3201 holds them all
    mother = reg.persons.filter(pl.col("nik") == CHILD)["ibu"][0]
    # "kabupaten x mother" adds the persons of the kabupaten with the child's mother's name born another year
    siblings = reg.persons.filter((pl.col("ibu") == mother) & (pl.col("dob").dt.year() != CHILD_DOB.year)).height
    assert pairs == block + siblings


@pytest.mark.parametrize("case", ["kabupaten x name", "name x birth date", "birth date x initials",
                                  "kabupaten x initials"])
def test_the_fallback_scores_what_only_a_new_rule_finds(case: str) -> None:
    # (whether it links depends on the fitted model: measured on generated worlds, bench/matching)
    reg = _big_registry()
    stu = _frame(*{**CASES, **{k: v[0] for k, v in SUBSUMED.items()}}[case], others=30)
    model = fallback.train(stu, reg, fallback.Settings())
    d = fallback.run(stu.head(1), reg, model).decisions
    assert d["no_kk"].to_list() == [KK]
    assert d["pid"].to_list() == reg.persons.filter(pl.col("nik") == CHILD)["pid"].to_list()
    assert levels.evidence(d["code"][0])["nama"] == ">=0.94"  # the name in another order, or a letter off


def test_a_birth_date_missing_or_a_name_reordered_links_through_the_matcher() -> None:
    students = [make_student(**NO_KEYS, nama="Rizky Muhammad")]
    students += [make_student(student_id=f"s{i}") for i in range(30)]
    d = Matcher(_big_registry()).match(students, {students[0].student_id: AWAY})[0]
    assert d.outcome is Outcome.LINKED_BY_FALLBACK and d.matched_by is MatchKey.FALLBACK
    assert d.family is not None and d.family.no_kk == KK
