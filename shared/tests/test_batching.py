"""``shared.batching.Batches``: what waits while batches are out goes together, each item its own answer."""

from __future__ import annotations

import threading
import time

import pytest

from shared.batching import Batches


def test_items_waiting_while_a_batch_is_out_go_together_each_with_its_own_answer() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[list[str]] = []

    def work(items: list[str]) -> list[str | BaseException]:
        seen.append(list(items))
        if len(seen) == 1:  # the first batch holds until the others have queued behind it
            started.set()
            assert release.wait(10)
        return [KeyError(i) if i.startswith("bad") else i.upper() for i in items]

    batches: Batches[str, str] = Batches(work, key=lambda i: i, max_in_flight=1)
    answers: dict[str, object] = {}

    def press(item: str) -> None:
        try:
            answers[item] = batches.submit(item)
        except KeyError as exc:
            answers[item] = exc

    first = threading.Thread(target=press, args=("a",))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=press, args=(i,)) for i in ("b", "bad", "c", "c")]
    for t in others:
        t.start()
    time.sleep(0.2)  # all four queued behind the first batch
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert seen[0] == ["a"]
    assert seen[1] == ["b", "bad", "c"] and seen[2] == ["c"]  # never one key twice in a batch
    assert answers["a"] == "A" and answers["b"] == "B" and answers["c"] == "C"
    assert isinstance(answers["bad"], KeyError)
    assert batches.batches == 3


def test_a_batch_that_fails_as_a_whole_fails_each_of_its_items_and_the_next_batch_runs() -> None:
    calls = []

    def work(items: list[int]) -> list[int | BaseException]:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("down")
        return items

    batches: Batches[int, int] = Batches(work, key=lambda i: i)
    with pytest.raises(RuntimeError):
        batches.submit(1)
    assert batches.submit(2) == 2
