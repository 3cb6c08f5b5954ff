"""Work asked at once by many request threads, done together (``Batches``).

A gateway's "Request Data PKH" press stores its request, reads the record it sends, asks the hub and stores the
answer: ~9 statements in two transactions. Presses that arrive while earlier ones are being worked on are done as
one batch by one thread: the same statements for all of them at once (rows read with one ``IN``, inserts as one
``executemany``), one hub call, one transaction for the answers.

* **No added wait.** An item arriving while fewer than ``max_in_flight`` batches are out is worked on at once (with
  whatever queued before it). Only items arriving while every batch is out wait, for the first one to come back;
  whoever's batch comes back hands the right to work to the first item still waiting.
* **Each item its own answer.** ``work(items)`` returns one answer per item, in order: a value, or the exception
  that item's caller raises (a record not found fails only its own press). When ``work`` itself raises, every item
  of the batch gets that exception.
* **No key twice in a batch** (two operators pressing the same student go in two batches).
* **Waiting callers do not cap the batch.** A caller waits for its batch in a thread of its own (a blocked wait,
  no database connection). From an event loop, ``run_waiting`` runs it in a thread of the batcher's own pool, as
  large as the items that can be out or next (``(max_in_flight + 1) * max_items``), not in anyio's default pool
  (40 threads a process, shared with every other route): there, at 100 operators on a gateway process, only ~40
  presses could wait at once, so the next batch held ~20 and the rest waited a batch more.
* **A trace per item survives.** With ``span`` named, each batch is worked on inside a span of that name (a child
  of the span current in the thread that works on it) that links the span current at each item's ``submit``
  (OpenTelemetry links), so every press's trace leads to the batch, and the hub call, that answered it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from opentelemetry import trace

T = TypeVar("T")
R = TypeVar("R")


class _Item(Generic[T, R]):
    __slots__ = ("answer", "done", "error", "key", "lead", "span", "value")

    def __init__(self, value: T, key: Hashable, span: trace.SpanContext | None) -> None:
        self.value, self.key, self.span = value, key, span
        self.done = threading.Event()  # set when answered, or when this item is handed the right to work
        self.lead = False
        self.answer: R | None = None
        self.error: BaseException | None = None


class Batches(Generic[T, R]):
    """``submit(value)``: ``value``'s answer from ``work``, safe to call from many threads at once; values waiting
    while ``max_in_flight`` batches are out are worked on together in the next batch (at most ``max_items``,
    no ``key`` twice)."""

    def __init__(self, work: Callable[[list[T]], Sequence[R | BaseException]], key: Callable[[T], Hashable], *,
                 max_in_flight: int = 2, max_items: int = 100, span: str | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        if max_in_flight < 1 or max_items < 1:
            raise ValueError("max_in_flight >= 1 and max_items >= 1")
        self.work, self.key, self.max_in_flight, self.max_items = work, key, max_in_flight, max_items
        self.span = span
        self._tracer = (tracer or trace.get_tracer("jembatan.batching")) if span else None  # the process's provider
        self._lock = threading.Lock()
        self._waiting: deque[_Item[T, R]] = deque()
        self._in_flight = 0
        self.batches = 0  # batches worked on (for tests and curiosity)
        self._threads: RunVar[CapacityLimiter] = RunVar(f"batches-{id(self)}")  # ``threads``, one per event loop

    def threads(self) -> CapacityLimiter:
        """The pool of threads the callers of this batcher wait in, this event loop's (made on first use): as many
        as there can be items out and next, ``(max_in_flight + 1) * max_items``; more would only queue for a
        later batch. Used by ``run_waiting``."""
        try:
            return self._threads.get()
        except LookupError:
            limiter = CapacityLimiter((self.max_in_flight + 1) * self.max_items)
            self._threads.set(limiter)
            return limiter

    def submit(self, value: T) -> R:
        context = trace.get_current_span().get_span_context() if self.span else None
        item: _Item[T, R] = _Item(value, self.key(value), context if context and context.is_valid else None)
        with self._lock:
            self._waiting.append(item)
            work = self._in_flight < self.max_in_flight
            if work:
                self._in_flight += 1
        while True:
            if work:
                self._round()
            item.done.wait()
            with self._lock:
                work, item.lead = item.lead, False
                if not work:
                    break
                if item.answer is None and item.error is None:
                    item.done.clear()  # handed the right to work: this thread does the next batch
        if item.error is not None:
            raise item.error
        return item.answer  # type: ignore[return-value]

    def _take(self) -> list[_Item[T, R]]:
        batch: list[_Item[T, R]] = []
        keys: set[Hashable] = set()
        kept: deque[_Item[T, R]] = deque()
        while self._waiting and len(batch) < self.max_items:
            item = self._waiting.popleft()
            if item.key in keys:
                kept.append(item)  # waits for a later batch, keeping its place
            else:
                batch.append(item)
                keys.add(item.key)
        kept.extend(self._waiting)
        self._waiting = kept
        return batch

    def _round(self) -> None:
        with self._lock:
            batch = self._take()
        try:
            if batch:
                self._do(batch)
        finally:
            with self._lock:
                successor = next((i for i in self._waiting if not i.lead), None)
                if successor is not None:
                    successor.lead = True
                    successor.done.set()
                else:
                    self._in_flight -= 1

    def _do(self, batch: list[_Item[T, R]]) -> None:
        with self._lock:
            self.batches += 1
        answers: Sequence[R | BaseException]
        try:
            if self._tracer is not None:
                links = [trace.Link(i.span) for i in batch if i.span is not None]
                with self._tracer.start_as_current_span(self.span, links=links,  # type: ignore[arg-type]
                                                        attributes={"batch.items": len(batch)}):
                    answers = self.work([i.value for i in batch])
            else:
                answers = self.work([i.value for i in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers for a batch of {len(batch)}")
        except BaseException as exc:  # a failure of the whole batch: every item's answer (none left waiting)
            with self._lock:
                for item in batch:
                    item.error = exc
                    item.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        with self._lock:
            for item, answer in zip(batch, answers, strict=True):
                if isinstance(answer, BaseException):
                    item.error = answer
                else:
                    item.answer = answer
                item.done.set()


async def run_waiting(batches: Batches[T, R] | None, func: Callable[..., R], *args: object) -> R:
    """``func(*args)`` in a worker thread, from an event loop: a thread of ``batches``' own pool
    (``Batches.threads``) when ``func`` waits on ``batches``, of anyio's default pool when there is none (``func``
    then works alone, as any blocking route does)."""
    return await anyio.to_thread.run_sync(func, *args, limiter=batches.threads() if batches is not None else None)
