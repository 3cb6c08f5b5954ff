"""The scalar path (``matching.scalar``, ``Matcher.match_few``: what a check runs) decides exactly as the batch
path (``frames.students_frame``, ``deterministic.link``, ``Matcher.match``: what a run runs).

Generated worlds (``worldgen``); hypothesis draws students, erases some of their keys and garbles others (NIKs
with separators, typos, letters, full-width digits, the KK number or a parent's NIK in the child's field; names
with titles, patronyms, accents, other case, typos, cut short), and for some students a reviewer's standing
decision. Equal: every student's row, every deterministic row (outcome, key, family, child, texts), every
decision (outcome, matched_by, family, child, detail, evidence, candidates, review).
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
from services.sync_hub.matching import deterministic, fallback, scalar
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
