"""The fallback model kept at the hub: fitted once, reused while the registry holds still, fitted again when
it moved past the threshold, over other comparisons, or on an operator's request; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from services.sync_hub.matching import fallback, levels, model_store
from services.sync_hub.matching.frames import Registry, RegistryStats
from services.sync_hub.matching.model_store import MatchingModelRow, ModelStore
from services.sync_hub.matching.service import Matcher
from services.sync_hub.tests.factories import student as make_student
from services.sync_hub.tests.test_matching import _big_registry
from shared.contracts.common import MatchKey, Outcome
from shared.db import session_scope


def _model(prior: float = 1e-4) -> fallback.Model:
    m = [np.linspace(1, 2, n) / np.linspace(1, 2, n).sum() for n in levels.SIZES]
    u = [np.full(n, 1 / n) for n in levels.SIZES]
    return fallback.Model(m, u, prior, 7, {"students": 30, "pairs": 900})


def _registry(persons: int, seq: int) -> Registry:
    p = pl.DataFrame({"nik": [f"{3201010101000000 + i}" for i in range(persons)],
                      "no_kk": [f"{3201010000000000 + i // 4}" for i in range(persons)], "nama": "A", "sex": "L",
                      "ibu": "B", "hub": "ANAK"}).with_columns(dob=pl.date(2015, 1, 1))
    f = p.select(pl.col("no_kk").unique().sort()).with_columns(
        pl.lit("3201012001").alias("wil"), pl.lit(1).alias("version"), pl.lit(None, pl.String).alias("pkh_status"),
        pl.lit(None, pl.String).alias("pkh_periode"), pl.lit(None, pl.String).alias("no_kks"))
    return Registry.build(p, f, None, seq, raw_names=False)


class Fits:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> fallback.Model:
        self.calls += 1
        return _model(prior=1e-4 * self.calls)


def test_model_round_trips_through_json() -> None:
    m = _model()
    back = fallback.Model.from_json(m.to_json())
    assert back.prior == m.prior and back.iterations == 7
    assert all(np.array_equal(a, b) for a, b in zip(back.m + back.u, m.m + m.u, strict=True))
    with pytest.raises(ValueError, match="other comparisons"):
        fallback.Model.from_json({**m.to_json(), "schema": "something else"})


def test_reused_until_the_registry_moves_past_the_threshold(engine: Engine) -> None:
    store, fits = ModelStore(engine), Fits()
    first = store.obtain(_registry(400, seq=100), fits)
    assert first.fitted and first.reason == "no stored model" and fits.calls == 1
    # 2% more persons and 4 feed items per 100 families: still the same model, read back from the database
    again = store.obtain(_registry(408, seq=104), fits)
    assert not again.fitted and again.version == first.version and fits.calls == 1
    assert again.model.prior == first.model.prior
    # 10% more persons: fitted again, the old one retired with the reason
    moved = store.obtain(_registry(440, seq=104), fits)
    assert moved.fitted and moved.version != first.version and "registry moved 10.0%" in moved.reason
    # many feed items since (a quarter of the families changed), same size: fitted again
    churn = store.obtain(_registry(440, seq=104 + 30), fits)
    assert churn.fitted and fits.calls == 3
    # a replica read again from the start (sequence behind the model's): fitted again
    assert store.obtain(_registry(440, seq=5), fits).fitted
    rows = model_store.describe(engine)
    assert [r["retired_at"] is None for r in rows] == [True, False, False, False]
    assert rows[0]["registry_seq"] == 5 and rows[0]["registry_persons"] == 440
    assert rows[-1]["stats"]["pairs"] == 900 and rows[-1]["stats"]["em_iterations"] == 7


def test_the_registry_is_described_by_its_size_not_its_frames(engine: Engine) -> None:
    store, fits = ModelStore(engine), Fits()
    first = store.obtain(RegistryStats(observed_seq=100, persons=400, families=100), fits)
    assert first.fitted and fits.calls == 1
    # a registry held whole describes itself: frames of 408 persons at sequence 104 are 2% / 4% away
    assert not store.obtain(_registry(408, seq=104), fits).fitted
    again = store.obtain(RegistryStats(104, 408, 102), fits)
    assert not again.fitted and again.version == first.version and fits.calls == 1
    moved = store.obtain(RegistryStats(104, 440, 110), fits)
    assert moved.fitted and "registry moved 10.0%" in moved.reason
    newest = model_store.describe(engine)[0]
    assert (newest["registry_seq"], newest["registry_persons"], newest["registry_families"]) == (104, 440, 110)


def test_a_runs_model_is_read_back_by_its_version_even_when_retired(engine: Engine) -> None:
    store = ModelStore(engine)
    first = store.obtain(RegistryStats(1, 400, 100), Fits())
    model_store.retire(engine, "operator request")
    got = store.get(first.version)
    assert got.version == first.version and not got.fitted and got.model.prior == first.model.prior
    assert all(np.array_equal(a, b) for a, b in zip(got.model.m + got.model.u, first.model.m + first.model.u,
                                                    strict=True))
    for unknown in ("fs-999", "nonsense", "fs-"):
        with pytest.raises(LookupError):
            store.get(unknown)
    with session_scope(engine) as s:
        row = s.exec(select(MatchingModelRow)).one()
        row.fields_schema = "old-levels"
    with pytest.raises(LookupError, match="other comparisons"):
        store.get(first.version)


def test_operator_request_and_other_comparisons_refit(engine: Engine) -> None:
    store, fits = ModelStore(engine), Fits()
    reg = _registry(200, seq=50)
    first = store.obtain(reg, fits)
    assert model_store.retire(engine, "operator request") == [first.version]
    second = store.obtain(reg, fits)
    assert second.fitted and second.version != first.version and fits.calls == 2
    with session_scope(engine) as s:
        row = model_store.current(s)
        assert row is not None
        row.fields_schema = "old-levels"
    third = store.obtain(reg, fits)
    assert third.fitted and "other comparisons" in third.reason
    retired = [r for r in model_store.describe(engine) if r["retired_reason"] == "operator request"]
    assert [r["version"] for r in retired] == [first.version]


def test_matcher_stores_the_model_and_names_it_in_the_evidence(engine: Engine) -> None:
    reg = _big_registry()
    reg = replace(reg, observed_seq=10)
    students = [make_student(nik="1234567890123456", nik_ibu="1234567890123456", nik_ayah="1234567890123456",
                             no_kk=None, nama="Muhammad Rizki")]
    students += [make_student(student_id=f"s{i}") for i in range(30)]
    d = Matcher(reg, store=ModelStore(engine)).match(students)[0]
    assert d.outcome is Outcome.LINKED_BY_FALLBACK and d.matched_by is MatchKey.FALLBACK
    with session_scope(engine) as s:
        rows = s.exec(select(MatchingModelRow)).all()
        assert len(rows) == 1 and rows[0].stats["students"] == 31
        version = model_store.version(rows[0].id or 0)
    assert d.evidence["model"] == version
    # a second run reuses it (nothing fitted, the same version in the evidence)
    d2 = Matcher(reg, store=ModelStore(engine)).match(students)[0]
    assert d2.evidence["model"] == version and d2.family == d.family
    with session_scope(engine) as s:
        assert len(s.exec(select(MatchingModelRow)).all()) == 1


def test_a_stored_model_read_again_is_the_same_object_until_its_parameters_differ(engine: Engine) -> None:
    """``get`` hands the work units of a run one model object (what is derived from it, the veto table, the pattern
    weights, is kept on it), but never one whose parameters differ from the row's (another database, a row
    changed): the parameters are compared whole."""
    store = ModelStore(engine)
    first = store.obtain(RegistryStats(1, 400, 100), Fits())
    a, b = store.get(first.version), store.get(first.version)
    assert a.model is b.model
    table = fallback.veto_table(a.model, fallback.Settings())
    assert fallback.veto_table(b.model, fallback.Settings()) is table
    with session_scope(engine) as s:
        row = s.exec(select(MatchingModelRow)).one()
        row.params = {**row.params, "prior": 0.25}
    c = store.get(first.version)
    assert c.model is not a.model and c.model.prior == 0.25 and a.model.prior != 0.25
