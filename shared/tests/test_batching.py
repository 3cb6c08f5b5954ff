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


def test_a_batch_is_worked_on_in_one_span_that_links_the_span_of_every_item() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tp.get_tracer("t")
    started, release = threading.Event(), threading.Event()

    def work(items: list[str]) -> list[str]:
        if items == ["first"]:
            started.set()
            assert release.wait(10)
        return [i.upper() for i in items]

    batches: Batches[str, str] = Batches(work, key=lambda i: i, max_in_flight=1, span="pkh.presses", tracer=tracer)
    press_spans: dict[str, int] = {}

    def press(item: str) -> None:
        with tracer.start_as_current_span(f"press {item}") as span:
            press_spans[item] = span.get_span_context().span_id
            assert batches.submit(item) == item.upper()

    first = threading.Thread(target=press, args=("first",))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=press, args=(i,)) for i in ("b", "c")]
    for t in others:
        t.start()
    time.sleep(0.2)  # both queued behind the first batch
    release.set()
    for t in [first, *others]:
        t.join(10)
    batch_spans = [s for s in exporter.get_finished_spans() if s.name == "pkh.presses"]
    linked = sorted(sorted(link.context.span_id for link in s.links) for s in batch_spans)
    assert linked == sorted([[press_spans["first"]], sorted([press_spans["b"], press_spans["c"]])])
    assert sorted(s.attributes["batch.items"] for s in batch_spans) == [1, 2]  # type: ignore[index]


def test_without_a_span_name_no_span_is_made() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    batches: Batches[str, str] = Batches(lambda items: [i.upper() for i in items], key=lambda i: i,
                                         tracer=tp.get_tracer("t"))
    with tp.get_tracer("t").start_as_current_span("press"):
        assert batches.submit("a") == "A"
    assert [s.name for s in exporter.get_finished_spans()] == ["press"]


def test_callers_waiting_from_an_event_loop_are_not_capped_by_the_default_thread_pool() -> None:
    """anyio's default pool has 40 threads a process: 60 presses waiting behind a batch in it would make a next
    batch of at most 39. ``run_waiting`` waits in the batcher's own pool, so all 60 go in the next batch."""
    import anyio

    from shared.batching import run_waiting

    started, release = threading.Event(), threading.Event()
    seen: list[list[int]] = []

    def work(items: list[int]) -> list[int]:
        seen.append(list(items))
        if len(seen) == 1:
            started.set()
            assert release.wait(10)
        return items

    batches: Batches[int, int] = Batches(work, key=lambda i: i, max_in_flight=1, max_items=100)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_waiting, batches, batches.submit, 0)
            await anyio.to_thread.run_sync(started.wait, 10)
            for i in range(1, 61):
                tg.start_soon(run_waiting, batches, batches.submit, i)
            for _ in range(100):  # every caller queued behind the first batch (or, capped, as many as could)
                await anyio.sleep(0.02)
                if len(batches._waiting) == 60:
                    break
            release.set()

    anyio.run(main)
    assert seen[0] == [0]
    assert sorted(seen[1]) == list(range(1, 61))
