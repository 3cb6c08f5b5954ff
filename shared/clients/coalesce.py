"""Checks asked at once by many request threads, sent to the hub together (``CoalescingChecks``).

Every "Request Data PKH" press at a gateway is one ``POST /api/v1/checks`` of one student. The hub's endpoint
takes up to ``MAX_CHECK`` students, and most of a check's cost (the HTTP request on both sides, JSON, tracing,
the hub's transaction) is per call, not per student. So a gateway process sends the presses that arrived while
its earlier calls were in flight as one check, and hands each press its own part of the answer:

* **No added wait.** A press arriving while fewer than ``max_in_flight`` calls are out is sent at once (with
  whatever queued before it). Only presses arriving while the calls are all out wait, and they wait for the
  first call to come back, which they would have waited for anyway behind the busy hub: a batch is what queued
  meanwhile. Whoever's call comes back hands the right to send to the first press still waiting.
* **The same answers.** The hub decides every student of a check independently of the others
  (``tests/test_sync_in_process.py`` checks that a batch and the same students one at a time are answered
  alike); each press gets the outcomes and the result items of its own students, under the one check id.
  A student is never named twice in one call (two operators pressing the same student go in two calls).
* **One bad record does not fail the others.** When the hub refuses a call of several presses (a 4xx other
  than 401/403/429) or fails on it (500), each press is asked again alone, so only the press it concerns gets
  the error. What says the hub itself cannot answer (503, 429, unreachable, a credential refused, an answer
  outside the contract) is every waiting press's answer, as it would have been for each alone.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from shared.contracts.hub import MAX_CHECK, CheckRequest, CheckResponse
from shared.http import ClientError, Rejected, Unavailable

_HUB_WIDE = (401, 403, 429)  # the refusals that concern the caller, not one of the records


class Checker(Protocol):
    """What a gateway asks checks of: the hub's client, or ``CoalescingChecks`` around it."""

    def check(self, body: CheckRequest) -> CheckResponse: ...

    def close(self) -> None: ...


class _Press:
    __slots__ = ("answer", "body", "done", "error", "ids", "lead")

    def __init__(self, body: CheckRequest) -> None:
        self.body = body
        self.ids = body.student_ids()
        self.done = threading.Event()  # set when answered, or when this press is handed the right to send
        self.lead = False
        self.answer: CheckResponse | None = None
        self.error: BaseException | None = None


class CoalescingChecks:
    """``check(body)`` as the hub client's, safe to call from many threads at once; the presses waiting while
    ``max_in_flight`` calls are out go to the hub together in the next call (at most ``max_students``)."""

    def __init__(self, hub: Checker, max_in_flight: int = 2, max_students: int = MAX_CHECK) -> None:
        if max_in_flight < 1 or not 1 <= max_students <= MAX_CHECK:
            raise ValueError("max_in_flight >= 1 and 1 <= max_students <= MAX_CHECK")
        self.hub, self.max_in_flight, self.max_students = hub, max_in_flight, max_students
        self._lock = threading.Lock()
        self._waiting: deque[_Press] = deque()
        self._in_flight = 0  # calls out (or about to be): each held by one thread's right to send
        self.calls = 0  # calls made to the hub (for tests and curiosity)

    def close(self) -> None:
        self.hub.close()

    def check(self, body: CheckRequest) -> CheckResponse:
        press = _Press(body)
        with self._lock:
            self._waiting.append(press)
            send = self._in_flight < self.max_in_flight
            if send:
                self._in_flight += 1
        while True:
            if send:
                self._send_round()
            press.done.wait()
            with self._lock:
                send, press.lead = press.lead, False
                if not send:
                    break
                if press.answer is None and press.error is None:
                    press.done.clear()  # handed the right to send: this thread makes the next call
        if press.error is not None:
            raise press.error
        assert press.answer is not None
        return press.answer

    # -- one call ----------------------------------------------------------------------------------------

    def _take(self) -> list[_Press]:
        """The next call's presses, from the oldest waiting: one system, at most ``max_students`` students, no
        student twice (a press that does not fit waits for a later call, keeping its place)."""
        batch: list[_Press] = []
        named: set[str] = set()
        kept: deque[_Press] = deque()
        while self._waiting:
            press = self._waiting.popleft()
            fits = (not batch or (press.body.system is batch[0].body.system
                                  and len(named) + len(press.ids) <= self.max_students
                                  and named.isdisjoint(press.ids)))
            if fits:
                batch.append(press)
                named.update(press.ids)
            else:
                kept.append(press)
            if len(named) >= self.max_students:
                break
        kept.extend(self._waiting)
        self._waiting = kept
        return batch

    def _send_round(self) -> None:
        """Take the waiting presses, ask the hub, answer them; then hand the right to send to the first press
        still waiting, or give it back."""
        with self._lock:
            batch = self._take()
        try:
            if batch:
                self._ask(batch)
        finally:
            with self._lock:
                successor = next((p for p in self._waiting if not p.lead), None)
                if successor is not None:
                    successor.lead = True
                    successor.done.set()
                else:
                    self._in_flight -= 1

    def _ask(self, batch: list[_Press]) -> None:
        try:
            with self._lock:
                self.calls += 1
            response = self.hub.check(merged(batch[0].body if len(batch) == 1 else None, [p.body for p in batch]))
        except ClientError as exc:
            if len(batch) > 1 and of_a_record(exc):
                for press in batch:  # only the press it concerns gets the error
                    self._ask([press])
                return
            self._answer(batch, error=exc)
            return
        except BaseException as exc:  # a bug here must not leave the others waiting for ever
            self._answer(batch, error=exc)
            raise
        self._answer(batch, response)

    def _answer(self, batch: list[_Press], response: CheckResponse | None = None,
                error: BaseException | None = None) -> None:
        parts = [response if response is None or len(batch) == 1 else part_of(response, p.ids) for p in batch]
        with self._lock:  # under the lock: a press handed the right to send tells whether it was answered
            for press, part in zip(batch, parts, strict=True):
                press.answer, press.error = part, error
                press.done.set()


def coalescing(hub: Checker | None, max_in_flight: int) -> Checker | None:
    """``hub`` with its checks coalesced (``max_in_flight`` >= 1), or as it is (0, or no hub)."""
    if hub is None or max_in_flight < 1:
        return hub
    return CoalescingChecks(hub, max_in_flight)


def of_a_record(exc: ClientError) -> bool:
    """Whether the hub's refusal may concern one record of the call rather than the hub or the caller."""
    if isinstance(exc, Rejected):
        return exc.status not in _HUB_WIDE
    return isinstance(exc, Unavailable) and exc.status == 500


def merged(one: CheckRequest | None, bodies: list[CheckRequest]) -> CheckRequest:
    """One check of every body's students (validated already: built without validating again)."""
    if one is not None:
        return one
    return CheckRequest.model_construct(
        system=bodies[0].system, siswa=[s for b in bodies for s in b.siswa],
        peserta_didik=[p for b in bodies for p in b.peserta_didik],
        kode_wilayah={k: v for b in bodies for k, v in b.kode_wilayah.items()})


def part_of(response: CheckResponse, ids: list[str]) -> CheckResponse:
    """The answer of one press: the outcomes and result items of its students, under the check's id."""
    mine = set(ids)
    return CheckResponse.model_construct(
        check_id=response.check_id, observed_seq=response.observed_seq,
        results=[r for r in response.results if r.student_id in mine],
        items=[i for i in response.items if i.student_id in mine])
