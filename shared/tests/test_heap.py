"""A served process settles its collector once its start-up is done (``shared.heap``): asked for by the entry points
(``serve_app``, kemensos's ``serve``, the hub's worker) through the environment, done at the end of the service's
lifespan; a process that did not ask (tests) keeps Python's collector as it is."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from shared import heap
from shared.app import create_service_app


@pytest.fixture(autouse=True)
def _restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(heap.ENV, raising=False)
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_is_held_and_raises_the_young_threshold() -> None:
    held = [[i] for i in range(100)]
    heap.settle()
    assert gc.get_freeze_count() >= len(held)
    assert gc.get_threshold() == heap.THRESHOLD
    assert heap.THRESHOLD[0] > 700


def test_nothing_changes_unless_the_process_asked() -> None:
    before = gc.get_threshold()
    assert heap.after_start() is False
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_asked_on_start_then_settled_after_start(monkeypatch: pytest.MonkeyPatch) -> None:
    heap.settle_on_start()
    assert heap.after_start() is True
    assert gc.get_threshold() == heap.THRESHOLD
    assert gc.get_freeze_count() > 0


def test_zero_in_the_environment_switches_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(heap.ENV, "0")
    heap.settle_on_start()  # an operator's 0 is kept
    before = gc.get_threshold()
    assert heap.after_start() is False
    assert gc.get_threshold() == before


@pytest.mark.parametrize("decorated", [True, False])
def test_a_service_settles_after_its_lifespan_started(monkeypatch: pytest.MonkeyPatch, decorated: bool) -> None:
    seen: list[tuple[str, tuple[int, int, int]]] = []

    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        seen.append(("start", gc.get_threshold()))
        yield
        seen.append(("stop", gc.get_threshold()))

    before = gc.get_threshold()
    monkeypatch.setenv(heap.ENV, "1")
    app = create_service_app(name="t", title="t", description="t", routers=[APIRouter()], credentials=lambda _: {},
                             lifespan=asynccontextmanager(lifespan) if decorated else lifespan)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_threshold() == heap.THRESHOLD
    assert seen == [("start", before), ("stop", heap.THRESHOLD)]  # the service's own start-up ran first


def test_a_service_built_without_the_request_leaves_the_collector() -> None:
    before = gc.get_threshold()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(name="t", title="t", description="t", routers=[APIRouter()], lifespan=lifespan,
                             credentials=lambda _: {})
    with TestClient(app):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
