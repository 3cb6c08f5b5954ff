"""The scalar path (``matching.scalar``, ``Matcher.match_few``: what a check runs) decides exactly as the batch
path (``frames.students_frame``, ``deterministic.link``, ``Matcher.match``: what a run runs).

Generated worlds (``worldgen``); hypothesis draws students, erases some of their keys and garbles others (NIKs
with separators, typos, letters, full-width digits, the KK number or a parent's NIK in the child's field; names
with titles, patronyms, accents, other case, typos, cut short), and for some students a reviewer's standing
decision. Equal: every student's row, every deterministic row (outcome, key, family, child, texts), every
decision (outcome, matched_by, family, child, detail, evidence, candidates, review).

The fallback (``scalar_fallback`` for a check, ``fallback.run`` for a run) is exercised on a second world with
worldgen's field errors raised (birth dates missing, name variants, names in another order, birth-year typos,
schools in another kabupaten) and students whose NIKs and KK number are erased or garbled, so that most of them
reach it: same candidates, bands, persons, pattern codes and scores (within 1e-9), with the batch path's
block sizes also shrunk so that its matrix blocks and batched units are both taken.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from bench.matching.world import World, load_world
from services.sync_hub.domain.students import StudentView
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.matching import deterministic, fallback, scalar, scalar_fallback
from services.sync_hub.matching import service as matching_service
from services.sync_hub.matching.frames import Registry, students_frame
from services.sync_hub.matching.service import Matcher, ReviewedDecision, fingerprint, to_rows
from services.sync_hub.replica import service as replica
from services.sync_hub.replica.slice import keys_for, registry_for
from services.sync_hub.tests.test_replica_slice import _views, _write_replica
from shared.db import make_engine, migrate, session_scope

TODAY = date(2026, 7, 1)
NIK_FIELDS = ("nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk")
NAME_FIELDS = ("nama", "nama_ibu_kandung", "nama_ayah", "nama_wali")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldgen.config import WorldConfig
    from worldgen.generate import generate_world

    out = tmp_path_factory.mktemp("scalar_world")
    generate_world(WorldConfig(seed=23, n_families=300), out)
    return out


@pytest.fixture(scope="module")
def world(world_dir: Path) -> tuple[World, list[StudentView], dict[str, str]]:
    w = load_world(world_dir)
    students, regions = _views(w.students)
    return w, students, regions


def _garble_nik(value: str | None, other: str | None, how: int) -> str | None:
    if how == 0 or value is None:
        return value
    return {
        1: None, 2: "", 3: f" {value[:6]}.{value[6:12]}-{value[12:]} ",  # separators people type
        4: value[:-1] + str((int(value[-1]) + 1) % 10) if value[-1:].isdigit() else value,  # a typo
        5: value[:15] + "x", 6: value.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full width
        7: other, 8: "1234567890123456", 9: value[:10],
    }[how]


def _garble_name(value: str, how: int) -> str:
    return {0: value, 1: value.upper(), 2: f"Hj. {value}, S.Pd", 3: f"{value} bin Ahmad", 4: value.replace("a", "á"),
            5: "", 6: value.replace("u", "oe"), 7: value[: len(value) // 2] + value[len(value) // 2 + 1:],  # typos
            8: value[:2] + value[3:4] + value[2:3] + value[4:], 9: value[: len(value) * 2 // 3]}[how]


@st.composite
def _students(draw: st.DrawFn, pool: list[StudentView]) -> list[StudentView]:
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=12, unique=True))
    out = []
    for i in picks:
        s = pool[i]
        data = {f: getattr(s, f) for f in StudentView.__dataclass_fields__}
        for field in NIK_FIELDS:
            other = data[draw(st.sampled_from([f for f in NIK_FIELDS if f != field]))]
            data[field] = _garble_nik(data[field], other, draw(st.sampled_from([0] * 8 + list(range(1, 10)))))
        for field in NAME_FIELDS:
            data[field] = _garble_name(data[field], draw(st.sampled_from([0] * 6 + list(range(1, 10)))))
        out.append(StudentView(**data))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_students_and_the_deterministic_pass_equal_the_batch_path(world, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    w, pool, regions = world
    students = data.draw(_students(pool))
    rows = to_rows(students, regions)
    batch = students_frame(rows, TODAY)
    one = scalar.students(rows, TODAY)
    assert scalar.frame(one).equals(batch)
    assert scalar.link(one, scalar.Keys.of(w.registry)) == list(deterministic.link(batch, w.registry).iter_rows(
        named=True))


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Engine:
    migrate(MIGRATIONS, db_url)
    out = make_engine(db_url)
    _write_replica(out, world_dir)
    return out


@pytest.fixture(scope="module")
def model(world: tuple[World, list[StudentView], dict[str, str]]) -> fallback.Model:
    w, students, regions = world
    return fallback.train(students_frame(to_rows(students, regions)), w.registry, fallback.Settings())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_a_checks_decisions_equal_a_runs(engine: Engine, world, model: fallback.Model,  # type: ignore[no-untyped-def]
                                        data: st.DataObject) -> None:
    _, pool, regions = world
    students = data.draw(_students(pool))
    families = replica.load(engine).families.select("no_kk", "version").rows()
    reviewed = {}
    for s in students:  # a reviewer's standing decision for some: a link to some family, or "no link"
        kind = data.draw(st.sampled_from(["none", "none", "link", "stale", "no_link"]))
        if kind == "none":
            continue
        no_kk, version = data.draw(st.sampled_from(families))
        reviewed[(s.system.value, s.student_id)] = ReviewedDecision(
            "d", kind != "no_link", no_kk if kind != "no_link" else None,
            version + (1 if kind == "stale" else 0) if kind != "no_link" else None, fingerprint(s),
            data.draw(st.sampled_from(["", "x"])), "reviewer", "checked the papers")
    with session_scope(engine) as session:
        batch = Matcher(registry_for(session, students_frame(to_rows(students, regions))), model=model,
                        model_version="m").match(students, regions, reviewed)
        keys, widen = keys_for(session, scalar.students(to_rows(students, regions)))
        few = Matcher(Registry.empty(), model=model, model_version="m").match_few(
            students, regions, reviewed, keys, widen)
    assert few == batch


# -- the fallback ------------------------------------------------------------------------------------------------

FIELD_ERRORS = {"name_parts_reordered": 0.2, "birth_year_typo": 0.15, "birth_date_missing": 0.15,
                "school_in_other_kabupaten": 0.2, "name_variant": 0.3, "birth_date_off_by_one": 0.1,
                "birth_date_day_month_swapped": 0.1}


@pytest.fixture(scope="module")
def error_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldgen.config import FIELD_ERROR_RATES, ErrorRates, WorldConfig
    from worldgen.generate import generate_world

    assert set(FIELD_ERROR_RATES) <= set(FIELD_ERRORS)  # every field error worldgen makes
    out = tmp_path_factory.mktemp("scalar_fallback_world")
    generate_world(WorldConfig(seed=31, n_families=300, error_rates=ErrorRates(**FIELD_ERRORS)), out)
    return out


@pytest.fixture(scope="module")
def error_world(error_world_dir: Path) -> tuple[World, list[StudentView], dict[str, str], fallback.Model]:
    w = load_world(error_world_dir)
    students, regions = _views(w.students)
    model = fallback.train(students_frame(to_rows(students, regions)), w.registry, fallback.Settings())
    return w, students, regions, model


def _reorder(value: str) -> str:
    words = value.split()
    return " ".join(words[1:] + words[:1])


@st.composite
def _undecided(draw: st.DrawFn, pool: list[StudentView]) -> list[StudentView]:
    """Students most of whom the keys leave to the fallback: NIKs and KK number erased (no NIK at all) or
    garbled, names garbled or in another order, birth dates moved or erased."""
    out = []
    for s in draw(_students(pool)):
        data = {f: getattr(s, f) for f in StudentView.__dataclass_fields__}
        if draw(st.integers(0, 3)):  # three in four: no usable key
            erase = draw(st.sampled_from(["all", "all", "child_and_kk", "garbled"]))
            for field in NIK_FIELDS:
                if erase == "all" or (erase == "child_and_kk" and field in ("nik", "no_kk")):
                    data[field] = None
                elif erase == "garbled" and data[field]:
                    data[field] = _garble_nik(data[field], None, draw(st.sampled_from([4, 5, 8, 9])))
        if draw(st.integers(0, 4)) == 0:
            data["nama"] = _reorder(data["nama"])
        if data["tanggal_lahir"] is not None:
            move = draw(st.sampled_from([0, 0, 0, 1, -1, 366, "none"]))
            data["tanggal_lahir"] = None if move == "none" else date.fromordinal(data["tanggal_lahir"].toordinal()
                                                                                 + move)
        out.append(StudentView(**data))
    return out


def _assert_same_decisions(few: list[dict], batch: list[dict]) -> None:  # type: ignore[type-arg]
    assert [r["sid"] for r in few] == [r["sid"] for r in batch]
    for a, b in zip(few, batch, strict=True):
        assert {k: v for k, v in a.items() if not isinstance(v, float)} == {
            k: v for k, v in b.items() if not isinstance(v, float)}
        for k in ("probability", "weight", "margin"):
            assert a[k] == pytest.approx(b[k], abs=1e-9, rel=0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_the_scalar_fallback_decides_as_the_batch_fallback(error_world, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    w, pool, regions, model = error_world
    students = data.draw(_undecided(pool))
    stu = scalar.students(to_rows(students, regions), TODAY)
    w.registry._cache.pop("scalar_fallback", None)
    with pytest.MonkeyPatch.context() as mp:
        if data.draw(st.booleans()):  # the batch path's matrix blocks and batched units (the sizes a run reaches)
            mp.setattr(fallback, "SMALL_BLOCK_PAIRS", data.draw(st.sampled_from([1, 40, 200])))
            mp.setattr(fallback, "BATCH_PAIRS", data.draw(st.sampled_from([1, 300, 2_000])))
        batch = fallback.run(scalar.frame(stu), w.registry, model).decisions.to_dicts()
        _assert_same_decisions(scalar_fallback.run(stu, w.registry, model), batch)


def test_the_fallback_worlds_reach_every_band(error_world) -> None:  # type: ignore[no-untyped-def]
    """The property tests above are not vacuous: their students reach the fallback and all three bands, ties
    between candidates of equal weight included."""
    import random

    w, pool, regions, model = error_world
    rng = random.Random(3)
    bands: dict[str, int] = {}
    tied = 0
    for _ in range(60):
        stu = scalar.students(to_rows([_erased(s) for s in rng.sample(pool, 8)], regions), TODAY)
        for r in scalar_fallback.run(stu, w.registry, model):
            bands[r["band"]] = bands.get(r["band"], 0) + 1
            tied += r["margin"] == 0.0
    assert set(bands) == {"auto", "review", "none"}, bands
    assert tied, "no student with two families of equal weight"


def _erased(s: StudentView) -> StudentView:
    return StudentView(**{f: None if f in NIK_FIELDS else getattr(s, f) for f in StudentView.__dataclass_fields__})


@pytest.fixture
def error_engine(db_url: str, error_world_dir: Path) -> Engine:
    migrate(MIGRATIONS, db_url)
    out = make_engine(db_url)
    _write_replica(out, error_world_dir)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_a_checks_fallback_decisions_equal_a_runs(error_engine: Engine, error_world,  # type: ignore[no-untyped-def]
                                                 data: st.DataObject) -> None:
    """``match_few`` (the scalar fallback over the widened slice) against ``match`` (the batch fallback over the
    run's slice), on students most of whom need the fallback."""
    _, pool, regions, model = error_world
    students = data.draw(_undecided(pool))
    families = replica.load(error_engine).families.select("no_kk", "version").rows()
    reviewed = {}
    for s in students:
        if s.tanggal_lahir is None or data.draw(st.integers(0, 3)):
            continue
        no_kk, version = data.draw(st.sampled_from(families))
        link = data.draw(st.booleans())
        reviewed[(s.system.value, s.student_id)] = ReviewedDecision(
            "d", link, no_kk if link else None, version if link else None, fingerprint(s), "", "reviewer", "papers")
    with session_scope(error_engine) as session, pytest.MonkeyPatch.context() as mp:
        batch = Matcher(registry_for(session, students_frame(to_rows(students, regions))), model=model,
                        model_version="m").match(students, regions, reviewed)
        keys, widen = keys_for(session, scalar.students(to_rows(students, regions)))
        if data.draw(st.integers(0, 4)) == 0:  # more undecided students than the scalar fallback takes
            mp.setattr(matching_service, "SCALAR_FALLBACK_MAX", 0)
        few = Matcher(Registry.empty(), model=model, model_version="m").match_few(
            students, regions, reviewed, keys, widen)
    assert few == batch


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_a_small_units_decisions_equal_a_large_units(error_engine: Engine, error_world,  # type: ignore[no-untyped-def]
                                                    data: st.DataObject) -> None:
    """A run's unit of at most ``sync.unit.SCALAR_UNIT_MAX`` students is decided on the scalar path
    (``match_few``), a larger one on the batch path: the same decisions either way (``unit._decide``)."""
    from types import SimpleNamespace

    from services.sync_hub.config import Settings
    from services.sync_hub.matching.model_store import ModelStore
    from services.sync_hub.mirror.service import Stored
    from services.sync_hub.sync import unit

    _, pool, regions, model = error_world
    students = data.draw(_undecided(pool)) + data.draw(_students(pool))
    chosen = ModelStore(error_engine).obtain(replica.load(error_engine), lambda: model)
    ctx = SimpleNamespace(db=error_engine, settings=Settings(match_threads=1))
    stored = [Stored(s, "school", regions.get(s.student_id, "")) for s in students]
    taken: list[int] = []
    real = Matcher.match_few

    def spy(self: Matcher, *args, **kwargs):  # type: ignore[no-untyped-def]
        taken.append(1)
        return real(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Matcher, "match_few", spy)
        mp.setattr(unit, "SCALAR_UNIT_MAX", 0)
        batch = unit._decide(ctx, chosen.version, stored, students, regions)  # type: ignore[arg-type]
        assert taken == []
        mp.setattr(unit, "SCALAR_UNIT_MAX", len(students))
        few = unit._decide(ctx, chosen.version, stored, students, regions)  # type: ignore[arg-type]
        assert taken == [1]
    assert few == batch


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_a_slice_made_for_its_students_finds_what_the_whole_slice_finds(error_engine: Engine, error_world,  # type: ignore[no-untyped-def]
                                                                        data: st.DataObject) -> None:
    """``scalar_fallback.Slice(rows, students)`` keeps only the blocking keys those students can look up: every
    lookup they make (the other rules', ``_found``; the rescue rule's, ``_rescue_segments``) and every segment
    finds the same registry positions as over the slice with every key, and the decisions are the same."""
    _, pool, regions, model = error_world
    students = data.draw(_undecided(pool))
    stu = scalar.students(to_rows(students, regions), TODAY)
    with session_scope(error_engine) as session:
        _, widen = keys_for(session, stu)
        rows = widen(stu)
    whole, made = scalar_fallback.Slice(rows), scalar_fallback.Slice(rows, stu)
    assert made.blocks == whole.blocks and made.kab_yr == whole.kab_yr and made.pid.tolist() == whole.pid.tolist()
    for st_ in stu:
        kabs = {v[:4] for v in (st_["wil"], st_["no_kk"], st_["nik_digits"]) if v is not None and len(v[:4]) == 4}
        assert scalar_fallback._found(st_, made, kabs) == scalar_fallback._found(st_, whole, kabs)
    every = list(range(len(stu)))
    assert scalar_fallback._segments(stu, made) == scalar_fallback._segments(stu, whole)
    assert scalar_fallback._rescue_segments(stu, made, every) == scalar_fallback._rescue_segments(stu, whole, every)
    assert len(made.keys["letter_dob"]) <= len(whole.keys["letter_dob"])
    if rows.persons:
        _assert_same_decisions(scalar_fallback.run(stu, rows, model),
                               fallback.run(scalar.frame(stu), rows.registry(), model).decisions.to_dicts())
