"""``CoalescingChecks``: presses asked while the calls are out go to the hub together, each gets its own part of
the answer, and one record's refusal stays with its press."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from shared.clients.coalesce import CoalescingChecks, coalescing
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.emis import Siswa
from shared.contracts.hub import CheckRequest, CheckResponse, SourceSystem, StudentOutcome
from shared.errors import ErrorBody
from shared.http import Rejected, Unavailable


def body(*ids: str) -> CheckRequest:
    return CheckRequest.model_construct(system=SourceSystem.EMIS, siswa=[Siswa.model_construct(siswa_id=i)
                                                                         for i in ids],
                                        peserta_didik=[], kode_wilayah={i: "3201" for i in ids})


class FakeHub:
    """Answers every student PKH_RECIPIENT under a new check id; the first call waits for ``gate`` (so others
    queue meanwhile); ``refuse`` names students whose record the hub refuses (422) or fails on (500)."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.refuse = refuse or {}
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    def check(self, body: CheckRequest) -> CheckResponse:
        ids = body.student_ids()
        with self._lock:
            self.calls.append(ids)
            first = len(self.calls) == 1
        if first:
            self.entered.set()
            assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        for sid in ids:
            if sid in self.refuse and self.refuse[sid] == 422:
                raise Rejected(422, ErrorBody(error="InvalidInput", detail=f"{sid} refused"))
            if sid in self.refuse:
                raise Unavailable("POST /api/v1/checks: HTTP 500", 500)
        check_id = f"check-{len(self.calls)}"
        assert len(set(ids)) == len(ids) and len(ids) <= 100
        return CheckResponse(check_id=check_id, observed_seq=7, results=[
            StudentOutcome(sync_run_id=check_id, system=SourceSystem.EMIS, student_id=sid,
                           outcome=Outcome.PKH_RECIPIENT, detail=None, matched_by=MatchKey.NIK) for sid in ids])

    def close(self) -> None:
        pass


def press_all(checks: CoalescingChecks, hub: FakeHub, bodies: list[CheckRequest]
              ) -> list[CheckResponse | BaseException]:
    """The first body is asked alone and held at the hub; the others are asked meanwhile; then the hub answers."""
    out: list[CheckResponse | BaseException | None] = [None] * len(bodies)

    def ask(i: int) -> None:
        try:
            out[i] = checks.check(bodies[i])
        except BaseException as exc:  # recorded for the assertions
            out[i] = exc

    threads = [threading.Thread(target=ask, args=(0,))]
    threads[0].start()
    assert hub.entered.wait(10)
    threads += [threading.Thread(target=ask, args=(i,)) for i in range(1, len(bodies))]
    for t in threads[1:]:
        t.start()
    wait_until(lambda: len(checks._waiting) == len(bodies) - 1)
    hub.gate.set()
    for t in threads:
        t.join(10)
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_lone_press_is_sent_at_once_and_answered_whole() -> None:
    hub = FakeHub()
    hub.gate.set()
    checks = CoalescingChecks(hub)
    answer = checks.check(body("a"))
    assert hub.calls == [["a"]] and [r.student_id for r in answer.results] == ["a"]


def test_presses_asked_while_the_call_is_out_go_together_each_answered_its_own() -> None:
    hub = FakeHub()
    checks = CoalescingChecks(hub, max_in_flight=1)
    answers = press_all(checks, hub, [body("a"), body("b"), body("c", "d"), body("e")])
    assert hub.calls == [["a"], ["b", "c", "d", "e"]]  # not four calls: the three that queued, in one
    for answer, ids in zip(answers, [["a"], ["b"], ["c", "d"], ["e"]], strict=True):
        assert isinstance(answer, CheckResponse)
        assert [r.student_id for r in answer.results] == ids
        assert answer.check_id == ("check-1" if ids == ["a"] else "check-2")
        assert {r.sync_run_id for r in answer.results} == {answer.check_id}


def test_a_student_pressed_twice_at_once_goes_in_two_calls_and_no_call_exceeds_the_hubs_limit() -> None:
    hub = FakeHub()
    checks = CoalescingChecks(hub, max_in_flight=1)
    many, more = [f"s{i}" for i in range(60)], [f"t{i}" for i in range(60)]
    answers = press_all(checks, hub, [body("a"), body("b"), body("b"), body(*many), body(*more)])
    # the second "b" waits for the next call; the 60 more would make 121 students: they wait too
    assert hub.calls == [["a"], ["b", *many], ["b", *more]]
    assert [[r.student_id for r in a.results] for a in answers if isinstance(a, CheckResponse)] == [
        ["a"], ["b"], ["b"], many, more]


@pytest.mark.parametrize("status", [422, 500])
def test_one_refused_record_fails_only_its_own_press(status: int) -> None:
    hub = FakeHub(refuse={"bad": status})
    checks = CoalescingChecks(hub, max_in_flight=1)
    answers = press_all(checks, hub, [body("a"), body("b"), body("bad"), body("c")])
    assert isinstance(answers[2], Rejected if status == 422 else Unavailable)
    assert [[r.student_id for r in a.results] for a in answers if isinstance(a, CheckResponse)] == [
        ["a"], ["b"], ["c"]]
    assert hub.calls == [["a"], ["b", "bad", "c"], ["b"], ["bad"], ["c"]]  # the batch, then each alone


def test_the_hub_being_unavailable_is_every_waiting_press_answer() -> None:
    hub = FakeHub()
    checks = CoalescingChecks(hub, max_in_flight=1)
    hub.fail = Unavailable("POST /api/v1/checks: HTTP 503", 503)
    answers = press_all(checks, hub, [body("a"), body("b"), body("c")])
    assert all(isinstance(a, Unavailable) for a in answers)
    assert hub.calls == [["a"], ["b", "c"]]  # not asked again one by one: the hub, not a record


def test_many_threads_all_answered_with_at_most_max_in_flight_calls_out() -> None:
    out: dict[str, str] = {}
    active, most = [0], [0]
    lock = threading.Lock()

    class Slow(FakeHub):
        def check(self, body: CheckRequest) -> CheckResponse:
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            time.sleep(0.002)
            try:
                return super().check(body)
            finally:
                with lock:
                    active[0] -= 1

    hub = Slow()
    hub.gate.set()
    checks = CoalescingChecks(hub, max_in_flight=2)

    def press(i: int) -> None:
        for j in range(20):
            sid = f"{i}-{j % 3}"
            answer = checks.check(body(sid))
            out[sid] = answer.results[0].student_id

    threads = [threading.Thread(target=press, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out == {f"{i}-{k}": f"{i}-{k}" for i in range(30) for k in range(3)}
    assert most[0] <= 2 and len(hub.calls) < 600 and checks._in_flight == 0 and not checks._waiting


def test_coalescing_is_off_with_zero_calls_in_flight() -> None:
    hub = FakeHub()
    assert coalescing(hub, 0) is hub and coalescing(None, 2) is None
    assert isinstance(coalescing(hub, 2), CoalescingChecks)
