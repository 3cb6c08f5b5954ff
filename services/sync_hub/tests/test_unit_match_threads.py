"""A unit decides with the worker's configured scoring threads (``HUB_MATCH_THREADS``): several workers on one
machine can share its cores instead of each taking all of them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from services.sync_hub.config import Settings
from services.sync_hub.matching import fallback
from services.sync_hub.sync import unit
from services.sync_hub.tests.factories import student as make_student


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_MATCH_THREADS", "1")
    assert Settings().match_threads == 1
    monkeypatch.delenv("HUB_MATCH_THREADS")
    assert Settings().match_threads == 0  # one per core
    assert fallback.Settings(threads=0).scoring_threads() >= 1


@pytest.mark.parametrize("threads", [1, 3])
def test_a_unit_scores_on_the_configured_threads(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                 threads: int) -> None:
    seen: list[fallback.Settings] = []
    real = unit.Matcher

    def spy(*args: Any, **kwargs: Any) -> Any:
        matcher = real(*args, **kwargs)
        seen.append(matcher.settings)
        return matcher

    monkeypatch.setattr(unit, "Matcher", spy)
    ctx = SimpleNamespace(db=engine, settings=Settings(match_threads=threads))
    student = make_student()
    decisions, _, _ = unit._decide(ctx, None, [], [student], {})  # type: ignore[arg-type]
    assert len(decisions) == 1
    assert [s.threads for s in seen] == [threads]
