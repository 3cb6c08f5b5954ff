"""The name-or-date vetoes, measured on the registry (``fallback.lookalikes``, ``fallback.lifted``,
``fallback.veto_table``): how often two *different* registry persons look alike (a twin, a sibling, a father of
the same name, a near-namesake born the same day) is counted through the fallback's own blocking rules; a veto is
lifted only where that measured joint chance leaves the pair in the auto band. Where the registry holds such
lookalikes, the veto holds; the standing vetoes (another mother; name and birth date both "other"; a missing
name) never lift; the scalar path decides as the batch path."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import polars as pl
import pytest

from services.sync_hub.matching import fallback, levels, scalar, scalar_fallback
from services.sync_hub.matching.frames import SHARED_WITH_PARENT, Registry, StudentRow, students_frame
from services.sync_hub.matching.levels import N_PATTERNS, RADIX, SIZES
from shared.nik import Sex, encode

PERSONS = 5_000
WIL = "3201010001"  # kabupaten 3201, kecamatan 320101


def _model(lookalikes: np.ndarray | None = None, sampled: int = PERSONS) -> fallback.Model:
    """Agreement on name, birth date and kecamatan is rare by chance (u = 1e-4); 97 % of the records the fallback
    decides have their person in the registry (a run without NIKs)."""
    u = [np.full(size, (1 - 1e-4) / (size - 1)) for size in SIZES]
    for f in (0, 1, 4):
        u[f][0] = 1e-4
    model = fallback.Model(fallback.default_m(), u, prior=0.25 / PERSONS, stats={"registry_persons": PERSONS},
                           record_share=0.97)
    model.lookalikes, model.lookalike_persons = lookalikes, sampled if lookalikes is not None else 0
    return model


def _code(**lv: int) -> int:
    levels_ = {"nama": 0, "lahir": 0, "ibu": 4, "jk": 2, "wilayah": 0, "nik": 5, "kk": 2} | lv
    return int(sum(v * r for v, r in zip(levels_.values(), RADIX.tolist(), strict=True)))


def _none_seen() -> np.ndarray:
    return np.zeros(fallback.LOOKALIKE_SHAPE)


def _twins(per_person: float) -> np.ndarray:
    """Lookalikes at name ">= 0.88", birth date exact, same kecamatan: ``per_person`` of them per person."""
    counts = _none_seen()
    counts[2, 0, 0] = per_person * PERSONS
    return counts


NAME_TYPO = _code(nama=3)  # name ">= 0.80" only, birth date and kecamatan equal: a twin's or a sibling's pattern
FATHER = _code(lahir=3)  # name exact, birth date far (same month), same kecamatan: a father of the same name


def test_nothing_measured_lifts_nothing() -> None:
    table = fallback.veto_table(_model(), fallback.Settings())
    assert (table == levels.vetoed(np.arange(N_PATTERNS))).all()


def test_a_registry_without_lookalikes_lifts_the_name_and_date_vetoes() -> None:
    settings = fallback.Settings()
    assert levels.vetoed(np.array([NAME_TYPO, FATHER])).all()
    model = _model(_none_seen())
    lifted = fallback.lifted(model, settings)
    assert lifted[NAME_TYPO] and lifted[FATHER]
    assert not fallback.veto_table(model, settings)[[NAME_TYPO, FATHER]].any()
    # only name-or-date vetoes are ever lifted
    assert not (lifted & ~levels.name_date_vetoed(np.arange(N_PATTERNS))).any()


def test_lookalikes_in_the_registry_keep_the_veto() -> None:
    # one person in twenty has a twin (or sibling, or near-namesake) of name >= 0.88 born the same day in the same
    # kecamatan: at least as close as the pattern on every field, so the veto of a name typo holds
    settings = fallback.Settings()
    model = _model(_twins(0.05))
    assert not fallback.lifted(model, settings)[NAME_TYPO]
    assert fallback.veto_table(model, settings)[NAME_TYPO]
    # a father of the same name is another lookalike pattern (name exact, birth date far): not measured here, lifted
    assert fallback.lifted(model, settings)[FATHER]
    fathers = _none_seen()
    fathers[0, 3, 0] = 0.02 * PERSONS
    assert fallback.veto_table(_model(fathers), settings)[FATHER]


def test_few_persons_measured_lift_less() -> None:
    # nothing seen among 50 persons is no evidence that lookalikes are rare
    assert fallback.veto_table(_model(_none_seen(), sampled=50), fallback.Settings())[NAME_TYPO]


def test_the_standing_vetoes_never_lift() -> None:
    standing = [_code(nama=3, ibu=3), _code(nama=3, ibu=2), _code(nama=4, lahir=4), _code(nama=5)]
    assert fallback.veto_table(_model(_none_seen()), fallback.Settings())[standing].all()


def test_patterns_whose_lookalikes_are_not_all_counted_never_lift() -> None:
    # the blocking rules reach every registry pair of the same kabupaten with the birth date or the name exact;
    # a near birth date may be a year off (another block), a near name other words, a missing field anything
    uncounted = [_code(nama=3, lahir=5), _code(nama=3, wilayah=2), _code(nama=3, wilayah=3), _code(nama=1, lahir=3)]
    model = _model(_none_seen())
    assert levels.vetoed(np.array(uncounted)).all()
    assert fallback.veto_table(model, fallback.Settings())[uncounted].all()


def test_evidence_against_still_counts() -> None:
    # a NIK that differs ("other") or another sex weighs against the pair: with it, the same pattern stays vetoed
    model = _model(_none_seen())
    table = fallback.veto_table(model, fallback.Settings())
    assert not table[NAME_TYPO]
    assert table[_code(nama=3, jk=1)]


def test_a_model_keeps_its_lookalikes_when_stored() -> None:
    model = _model(_twins(0.01), sampled=4_000)
    back = fallback.Model.from_json(model.to_json())
    assert back.lookalike_persons == 4_000 and back.lookalikes is not None
    assert (back.lookalikes == model.lookalikes).all()
    settings = fallback.Settings()
    assert (fallback.veto_table(back, settings) == fallback.veto_table(model, settings)).all()
    old = {k: v for k, v in model.to_json().items() if k not in ("lookalikes", "lookalike_persons")}
    assert fallback.Model.from_json(old).lookalikes is None  # stored before: every veto holds


# ---- measured on a registry ----------------------------------------------------------------------------


def _registry(people: list[tuple[str, date, str, str]]) -> Registry:
    """(name, birth date, family KK number, region) per person."""
    persons = pl.DataFrame({
        "nik": [f"99{i:014d}" for i in range(len(people))], "no_kk": [kk for _, _, kk, _ in people],
        "nama": [n for n, _, _, _ in people], "sex": [None] * len(people), "dob": [d for _, d, _, _ in people],
        "ibu": [None] * len(people), "hub": ["ANAK"] * len(people)},
        schema={"nik": pl.String, "no_kk": pl.String, "nama": pl.String, "sex": pl.String, "dob": pl.Date,
                "ibu": pl.String, "hub": pl.String})
    kks = list(dict.fromkeys(kk for _, _, kk, _ in people))
    wil = {kk: w for _, _, kk, w in people}
    families = pl.DataFrame({"no_kk": kks, "wil": [wil[k] for k in kks], "version": [1] * len(kks),
                             "pkh_status": [None] * len(kks), "pkh_periode": [None] * len(kks),
                             "no_kks": [None] * len(kks)})
    return Registry.build(persons, families)


def _strangers(n: int) -> list[tuple[str, date, str, str]]:
    """People alike in nothing: each in a kabupaten of its own."""
    return [(f"orang{chr(97 + i % 26)}{chr(97 + i // 26)} nomor", date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
             f"98{i:014d}", f"{5101 + i}010001") for i in range(n)]


def test_lookalikes_are_counted_between_distinct_persons_only() -> None:
    people = [("dewi lestari", date(2012, 5, 3), "3201010000000001", WIL),
              ("dina lestari", date(2012, 5, 3), "3201010000000001", WIL),  # her twin (name 0.84)
              ("budi santoso", date(2012, 9, 9), "3201010000000002", WIL),
              ("budi santoso", date(1980, 1, 2), "3201010000000002", WIL),  # his father, same name
              *_strangers(30)]
    counts, sampled = fallback.lookalikes(_registry(people), fallback.Settings())
    assert sampled == len(people)
    assert counts[3, 0, 0] == 2  # each twin is the other's lookalike; nobody is their own
    assert counts[0, 4, 0] == 2  # father and son
    assert counts[:, 0, :].sum() == 2  # no one else shares a birth date with anyone


def _decide(reg: Registry, model: fallback.Model, row: StudentRow) -> tuple[dict, dict]:  # type: ignore[type-arg]
    reg._cache.pop("scalar_fallback", None)
    batch = fallback.run(students_frame([row]), reg, model).decisions.to_dicts()
    few = scalar_fallback.run(scalar.students([row], date(2026, 7, 1)), reg, model)
    assert len(batch) == len(few) == 1
    return batch[0], few[0]


@pytest.mark.parametrize(("counts", "band"), [(_none_seen(), "auto"), (_twins(0.05), "none")])
def test_both_paths_decide_a_lifted_veto_alike(counts: np.ndarray, band: str) -> None:
    reg = _registry([("dewi lestari", date(2012, 5, 3), "3201010000000001", WIL), *_strangers(30)])
    row = StudentRow(nama="Dina Lestari", sex="", dob=date(2012, 5, 3), nama_ibu="", nama_ayah="", nama_wali="",
                     nik=None, nik_ibu=None, nik_ayah=None, nik_wali=None, no_kk=None, wil=WIL)
    batch, few = _decide(reg, _model(counts), row)
    assert levels.evidence(batch["code"])["nama"] == ">=0.80"
    assert batch["band"] == few["band"] == band
    assert batch["no_kk"] == few["no_kk"] == "3201010000000001"
    assert batch["probability"] >= 0.999  # the marginal weights alone would auto-link it: the veto decides


# ---- explicit rules: whatever the band ------------------------------------------------------------------


@pytest.mark.parametrize("auto_p", [0.999, 0.99, 0.9, 0.5])
def test_evidence_against_is_never_lifted_whatever_the_band(auto_p: float) -> None:
    # the pattern alone is lifted (no lookalikes measured); with another sex, a NIK differing in its serial (a
    # twin's) or more, another KK number or a mother's name that does not agree, it keeps its veto even with the
    # auto band lowered to a coin toss: evidence against is a rule, not weight a lower band outweighs
    table = fallback.veto_table(_model(_none_seen()), fallback.Settings(auto_p=auto_p))
    assert not table[NAME_TYPO] and not table[FATHER]
    for against in ({"jk": 1}, {"nik": 3}, {"nik": 4}, {"kk": 1}, {"ibu": 2}):
        assert table[_code(nama=3, **against)], against
        assert table[_code(lahir=3, **against)], against
    assert fallback.contradicted(levels.decode(np.array([_code(nama=3, jk=1)])))[0]
    assert not fallback.contradicted(levels.decode(np.array([NAME_TYPO, _code(jk=0, ibu=0)]))).any()


@pytest.mark.parametrize("auto_p", [0.999, 0.9, 0.5])
def test_a_nik_typed_for_a_parent_too_is_never_auto_linked_by_the_fallback(auto_p: float) -> None:
    # the child's NIK typed as the mother's and the father's as well, no KK number: the record names someone else
    # for sure; the fallback finds the family (a reviewer's case) but never links it by itself, whatever the band.
    # The same record with the parents' NIKs left empty is auto-linked: the rule, not the weight, holds it.
    reg = _registry([("dewi lestari", date(2012, 5, 3), "3201010000000001", WIL), *_strangers(30)])
    nik = encode("320101", Sex.P, date(2012, 5, 3), 7)
    row = StudentRow(nama="Dewi Lestari", sex="", dob=date(2012, 5, 3), nama_ibu="", nama_ayah="", nama_wali="",
                     nik=nik, nik_ibu=nik, nik_ayah=nik, nik_wali=None, no_kk=None, wil=WIL)
    settings = fallback.Settings(auto_p=auto_p)
    model = _model(_none_seen())
    assert students_frame([row])["rule_nik"].to_list() == [SHARED_WITH_PARENT]
    for shared, band in ((True, "review"), (False, "auto")):
        r = row if shared else dataclasses.replace(row, nik_ibu=None, nik_ayah=None)
        reg._cache.pop("scalar_fallback", None)
        batch = fallback.run(students_frame([r]), reg, model, settings).decisions.to_dicts()[0]
        few = scalar_fallback.run(scalar.students([r], date(2026, 7, 1)), reg, model, settings)[0]
        assert batch["band"] == few["band"] == band
        assert batch["no_kk"] == few["no_kk"] == "3201010000000001"
        assert batch["probability"] >= auto_p


def test_a_key_against_holds_a_pair_to_its_own_band() -> None:
    # the band was lowered for what a record without keys can show; a KK number (or NIK) that disagrees keeps the
    # pair to ``auto_p_keys_against`` (here: never), the same record without it is linked at the band
    assert fallback.keys_against(levels.decode(np.array([_code(kk=1), _code(nik=3), _code(nik=4)]))).all()
    assert not fallback.keys_against(levels.decode(np.array([_code(), _code(nik=1), _code(nik=2)]))).any()
    reg = _registry([("dewi lestari", date(2012, 5, 3), "3201010000000001", WIL), *_strangers(30)])
    settings = fallback.Settings(auto_p=0.5, auto_p_keys_against=1.0)
    row = StudentRow(nama="Dewi Lestari", sex="", dob=date(2012, 5, 3), nama_ibu="", nama_ayah="", nama_wali="",
                     nik=None, nik_ibu=None, nik_ayah=None, nik_wali=None, no_kk="3201019999999999", wil=WIL)
    model = _model(_none_seen())
    for r, band in ((row, "none"), (dataclasses.replace(row, no_kk=None), "auto")):
        reg._cache.pop("scalar_fallback", None)
        batch = fallback.run(students_frame([r]), reg, model, settings).decisions.to_dicts()[0]
        few = scalar_fallback.run(scalar.students([r], date(2026, 7, 1)), reg, model, settings)[0]
        assert batch["band"] in (band, "review") and batch["band"] == few["band"]
        assert (batch["band"] == "auto") == (band == "auto")
        assert batch["no_kk"] == few["no_kk"] == "3201010000000001"
