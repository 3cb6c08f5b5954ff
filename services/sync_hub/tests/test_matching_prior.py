"""The fallback's record prior (``fallback.record_prior``): the share of records the fallback decides that have
their person in the registry, by EM over the sampled records' candidates; decisions use it when it is larger
than the per-pair prior's (a run whose NIKs link few), never smaller."""

from __future__ import annotations

import numpy as np
import pytest

from services.sync_hub.matching import fallback
from services.sync_hub.matching.levels import N_PATTERNS, RADIX, SIZES

PERSONS = 5_000


def _model() -> fallback.Model:
    """Agreement on name, birth date and kecamatan is rare by chance (u = 1e-4): a candidate agreeing on all
    three is a match for sure."""
    u = [np.full(size, (1 - 1e-4) / (size - 1)) for size in SIZES]
    for f in (0, 1, 4):
        u[f][0] = 1e-4
    return fallback.Model(fallback.default_m(), u, prior=0.5 / PERSONS, stats={"registry_persons": PERSONS})


def _code(**levels: int) -> int:
    lv = {"nama": 0, "lahir": 0, "ibu": 4, "jk": 2, "wilayah": 0, "nik": 5, "kk": 2} | levels
    return int(sum(v * r for v, r in zip(lv.values(), RADIX.tolist(), strict=True)))


def _rows(codes_by_row: dict[int, list[int]]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array([row * N_PATTERNS + c for row, codes in codes_by_row.items() for c in codes], dtype=np.int64)
    return np.unique(keys, return_counts=True)


def test_the_share_of_records_with_a_sure_candidate_is_found() -> None:
    # 600 of 1,000 records have a candidate agreeing on everything; 400 have only strangers
    strangers = _code(nama=4, lahir=4, wilayah=1)
    rows = {i: [_code(), strangers] for i in range(600)} | {i: [strangers] for i in range(600, 1_000)}
    share, records = fallback.record_prior(_rows(rows), _model(), PERSONS, share=0.25)
    assert records == 1_000 and share == pytest.approx(0.6, abs=0.01)


def test_records_a_key_links_are_left_out() -> None:
    # the deterministic pass links records with an equal NIK or KK number: they never reach the fallback
    keyed = {i: [_code(nik=0)] for i in range(500)}
    strangers = _code(nama=4, lahir=4, wilayah=1)
    rows = keyed | {i: [_code()] for i in range(500, 1_100)} | {i: [strangers] for i in range(1_100, 1_700)}
    share, records = fallback.record_prior(_rows(rows), _model(), PERSONS, share=0.25)
    assert records == 1_200 and share == pytest.approx(0.5, abs=0.01)


def test_records_without_a_candidate_are_left_out() -> None:
    # 600 records with a sure candidate, 600 with strangers only, and 800 for which blocking found no candidate
    # at all: those are never decided, and their person may be outside every block, so they do not count as
    # records without a person (counted, they would pull the share to 600 / 2,000)
    strangers = _code(nama=4, lahir=4, wilayah=1)
    rows = {i: [_code()] for i in range(600)} | {i: [strangers] for i in range(600, 1_200)}
    share, records = fallback.record_prior(_rows(rows), _model(), PERSONS, share=0.25)
    assert records == 1_200 and share == pytest.approx(0.5, abs=0.01)


def test_few_records_keep_the_start() -> None:
    rows = {i: [_code()] for i in range(fallback.MIN_RECORDS - 1)}
    share, _ = fallback.record_prior(_rows(rows), _model(), PERSONS, share=0.25)
    assert share == pytest.approx(0.25 / 1.25)


def test_the_share_is_capped() -> None:
    rows = {i: [_code()] for i in range(1_000)}
    share, _ = fallback.record_prior(_rows(rows), _model(), PERSONS, share=0.25)
    assert share == pytest.approx(fallback.MAX_RECORD_SHARE)


def test_decisions_use_the_larger_prior_and_the_model_keeps_it() -> None:
    model = _model()
    assert model.decision_prior_weight() == model.prior_weight()  # none estimated (a model stored before)
    model.record_share = 0.9  # odds 9 : 1 spread over the persons: 9 / 5,000 against the pair's 0.5 / 5,000
    assert model.decision_prior_weight() == pytest.approx(np.log2(9 / PERSONS))
    assert model.decision_prior_weight() - model.prior_weight() == pytest.approx(np.log2(18), abs=1e-3)
    back = fallback.Model.from_json(model.to_json())
    assert back.decision_prior_weight() == model.decision_prior_weight()
    model.record_share = 0.1  # smaller than the per-pair prior's: not used
    assert model.decision_prior_weight() == model.prior_weight()
