"""The fallback's speed-ups change no result: candidate pairs scored on several threads (``Settings.threads``),
names compared through ``levels.Interned`` codes (once per distinct pair), the registry's preparation started on a
background thread (``Registry.prepare``) and the other rules' joins run while the blocks are scored."""

from __future__ import annotations

import threading
import time
from datetime import date

import numpy as np
import polars as pl
import pytest

from bench.matching.world import World, load_world
from services.sync_hub.matching import deterministic, fallback, levels
from services.sync_hub.matching.frames import Registry, students_frame
from worldgen.config import ErrorRates, WorldConfig

TODAY = date(2026, 7, 15)
# the field errors of issue 14 at high rates: reordered names, missing birth dates, other kabupaten
FIELD_ERRORS = dict(name_parts_reordered=0.3, birth_date_missing=0.1, birth_year_typo=0.1,
                    school_in_other_kabupaten=0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from worldgen.generate import generate_world

    out = tmp_path_factory.mktemp("parallel_world")
    generate_world(WorldConfig(seed=41, n_families=400, error_rates=ErrorRates(**FIELD_ERRORS)), out)
    return load_world(out)


def _fresh(w: World) -> Registry:
    return Registry.build(w.registry.persons.drop("pid", "wil"), w.registry.families, w.registry.kk_lama,
                          raw_names=False)


def _small_units(mp: pytest.MonkeyPatch) -> None:
    # many units, so that several are in flight at once on a small world
    mp.setattr(fallback, "SMALL_BLOCK_PAIRS", 200)
    mp.setattr(fallback, "BATCH_PAIRS", 300)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_threads_change_no_summary_and_no_decision(world: World, threads: int, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    _small_units(monkeypatch)
    stu = students_frame(world.students, TODAY)
    one, many = fallback.Settings(threads=1), fallback.Settings(threads=threads)
    model = fallback.train(stu, _fresh(world), one)
    assert fallback.train(stu, _fresh(world), many).to_json() == model.to_json()
    b1, bn = fallback._blocks(stu, _fresh(world), threads=1), fallback._blocks(stu, _fresh(world), threads=threads)
    s1, sn = fallback.summarise(b1, model), fallback.summarise(bn, model)
    assert len(list(fallback._blocks(stu, _fresh(world))._tasks())) > 20  # many units in flight
    assert sn.height > 500 and b1.pairs == bn.pairs > 0
    # every student's segments, in the same order (ties are broken by it; the order of students within a block
    # follows polars' grouping, which is not fixed, with one thread as with several)
    assert sn.sort("row", maintain_order=True).equals(s1.sort("row", maintain_order=True))
    d1 = fallback.run(stu, _fresh(world), model, one).decisions
    assert fallback.run(stu, _fresh(world), model, many).decisions.equals(d1)


def test_units_are_scored_ahead_of_the_consumer_but_only_a_few(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return i * i

    submitted: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(60):
            submitted.append(i)
            yield i

    out = []
    for x in fallback.ordered_map(work, items(), 3):
        out.append(x)
        assert len(submitted) <= len(out) + 2 * 3 + 1  # never more than 2 x threads ahead
    assert out == [i * i for i in range(60)]
    assert 1 < most <= 3


def test_light_units_go_on_behind_a_heavy_one_at_the_head() -> None:
    # a heavy unit at the head (a batch of 500,000 small-block pairs) and light ones behind it (one-block
    # matrices): the other thread keeps scoring light units while the head runs, within the weight budget, instead
    # of stopping 2 x threads units ahead and waiting for the head
    release = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        if i == 0:
            assert release.wait(10), "the light units stopped behind the heavy one"
        else:
            with lock:
                done.append(i)
                if len(done) == 20:
                    release.set()
        return i

    submitted: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(200):
            submitted.append(i)
            yield i

    out = []
    for x in fallback.ordered_map(work, items(), 2, weight=lambda i: 1_000 if i == 0 else 10, budget=1_500):
        out.append(x)
        assert len(submitted) <= len(out) + fallback.MAX_AHEAD + 1
    assert out == list(range(200)) and release.is_set()


def test_heavy_units_keep_to_two_per_thread_ahead() -> None:
    submitted: list[int] = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(40):
            submitted.append(i)
            yield i

    out = []
    for x in fallback.ordered_map(lambda i: i, items(), 3, weight=lambda i: 1_000, budget=1_500):
        out.append(x)
        assert len(submitted) <= len(out) + 2 * 3 + 1
    assert out == list(range(40))


def test_a_failing_unit_raises_in_the_caller() -> None:
    def work(i: int) -> int:
        if i == 5:
            raise ValueError("unit 5")
        return i

    with pytest.raises(ValueError, match="unit 5"):
        list(fallback.ordered_map(work, range(20), 2))


def test_interned_pair_codes_equal_the_codes_of_name_lists(world: World) -> None:
    # the distinct-pair path (and its token sort skipped where both names are in alphabetical order) against
    # every pair compared as written
    stu = levels.prepare_students(students_frame(world.students, TODAY))
    r = fallback._registry(_fresh(world)).side
    s = levels.student_side(stu)
    assert isinstance(s.nama, levels.Interned) and isinstance(r.nama, levels.Interned)
    assert r.nama.reordered is not None and r.nama.reordered.any() and not r.nama.reordered.all()
    rng = np.random.default_rng(3)
    rows = np.r_[rng.integers(0, len(s), 20_000), np.repeat(np.arange(50), 40)]
    rpos = np.r_[rng.integers(0, len(r), 20_000), np.tile(np.arange(40), 50)]
    a, b = s.take(rows), r.take(rpos)
    lists = (levels.Side(**{**a.__dict__, **{c: a.names().__dict__[c] for c in ("nama", "nsort", "ibu")}}),
             levels.Side(**{**b.__dict__, **{c: b.names().__dict__[c] for c in ("nama", "nsort", "ibu")}}))
    assert isinstance(lists[0].nama, list)
    assert np.array_equal(levels.pair_codes(a, b), levels.pair_codes(*lists))


def test_interned_names_share_a_code_per_distinct_name() -> None:
    names = pl.Series(["budi santoso", "santoso budi", "budi santoso", "ani"])
    nama, nsort = levels.interned_names(names)
    assert nama.tolist() == names.to_list() and len(nama.table) == 3
    assert nama.code[0] == nama.code[2] != nama.code[1]
    assert nsort.tolist() == ["budi santoso", "budi santoso", "budi santoso", "ani"]
    assert nama.reordered is not None
    assert nama.reordered[nama.code].tolist() == [False, True, False, False]


def test_registry_preparation_runs_once_in_the_background_and_is_waited_for(world: World,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    reg = _fresh(world)
    calls: list[str] = []
    gate = threading.Event()
    build = fallback._build_registry

    def slow(r: Registry) -> fallback._Registry:
        calls.append(threading.current_thread().name)
        gate.wait(5)
        return build(r)

    monkeypatch.setattr(fallback, "_build_registry", slow)
    fallback.prepare(reg)
    fallback.prepare(reg)  # already being built: not again
    gate.set()
    first = fallback._registry(reg)
    assert fallback._registry(reg) is first
    assert calls == [f"registry-{fallback.REGISTRY}"]


def test_a_failed_preparation_raises_where_it_is_needed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = _fresh(world)

    def broken(r: Registry) -> object:
        raise RuntimeError("no index")

    monkeypatch.setattr(deterministic, "_build_index", broken)
    deterministic.prepare(reg)
    with pytest.raises(RuntimeError, match="no index"):
        deterministic.link(students_frame(world.students, TODAY), reg)


def test_the_matcher_prepares_the_registry_before_the_students(world: World, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from services.sync_hub.matching import service

    order: list[str] = []
    monkeypatch.setattr(fallback, "prepare", lambda reg: order.append("fallback"))
    monkeypatch.setattr(deterministic, "prepare", lambda reg: order.append("deterministic"))
    real = service.students_frame
    monkeypatch.setattr(service, "students_frame", lambda *a, **k: order.append("students") or real(*a, **k))
    from services.sync_hub.tests.factories import student

    service.Matcher(_fresh(world)).match([student()])
    assert order[:3] == ["deterministic", "fallback", "students"]
