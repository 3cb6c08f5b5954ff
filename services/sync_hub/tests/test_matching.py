"""The matcher on small hand-built registries: every key, every outcome, each conflict and review path."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from services.sync_hub.matching import fallback, levels
from services.sync_hub.matching.frames import Registry, students_frame
from services.sync_hub.matching.service import (
    Matcher,
    ReviewedDecision,
    candidates_fingerprint,
    fingerprint,
    to_rows,
)
from services.sync_hub.sync.plan import desired_pkh
from services.sync_hub.tests.factories import CHILD, CHILD_DOB, FATHER, FATHER_DOB, KK, MOTHER, MOTHER_DOB, OTHER_KK
from services.sync_hub.tests.factories import student as make_student
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import SourceSystem
from shared.nik import Sex, encode

SIBLING = encode("320101", Sex.P, date(2016, 5, 1), 4)
OTHER_MOTHER = encode("320101", Sex.P, date(1990, 2, 2), 5)
OTHER_CHILD = encode("320101", Sex.L, CHILD_DOB, 6)  # same day, same kecamatan: shares 12 digits with CHILD


def registry(*, pkh: str | None = "AKTIF", other_family: bool = True, extra: list[dict] | None = None,
             kk_lama: list[tuple[str, str]] | None = None) -> Registry:
    rows = [
        dict(nik=FATHER, no_kk=KK, nama="Budi Santoso", sex="L", dob=FATHER_DOB, ibu="Sri", hub="KEPALA_KELUARGA"),
        dict(nik=MOTHER, no_kk=KK, nama="Siti Aminah", sex="P", dob=MOTHER_DOB, ibu="Fatimah", hub="ISTRI"),
        dict(nik=CHILD, no_kk=KK, nama="M. Rizky", sex="L", dob=CHILD_DOB, ibu="Hj. Siti Aminah", hub="ANAK"),
        dict(nik=SIBLING, no_kk=KK, nama="Nur Aini", sex="P", dob=date(2016, 5, 1), ibu="Siti Aminah", hub="ANAK"),
    ]
    families = [dict(no_kk=KK, wil="3201012001", version=7, pkh_status=pkh, pkh_periode="2026 tahap III",
                     no_kks="3201019999000001")]
    if other_family:
        rows += [
            dict(nik=OTHER_MOTHER, no_kk=OTHER_KK, nama="Dewi Lestari", sex="P", dob=date(1990, 2, 2), ibu="Ani",
                 hub="KEPALA_KELUARGA"),
            dict(nik=OTHER_CHILD, no_kk=OTHER_KK, nama="Agus Salim", sex="L", dob=CHILD_DOB, ibu="Dewi Lestari",
                 hub="ANAK"),
        ]
        families.append(dict(no_kk=OTHER_KK, wil="3201012002", version=3, pkh_status=None, pkh_periode=None,
                             no_kks=None))
    rows += extra or []
    lama = pl.DataFrame(kk_lama or [], schema={"old_kk": pl.String, "no_kk": pl.String}, orient="row")
    return Registry.build(pl.DataFrame(rows), pl.DataFrame(families), lama)


def decide(reg: Registry, **overrides: object):  # type: ignore[no-untyped-def]
    return Matcher(reg).match([make_student(**overrides)])[0]


# ---- deterministic keys -------------------------------------------------------------------------

def test_child_nik_verified_gives_pkh_recipient_and_names_the_child() -> None:
    d = decide(registry())
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is MatchKey.NIK
    assert d.family is not None and d.family.no_kk == KK and d.person_nik == CHILD


def test_family_not_in_pkh() -> None:
    assert decide(registry(pkh="GRADUASI")).outcome is Outcome.NOT_PKH_RECIPIENT
    assert decide(registry(pkh=None)).outcome is Outcome.NOT_PKH_RECIPIENT


@pytest.mark.parametrize(("overrides", "key"), [
    ({"nik": None}, MatchKey.NIK_IBU),
    ({"nik": None, "nik_ibu": None, "no_kk": None}, MatchKey.NIK_AYAH),
    ({"nik": None, "nik_ibu": None, "nik_ayah": None}, MatchKey.NO_KK),
    ({"nik": None, "nik_ibu": None, "nik_ayah": None, "no_kk": None, "nik_wali": FATHER, "nama_wali": "Budi S."},
     MatchKey.NIK_WALI),
])
def test_each_key_decides_in_turn(overrides: dict, key: MatchKey) -> None:
    d = decide(registry(), **overrides)
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is key and d.family is not None
    assert d.family.no_kk == KK


def test_former_kk_number_finds_the_family() -> None:
    old = "3201010101150009"
    d = decide(registry(kk_lama=[(old, KK)]), nik=None, nik_ibu=None, nik_ayah=None, no_kk=old)
    assert d.matched_by is MatchKey.NO_KK and d.family is not None and d.family.no_kk == KK
    assert d.person_nik == CHILD  # the KK's members include the child


def test_kk_key_names_no_child_when_only_a_namesake_sibling_passes() -> None:
    # the child is not on the KK; an older sister carries the record's name: the family (by the mother's name)
    # is linked, the sister is never named as the child
    namesake = dict(nik=encode("320101", Sex.P, date(2009, 8, 3), 7), no_kk=KK, nama="Nur Aini", sex="P",
                    dob=date(2009, 8, 3), ibu="Siti Aminah", hub="ANAK")
    reg = registry(extra=[namesake])
    d = decide(reg, nik=None, nik_ibu=None, nik_ayah=None, no_kk=KK, nama="Nur Aini", jenis_kelamin="P",
               tanggal_lahir=date(2013, 2, 1))
    assert d.matched_by is MatchKey.NO_KK and d.family is not None and d.family.no_kk == KK
    assert d.person_nik is None


def test_mothers_names_alike_only_by_their_first_words_are_not_close() -> None:
    sim = levels.ibu_pairs(["ni gede sriasih", "siti aminah", "ni made ayu"],
                             ["ni gede suastini", "siti aminnah", "ni made ayu"])
    assert sim[0] < 0.92 <= sim[1] and sim[2] == 1.0


def test_kk_of_a_family_without_the_child_does_not_link() -> None:
    d = decide(registry(), nik=None, nik_ibu=None, nik_ayah=None, no_kk=OTHER_KK)
    assert d.outcome not in (Outcome.PKH_RECIPIENT, Outcome.NOT_PKH_RECIPIENT)


def test_no_nik_at_all() -> None:
    d = decide(registry(other_family=False), nik=None, nik_ibu="", nik_ayah=None, no_kk=None,
               nama="Zainal Abidin", nama_ibu_kandung="Rohani")
    assert d.outcome is Outcome.NO_NIK and d.matched_by is MatchKey.NONE


@pytest.mark.parametrize(("raw", "rule"), [
    ("1234567890123456", "placeholder"), ("32010109031", "length"),
    ("3201010903140000", "serial_zero"), ("9901010903140001", "unknown_province"),
])
def test_all_invalid_names_the_rule(raw: str, rule: str) -> None:
    d = decide(registry(other_family=False), nik=raw, nik_ibu=None, nik_ayah=None, no_kk=None,
               nama="Zainal Abidin", nama_ibu_kandung="Rohani")
    assert d.outcome is Outcome.NIK_INVALID and d.detail is not None and rule in d.detail


def test_kk_typed_as_nik_is_not_used_as_a_nik() -> None:
    d = decide(registry(), nik=KK, nik_ibu=None, nik_ayah=None, no_kk=KK)
    assert d.matched_by is MatchKey.NO_KK  # used as what it is: the KK number
    d = decide(registry(other_family=False), nik=KK, nik_ibu=None, nik_ayah=None, no_kk=KK,
               nama="Zainal Abidin", nama_ibu_kandung="Rohani")
    assert d.outcome is Outcome.NIK_INVALID and "same_as_no_kk" in (d.detail or "")


def test_a_childs_nik_equal_to_a_parents_is_not_the_childs_key() -> None:
    """Dapodik holds such a record back (``nik_sama_orang_tua``); the hub decides it on the other keys. One NIK
    typed for the child and both parents (here the child's own): never the child's key, and as a parent's key
    it names the child, whom the parent's check (sex, name) refuses; the KK number links the family."""
    d = decide(registry(), nik=CHILD, nik_ibu=CHILD, nik_ayah=CHILD)
    assert (d.outcome, d.matched_by, d.person_nik) == (Outcome.PKH_RECIPIENT, MatchKey.NO_KK, CHILD)
    assert "invalid: nik: shared_with_family_member" in (d.detail or "")
    # no KK number: no key links (the fallback may offer the family to a reviewer, never link it by itself)
    d = decide(registry(), nik=CHILD, nik_ibu=CHILD, nik_ayah=CHILD, no_kk=None)
    assert d.outcome in (Outcome.NIK_MISMATCH, Outcome.IN_REVIEW) and d.family is None
    base = str(d.evidence.get("base_detail", d.detail))
    assert d.evidence.get("base_outcome", d.outcome.value) == Outcome.NIK_MISMATCH.value
    assert "nik_ibu: jenis_kelamin of nik_ibu disagrees" in base and "nik: shared_with_family_member" in base
    # the mother's NIK typed as the child's too: the mother's key, verified as the mother, links; the child is
    # the family's member who is the child (never the mother, whose NIK the record gave as the child's)
    d = decide(registry(), nik=MOTHER, nik_ibu=MOTHER, nik_ayah=None, no_kk=None)
    assert (d.outcome, d.matched_by, d.person_nik) == (Outcome.PKH_RECIPIENT, MatchKey.NIK_IBU, CHILD)
    assert "nik: shared_with_family_member" in (d.detail or "") and "nik: nama disagrees" not in str(d.notes)
    # a placeholder typed for all three (the synthetic world's placeholder_nik): linked by KK, the rule named
    d = decide(registry(), nik="1234567890123456", nik_ibu="1234567890123456", nik_ayah="1234567890123456")
    assert (d.outcome, d.matched_by) == (Outcome.PKH_RECIPIENT, MatchKey.NO_KK)
    assert "nik: placeholder" in (d.detail or "")
    d = decide(registry(), nik="1234567890123456", nik_ibu="1234567890123456", nik_ayah="1234567890123456",
               no_kk=None)
    assert d.family is None and d.evidence.get("base_outcome", d.outcome.value) == Outcome.NIK_INVALID.value
    assert "nik_ibu: placeholder" in str(d.evidence.get("base_detail", d.detail))


def test_nik_of_someone_else_is_a_mismatch_naming_what_disagreed() -> None:
    d = decide(registry(), nik=OTHER_CHILD, nik_ibu=None, nik_ayah=None, no_kk=None,
               nama="Zainal Abidin", nama_ibu_kandung="Rohani", tanggal_lahir=date(2013, 1, 1))
    assert d.outcome is Outcome.NIK_MISMATCH and d.detail is not None and "nik: nama disagrees" in d.detail


def test_parent_nik_of_the_wrong_sex_is_a_mismatch() -> None:
    d = decide(registry(), nik=None, nik_ibu=FATHER, nik_ayah=None, no_kk=None, nama="Zainal Abidin",
               nama_ibu_kandung="Budi Santoso")
    assert d.outcome is Outcome.NIK_MISMATCH and "jenis_kelamin of nik_ibu" in (d.detail or "")


def test_valid_nik_not_in_registry() -> None:
    absent = encode("320101", Sex.L, date(2012, 1, 1), 99)
    d = decide(registry(other_family=False), nik=absent, nik_ibu=None, nik_ayah=None, no_kk=None,
               nama="Zainal Abidin", nama_ibu_kandung="Rohani", tanggal_lahir=date(2012, 1, 1))
    assert d.outcome is Outcome.NOT_REGISTERED and d.matched_by is MatchKey.NIK


def test_child_and_mother_in_different_families_go_to_review_with_both() -> None:
    d = decide(registry(), nik_ibu=OTHER_MOTHER, nama_ibu_kandung="Dewi Lestari")
    assert d.outcome is Outcome.IN_REVIEW and d.review_reason == "conflict" and d.family is None
    assert {c.no_kk for c in d.candidates} == {KK, OTHER_KK}


def test_father_in_another_family_is_a_note_not_a_conflict() -> None:
    d = decide(registry(extra=[dict(nik=encode("320101", Sex.L, FATHER_DOB, 8), no_kk=OTHER_KK,
                                    nama="Budi Santoso", sex="L", dob=FATHER_DOB, ibu="Sri", hub="SUAMI")]),
               nik_ayah=encode("320101", Sex.L, FATHER_DOB, 8))
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is MatchKey.NIK
    assert any("another family" in n for n in d.notes)


# ---- fallback ------------------------------------------------------------------------------------

def _crowd(n: int = 60) -> list[dict]:
    """Unrelated children in the same kabupaten and birth year, so the blocks look like real ones."""
    out = []
    for i in range(n):
        born = date(2014, 1 + i % 12, 1 + i % 27)
        out.append(dict(nik=encode("320102", Sex.L if i % 2 else Sex.P, born, 100 + i), no_kk=f"32010201012000{i:02d}",
                        nama=f"Anak {chr(65 + i % 26)}{chr(65 + (i * 7) % 26)}", sex="L" if i % 2 else "P", dob=born,
                        ibu=f"Ibu {chr(65 + (i * 3) % 26)}", hub="ANAK"))
    return out


def _big_registry() -> Registry:
    crowd = _crowd()
    reg = registry()
    persons = pl.concat([reg.persons.drop("pid", "wil"), pl.DataFrame(crowd).with_columns(pl.col("dob").cast(pl.Date))],
                        how="diagonal_relaxed")
    crowd_families = pl.DataFrame([dict(no_kk=c["no_kk"], wil="3201022001", version=1, pkh_status=None,
                                        pkh_periode=None, no_kks=None) for c in crowd])
    fams = pl.concat([reg.families, crowd_families], how="diagonal_relaxed")
    return Registry.build(persons, fams, None, raw_names=False)


def test_fallback_links_a_student_without_any_usable_key() -> None:
    reg = _big_registry()
    students = [make_student(nik="1234567890123456", nik_ibu="1234567890123456", nik_ayah="1234567890123456",
                             no_kk=None, nama="Muhammad Rizki")]
    students += [make_student(student_id=f"s{i}") for i in range(30)]  # the model trains on the run's students
    d = Matcher(reg).match(students)[0]
    assert d.outcome is Outcome.LINKED_BY_FALLBACK and d.matched_by is MatchKey.FALLBACK
    assert d.family is not None and d.family.no_kk == KK
    assert d.evidence["fields"]["nama"] in ("exact", ">=0.94") and float(d.evidence["probability"]) >= 0.999
    # pending, never "not a recipient": a PKH family writes true, a non-PKH family writes nothing
    assert desired_pkh(SourceSystem.EMIS, d, None)["penerima_pkh"] is True
    assert desired_pkh(SourceSystem.EMIS, d, None)["no_kks"] is None  # no card number on a probable link


def test_homonym_with_another_mother_is_never_auto_linked() -> None:
    reg = _big_registry()
    students = [make_student(nik=None, nik_ibu=None, nik_ayah=None, no_kk=None, nama="M. Rizky",
                             nama_ibu_kandung="Kartini Wulandari")]  # same name and birth date, other mother
    students += [make_student(student_id=f"s{i}") for i in range(30)]
    d = Matcher(reg).match(students)[0]
    assert d.outcome is not Outcome.LINKED_BY_FALLBACK and d.family is None


def test_vetoes_and_bands() -> None:
    code = lambda **lv: int(sum(lv.get(f, 0) * levels.RADIX[i] for i, (f, _, _) in enumerate(levels.FIELDS)))  # noqa: E731
    import numpy as np

    vetoed = levels.vetoed(np.array([
        code(ibu=3, nik=5, kk=2),  # the mother's name disagrees
        code(nama=3, nik=5, kk=2),  # the name is far and nothing strong makes up for it
        code(lahir=3, nik=5, kk=2),  # the birth date is far
        code(nik=5, kk=2),  # everything agrees
        code(lahir=3, kk=0),  # the KK number makes up for a far birth date
        code(lahir=5, nik=5, kk=2),  # the birth date is missing: no evidence either way, no veto
        code(lahir=2, nik=5, kk=2),  # one digit of the birth date mistyped (a birth-year typo): no veto
        code(nama=5, nik=5, kk=2),  # no name: never an auto-link on the other fields alone
        code(nama=4, lahir=4, kk=0),  # neither name nor birth date: not even the KK number makes up for it
    ]))
    assert vetoed.tolist() == [True, True, True, False, False, False, False, True, True]


def _code(**lv: int) -> int:
    return int(sum(lv.get(f, 0) * levels.RADIX[i] for i, (f, _, _) in enumerate(levels.FIELDS)))


# a stranger of the same block: names, mother's name, NIK and KK disagree; same kabupaten, same birth month
STRANGER = _code(nama=4, lahir=3, ibu=3, jk=0, wilayah=1, nik=4, kk=1)
MATCH = _code(nama=0, lahir=0, ibu=0, jk=0, wilayah=0, nik=5, kk=2)


def _block_counts(strangers: int, matches: int) -> np.ndarray:
    counts = np.zeros(levels.N_PATTERNS)
    counts[STRANGER], counts[MATCH] = strangers, matches
    return counts


def _random_u() -> list[np.ndarray]:
    """u as random pairs give it: nearly everything disagrees, regions mostly differ."""
    rng = np.random.default_rng(3)
    codes = [_code(nama=4, lahir=4, ibu=3, jk=int(rng.integers(0, 2)), wilayah=int(rng.choice([1, 2], p=[.02, .98])),
                   nik=4, kk=1) for _ in range(5000)]
    return fallback.estimate_u(np.array(codes))


def test_the_prior_stays_where_the_deterministic_links_put_it() -> None:
    # candidate pairs are nearly all strangers of one block: a free prior drifts up and takes "in the same
    # block" for "a match"; the fixed one keeps a stranger improbable
    u, counts = _random_u(), _block_counts(strangers=20_000, matches=300)
    fixed = fallback.fit(counts, u, prior=1e-5)
    free = fallback.fit(counts, u, prior=1e-5, fixed_prior=False)
    assert fixed.prior == 1e-5 and free.prior > 1e-3

    def p(model: fallback.Model, code: int) -> float:
        return float(1 / (1 + np.exp2(-(model.pattern_weights()[code] + model.prior_weight()))))

    assert p(fixed, STRANGER) < 0.01 < 0.999 < p(fixed, MATCH)
    assert p(free, STRANGER) > p(fixed, STRANGER) * 100


def test_train_takes_the_prior_from_the_share_the_deterministic_pass_links() -> None:
    reg = _big_registry()
    stu = students_frame(to_rows([make_student(student_id=f"s{i}") for i in range(20)]))
    assert fallback.match_share(stu, reg) == 1.0  # every one of them links by its NIK
    model = fallback.train(stu, reg, fallback.Settings())
    assert model.prior == pytest.approx(1.0 / reg.persons.height)
    # told that the keys linked none, it starts from the floor and finds the share itself: every one of these
    # students has its child in the registry
    estimated = fallback.train(stu, reg, fallback.Settings(), share=0.0)
    assert estimated.stats["share_deterministic"] == fallback.MIN_SHARE
    assert estimated.stats["share"] > 0.9 and estimated.prior == pytest.approx(
        estimated.stats["share"] / reg.persons.height)


def test_review_needs_two_agreeing_identity_fields_one_of_them_a_name() -> None:
    assert levels.agreeing_fields(np.array([
        STRANGER,
        _code(nama=0, lahir=0, ibu=3, nik=3, kk=1, wilayah=1),  # name and birth date: a homonym, two fields
        _code(nama=4, lahir=0, ibu=3, nik=3, kk=1, wilayah=1),  # birth date and serial-only NIK: no name agrees
        _code(nama=4, lahir=0, ibu=3, nik=1, kk=0, wilayah=1),  # NIK and KK but no name: 0
        _code(nama=2, lahir=4, ibu=1, nik=4, kk=1, wilayah=1),  # both names
    ])).tolist() == [0, 2, 0, 0, 2]
    # a model fitted wrongly (a prior near 0.5, "same kabupaten" taken for a match) finds a stranger of the
    # block probable; the guard keeps it out of review
    u = _random_u()
    bad = fallback.Model(m=[x.copy() for x in u], u=u, prior=0.5)
    bad.m[4] = np.array([0.1, 0.9, 1e-6, 1e-6])
    stranger = make_student(nik=None, nik_ibu=None, nik_ayah=None, no_kk=None, nama="Zulkarnain Harahap",
                            nama_ibu_kandung="Rosmawati", tanggal_lahir=date(2014, 3, 9))
    stu = students_frame(to_rows([stranger], {stranger.student_id: "3201022001"}))
    d = fallback.run(stu, _big_registry(), bad).decisions
    assert d.height == 1 and d["probability"][0] >= 0.5
    assert levels.agreeing_fields(d["code"].to_numpy()).tolist() == [0] and d["band"][0] == "none"


def test_twins_link_the_family_but_no_twin() -> None:
    twin = encode("320101", Sex.L, CHILD_DOB, 2)
    reg = _big_registry()
    persons = pl.concat([reg.persons.drop("pid", "wil"), pl.DataFrame([dict(
        nik=twin, no_kk=KK, nama="muhammad riski", sex="L", dob=CHILD_DOB, ibu="siti aminah", hub="ANAK")])],
        how="diagonal_relaxed")
    reg = Registry.build(persons, reg.families, None, raw_names=False)
    students = [make_student(nik=None, nik_ibu=None, nik_ayah=None, no_kk=None, nama="Muhammad Rizqi")]
    students += [make_student(student_id=f"s{i}") for i in range(30)]
    d = Matcher(reg).match(students)[0]
    assert d.family is None or d.family.no_kk == KK
    assert d.person_nik is None  # never one twin by a guess


# ---- reviewers' decisions --------------------------------------------------------------------------

def test_a_standing_link_decision_wins_until_a_record_changes() -> None:
    reg = registry()
    s = make_student(nik_ibu=OTHER_MOTHER, nama_ibu_kandung="Dewi Lestari")
    first = Matcher(reg).match([s])[0]
    assert first.outcome is Outcome.IN_REVIEW
    standing = ReviewedDecision("d1", True, KK, 7, fingerprint(s), candidates_fingerprint(first.candidates), "ana",
                                "checked the KK scan")
    key = (s.system.value, s.student_id)
    d = Matcher(reg).match([s], reviewed={key: standing})[0]
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is MatchKey.REVIEW and "ana" in (d.detail or "")
    changed = make_student(nik_ibu=OTHER_MOTHER, nama_ibu_kandung="Dewi Lestari", nama="Muhammad Rizki Pratama")
    assert Matcher(reg).match([changed], reviewed={key: standing})[0].matched_by is not MatchKey.REVIEW
    newer = registry(pkh="GRADUASI")
    newer = Registry(newer.persons, newer.families.with_columns(pl.lit(8, dtype=pl.Int64).alias("version")),
                     newer.kk_lama)
    assert Matcher(newer).match([s], reviewed={key: standing})[0].matched_by is not MatchKey.REVIEW


def test_a_no_link_decision_keeps_the_student_unlinked() -> None:
    reg = registry()
    s = make_student(nik_ibu=OTHER_MOTHER, nama_ibu_kandung="Dewi Lestari")
    first = Matcher(reg).match([s])[0]
    standing = ReviewedDecision("d2", False, None, None, fingerprint(s), candidates_fingerprint(first.candidates),
                                "ana", "neither family")
    d = Matcher(reg).match([s], reviewed={(s.system.value, s.student_id): standing})[0]
    assert d.outcome is Outcome.NIK_MISMATCH and d.matched_by is MatchKey.REVIEW and d.family is None
