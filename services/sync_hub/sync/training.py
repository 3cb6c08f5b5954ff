"""Fitting the fallback model without the whole registry in memory (once per run, in its plan; or once for checks
made before any run needed the fallback).

The model is the stored one while the registry has moved <= 5 % since it was fitted
(``matching.model_store``); otherwise it is fitted on about ``train_students`` students of a few whole kabupaten
drawn at random from the hub's copy (their schools' regions included: the wilayah comparison and the blocks need
them), the registry rows they reach (``replica.slice``, every block), a uniform sample of registry persons (for
u: what agreement looks like by chance) and the registry's true size (for the prior), then stored.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.domain.students import StudentView
from services.sync_hub.matching import fallback
from services.sync_hub.matching.frames import students_frame
from services.sync_hub.matching.model_store import ModelStore
from services.sync_hub.matching.service import to_rows
from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.mirror.service import IDENTITY
from services.sync_hub.replica import sample
from services.sync_hub.replica import service as replica
from shared.contracts.hub import SourceSystem
from shared.db import session_scope

POPULATION = 50_000  # registry persons sampled uniformly for u


def ensure_model(db: Engine, fallback_students: tuple[list[StudentView], dict[str, str]] | None = None
                 ) -> str | None:
    """The version of the model to decide with (stored, or fitted and stored now); None on an empty registry.
    ``fallback_students``: students (and regions) to fit on when the hub's copy holds none yet (a check made
    before the first run)."""
    with session_scope(db) as session:
        stats = sample.stats(session)
    if stats.persons == 0:
        return None
    settings = fallback.Settings()

    def fit() -> fallback.Model:
        students, regions = students_sample(db, settings.train_students)
        if not students and fallback_students is not None:
            students, regions = fallback_students
        stu = fallback.training_sample(students_frame(to_rows(students, regions)), settings)
        with session_scope(db) as session:
            population = sample.random_persons(session, POPULATION, settings.seed)
        part = replica.registry_for_students(db, stu, every_block=True)
        return fallback.train(stu, part, settings, stats=stats, population=population)

    return ModelStore(db).obtain(stats, fit).version


def students_sample(db: Engine, n: int) -> tuple[list[StudentView], dict[str, str]]:
    """About ``n`` students of the hub's copy to fit the model on, from whole kabupaten drawn at random (students of
    a few kabupaten reach a few blocks of the registry; ``n`` students drawn nationwide would reach most of it),
    with their schools' regions."""
    table = StudentMirrorRow.__table__  # type: ignore[attr-defined]
    with session_scope(db) as session:
        kab = sa.func.substr(table.c.region, 1, 4)
        counts = sorted((k, c) for k, c in session.execute(sa.select(kab, sa.func.count()).group_by(kab)) if k)
        random.Random(fallback.Settings().seed).shuffle(counts)
        chosen, total = [], 0
        for k, c in counts:
            if total >= n:
                break
            chosen.append(k)
            total += c
        rows = session.execute(sa.select(table).where(kab.in_(chosen)).order_by(table.c.system, table.c.student_id)
                               ).all() if chosen else []
    students = [StudentView(system=SourceSystem(r._mapping["system"]), student_id=r._mapping["student_id"],
                            current={}, provenance={}, **{k: r._mapping[k] for k in IDENTITY}) for r in rows]
    return students, {r._mapping["student_id"]: r._mapping["region"] for r in rows if r._mapping["region"]}
