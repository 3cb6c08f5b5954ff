"""Request PKH data ("Request Data PKH") for one student or a whole madrasah.

The gateway asks the sync hub (``HubClient.check``, <= 100 students per call; the presses asked while earlier
calls are out go together, ``shared.batching``), sending the records
themselves and each one's madrasah region; the hub decides each student's outcome from its registry replica
and answers with the outcomes and the result items (values with their provenance, recorded at the hub).
The gateway applies the items with its results service (as it applies a sync run's batch) and stores the
answers in one transaction: the answer is saved in the same step, there is no separate "save".

Every request is first stored (``pkh_request`` + one ``pkh_request_item`` per student), so nothing is
lost: when the hub answers 503 (the registry is unreachable) or cannot be reached, the request stays
PENDING with a retry time (exponential backoff with jitter) and the worker (``worker.py``) asks again.
No database transaction is open while the hub is called (a write lock held across a network call would
make every other writer of this database wait for it).

Whoever asks the hub for a request (the request's own HTTP call, or the worker) holds its lease, so the
two never ask for the same request at once.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from services.emis_gateway.access import SYSTEM, Principal
from services.emis_gateway.base import utcnow
from services.emis_gateway.config import Settings
from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.madrasah.models import PESANTREN
from services.emis_gateway.pkh import repository
from services.emis_gateway.pkh.models import PkhRequestItemRow, PkhRequestRow
from services.emis_gateway.results import service as results_service
from services.emis_gateway.siswa import repository as siswa_repository
from services.emis_gateway.siswa.models import SiswaRow
from services.emis_gateway.siswa.service import from_parts as siswa_from_parts
from services.emis_gateway.siswa.service import pkh_of, read_models
from shared.batching import Batches
from shared.clients.hub import Checker, of_a_record, part_of
from shared.contracts.common import HubResultBatch, MatchKey, Outcome, Page
from shared.contracts.emis import (
    PkhAnswer,
    PkhAnswerState,
    PkhRequest,
    PkhRequestScope,
    PkhRequestStatus,
    Siswa,
)
from shared.contracts.hub import MAX_CHECK, CheckRequest, CheckResponse, SourceSystem, StudentOutcome
from shared.db import SQLITE_IMMEDIATE, session_scope, statement_at_a_time
from shared.errors import NotFound
from shared.http import ClientError, Rejected, Unavailable

log = logging.getLogger("emis_gateway.pkh")

MAX_PAGE = 1000
CHECK_CLIENT = "hub-check"  # how a check's items are named in the sync log (applied here, not posted by the hub)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Students of a request asked in one call to the hub: (position, siswa_id) each, which of them still exist,
    their records as sent and their madrasah's regions (NSM -> kode_wilayah)."""
    waiting: list[tuple[int, str]]
    present: frozenset[str]
    records: list[Siswa]
    regions: dict[str, str]


def to_contract(row: PkhRequestRow, outcomes: dict[str, int],
                results: list[PkhAnswer] | None = None) -> PkhRequest:
    return PkhRequest(
        id=row.id, scope=PkhRequestScope(row.scope), nsm=row.nsm, siswa_id=row.siswa_id,
        status=PkhRequestStatus(row.status), requested_by=row.requested_by, total=row.total, done=row.done,
        failed=row.failed, pending=row.total - row.done - row.failed, outcomes=outcomes, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PkhRequestStatus.PENDING else None,
        last_error=row.last_error, created_at=row.created_at, updated_at=row.updated_at,
        finished_at=row.finished_at, results=results or [])


def _one_answer(row: sa.Row[Any], answer: repository.Answer, student: SiswaRow | sa.Row[Any] | None,
                now: datetime) -> PkhRequest:
    """A finished one-student request as ``PkhRequests.get(..., with_results=True)`` reads it, made from what its
    answer's transaction wrote (``row``: the request's row as stored, ``student``: the student's row now)."""
    result = PkhAnswer(
        siswa_id=row.siswa_id, state=PkhAnswerState(answer.state),
        status_pkh=Outcome(answer.outcome) if answer.outcome else None, keterangan_pkh=answer.detail,
        matched_by=MatchKey(answer.matched_by) if answer.matched_by else None, sync_run_id=answer.sync_run_id,
        dijawab_pada=now, pkh=pkh_of(student) if student is not None else None)  # type: ignore[arg-type]
    outcomes = {answer.outcome: 1} if answer.state == repository.DONE and answer.outcome else {}
    return to_contract(row, outcomes, [result])  # type: ignore[arg-type]


class PkhRequests:
    """The requests of one app: created by the routes, asked by the routes (one student) and the worker."""

    def __init__(self, engine: Engine, hub: Checker | None, settings: Settings,
                 rng: random.Random | None = None) -> None:
        self.engine, self.hub, self.settings = engine, hub, settings
        # transactions that write begin with BEGIN IMMEDIATE on SQLite: writers queue on the busy timeout
        # instead of failing ("database is locked") when a read snapshot is upgraded to a write
        self.writer = engine.execution_options(**{SQLITE_IMMEDIATE: True})
        # a lone press's work whose every write is one statement: on PostgreSQL without BEGIN/COMMIT round trips
        # (``statement_at_a_time``), on SQLite the writer's one transaction
        self._single = statement_at_a_time(self.writer)
        self._rng = rng or random.Random()
        self.wake: Callable[[], None] = lambda: None  # set by the worker: a new request is waiting
        # one-student presses asked while earlier ones are being worked on are done together (``_request_many``);
        # the same count of batches out as of calls to the hub (EMIS_HUB_CALLS_IN_FLIGHT; 0: every press alone)
        self.presses: Batches[tuple[str, Principal], PkhRequest] | None = (
            Batches(self._request_many, key=lambda press: press[0], max_in_flight=settings.hub_calls_in_flight,
                    max_items=MAX_CHECK, span="pkh.presses")
            if hub is not None and settings.hub_calls_in_flight > 0 else None)

    # -- creating ----------------------------------------------------------------------------------

    def request_siswa(self, siswa_id: str, principal: Principal) -> PkhRequest:
        """Ask the hub for one student now; if the registry cannot be reached, the request stays PENDING
        (queued) and the worker completes it later. Presses asked at once are done together (``_request_many``),
        each answered as alone."""
        if self.presses is not None:
            return self.presses.submit((siswa_id, principal))
        return self._request_one(siswa_id, principal)

    def _request_one(self, siswa_id: str, principal: Principal) -> PkhRequest:
        """One press alone.

        Before the hub is called: the record the hub is sent is read (the student with its institution, then its
        provenance and attendance; on PostgreSQL all in one statement, ``repository.record_with_read_model``), then
        the request is stored (PENDING, held by this call) by the last statement, and committed, so a crash leaves
        the request for the worker and a failed read stores nothing. On SQLite that is one transaction; on
        PostgreSQL each statement is its own (the request and its item are one statement there:
        ``statement_at_a_time``). After the hub, one transaction applies the hub's
        items, stores the answer, finishes the request and lets its lease go (on PostgreSQL, when the hub sends no
        items, that is one statement and needs no transaction of its own); the operator's answer is made from what
        it wrote (the record read again only when the items changed it)."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.pkh_lease_seconds)  # this call asks
        request_id = str(uuid.uuid4())
        with session_scope(self._single) as session:
            parts: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
            if self.engine.dialect.name == "postgresql":  # the record and what its read model shows: one statement
                student, *read = repository.record_with_read_model(session, siswa_id)
                parts = (read[0], read[1])
            else:
                student = repository.record_with_institution(session, siswa_id)  # type: ignore[assignment]
            if student is None:
                raise NotFound.field("siswa_id", "not_found", "no student with this siswa_id")
            principal.ensure_student(student.nsm)
            # what the hub is sent, read before the request is stored (committed before the hub is called)
            first = self._chunk(session, [(0, siswa_id)], {siswa_id: student},  # type: ignore[dict-item]
                                repository.institution_of(student), parts)
            repository.add_one(session, {
                "id": request_id, "scope": PkhRequestScope.SISWA.value, "nsm": student.nsm, "siswa_id": siswa_id,
                "requested_by": principal.name, "status": PkhRequestStatus.PENDING.value, "total": 1, "done": 0,
                "failed": 0, "attempts": 0, "next_attempt_at": now, "lease_until": lease, "created_at": now,
                "updated_at": now}, siswa_id)
        return self._finish(request_id, siswa_id, principal, first, student, lease)

    def _finish(self, request_id: str, siswa_id: str, principal: Principal, first: _Chunk,
                student: SiswaRow | sa.Row[Any] | None, lease: datetime) -> PkhRequest:
        """A stored one-student request, held by this call (its lease until ``lease``), from the call to the hub
        on; the lease is let go whatever happens."""
        finished = False
        try:
            asked = self._ask(request_id, first)  # no transaction is open here
            if asked is None:  # postponed: PENDING, the lease let go
                return self.get(request_id, principal, with_results=True)
            answers, response = asked
            now = utcnow()
            [answer] = answers
            if response is None or not response.items:  # the answer alone: ``record_one``, one statement on PostgreSQL
                with session_scope(self._single) as session:
                    row = repository.record_one(session, request_id, answer, now)
                if row is not None:
                    finished = True
                    return _one_answer(row, answer, student, now)
            with session_scope(self.writer) as session:  # the values and the answer, together
                written = self._apply(session, response)
                row = repository.record_one(session, request_id, answer, now) if written else None
                if row is not None:
                    finished = True
                    student = siswa_repository.get_record(session, siswa_id)
                    return _one_answer(row, answer, student, now)
                # answered meanwhile (this call's lease ran out and the worker asked): the general way
                finished = repository.record(session, request_id, answers, now, lease)
                if finished:
                    session.expire_all()
                    return self._read(session, request_id, principal, True)
            return self.get(request_id, principal, with_results=True)
        finally:
            if not finished:
                with session_scope(self.writer) as session:
                    repository.release(session, request_id)

    def _request_many(self, presses: list[tuple[str, Principal]]) -> list[PkhRequest | BaseException]:
        """Several presses (distinct students) done together, each answered as ``_request_one`` answers it alone:
        one transaction stores every request and reads every record sent (the same statements as one press, each
        for all of them), one call to the hub, one transaction applies the hub's items and stores every answer.
        A student not found or not the caller's fails only its own press; when the hub refuses the call for a
        reason that may concern one record, each press is asked again alone."""
        if len(presses) == 1:
            try:
                return [self._request_one(*presses[0])]
            except Exception as exc:
                return [exc]
        out: list[PkhRequest | BaseException | None] = [None] * len(presses)
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.pkh_lease_seconds)
        asked: list[int] = []  # the presses whose request is stored and asked
        ids: dict[int, str] = {}
        with session_scope(self.writer) as session:
            students = siswa_repository.get_records(session, [sid for sid, _ in presses])
            for k, (sid, principal) in enumerate(presses):
                student = students.get(sid)
                if student is None:
                    out[k] = NotFound.field("siswa_id", "not_found", "no student with this siswa_id")
                    continue
                try:
                    principal.ensure_student(student.nsm)
                except Exception as exc:
                    out[k] = exc
                    continue
                asked.append(k)
                ids[k] = str(uuid.uuid4())
            repository.add_ones(session, [{
                "id": ids[k], "scope": PkhRequestScope.SISWA.value, "nsm": students[presses[k][0]].nsm,
                "siswa_id": presses[k][0], "requested_by": presses[k][1].name,
                "status": PkhRequestStatus.PENDING.value, "total": 1, "done": 0, "failed": 0, "attempts": 0,
                "next_attempt_at": now, "lease_until": lease, "created_at": now, "updated_at": now} for k in asked])
            chunk = self._chunk(session, [(k, presses[k][0]) for k in asked], students) if asked else None
        if chunk is None or not chunk.records:
            return [answer if answer is not None else RuntimeError("unanswered press") for answer in out]
        finished: set[int] = set()
        try:
            self._ask_many(presses, ids, asked, chunk, students, lease, out, finished)
        finally:
            for k in asked:
                if k not in finished:
                    try:
                        with session_scope(self.writer) as session:
                            repository.release(session, ids[k])
                    except Exception as exc:  # a release that fails must not hide the others
                        log.warning("PKH request %s: lease not let go (%s)", ids[k], type(exc).__name__)
        return [answer if answer is not None else RuntimeError("unanswered press") for answer in out]

    def _ask_many(self, presses: list[tuple[str, Principal]], ids: dict[int, str], asked: list[int], chunk: _Chunk,
                  students: Mapping[str, sa.Row[Any]], lease: datetime, out: list[PkhRequest | BaseException | None],
                  finished: set[int]) -> None:
        """``_request_many`` from the call to the hub on (the requests held until ``lease``): ``out`` and
        ``finished`` filled per press."""
        def alone(k: int) -> _Chunk:
            sid = presses[k][0]
            return _Chunk([(0, sid)], frozenset({sid}), [r for r in chunk.records if r.siswa_id == sid],
                          chunk.regions)

        assert self.hub is not None
        body = CheckRequest(system=SourceSystem.EMIS, siswa=chunk.records,
                            kode_wilayah={r.siswa_id: chunk.regions[r.nsm] for r in chunk.records
                                          if r.nsm in chunk.regions})
        try:
            response: CheckResponse | ClientError = self.hub.check(body)
        except ClientError as exc:
            response = exc
        if isinstance(response, ClientError) and of_a_record(response):
            for k in asked:  # only the press it concerns gets the refusal: each asked again alone
                finished.add(k)  # ``_finish`` lets the lease go itself
                try:
                    out[k] = self._finish(ids[k], presses[k][0], presses[k][1], alone(k), students[presses[k][0]],
                                          lease)
                except Exception as exc:
                    out[k] = exc
            return
        answers: dict[int, repository.Answer] = {}
        for k in asked:
            # each press judged as alone (a refusal of the hub itself postpones each; an answer is its part)
            asked_alone = self._judge(ids[k], alone(k), response if isinstance(response, ClientError)
                                      else part_of(response, [presses[k][0]]))
            if asked_alone is None:
                out[k] = self.get(ids[k], presses[k][1], with_results=True)
            else:
                answers[k] = asked_alone[0][0]
        if not answers:
            return
        now = utcnow()
        with session_scope(self.writer) as session:  # every press's values and answer, together
            assert isinstance(response, CheckResponse)
            mine = {presses[k][0] for k in answers}
            written = self._apply(session, part_of(response, sorted(mine)))
            changed = {i.student_id for i in response.items if i.student_id in mine} if written else set()
            recorded = repository.record_ones(session, [(ids[k], answers[k]) for k in answers], now)
            rows = {k: recorded[ids[k]] for k in answers}
            again = siswa_repository.get_records(session, sorted(changed)) if changed else {}  # as just written
            for k, row in rows.items():
                sid, principal = presses[k]
                if row is not None:
                    out[k] = _one_answer(row, answers[k], again.get(sid) if sid in changed else students[sid], now)
                    finished.add(k)
                elif repository.record(session, ids[k], [answers[k]], now, lease):
                    # answered meanwhile (this call's lease ran out and the worker asked): the general way
                    finished.add(k)
                    session.expire_all()
                    out[k] = self._read(session, ids[k], principal, True)
        for k in answers:
            if out[k] is None:
                out[k] = self.get(ids[k], presses[k][1], with_results=True)

    def request_madrasah(self, nsm: str, client: str, student_ids: list[str] | None = None) -> PkhRequest:
        """Queue every active student of the madrasah (or the given ones); the worker asks the hub in chunks.
        A request for the madrasah that is still PENDING is answered instead of queueing a second one."""
        now = utcnow()
        with session_scope(self.writer) as session:
            if madrasah_repository.get(session, nsm) is None:
                raise NotFound.field("nsm", "not_found", "no madrasah with this NSM")
            existing = repository.pending_for_madrasah(session, nsm)
            if existing is not None:
                return to_contract(existing, repository.outcome_counts(session, existing.id))
            ids = student_ids if student_ids is not None else repository.active_students(session, nsm)
            row = self._new(PkhRequestScope.MADRASAH, client, now, nsm=nsm, total=len(ids))
            if not ids:
                row.status, row.finished_at = PkhRequestStatus.DONE.value, now
            repository.add(session, row, ids)
            out = to_contract(row, {})
        self.wake()
        log.info("PKH request %s for madrasah %s: %d students queued by %s", row.id, nsm, len(ids), client)
        return out

    @staticmethod
    def _new(scope: PkhRequestScope, client: str, now: datetime, *, siswa_id: str | None = None,
             nsm: str | None = None, total: int = 1) -> PkhRequestRow:
        return PkhRequestRow(id=str(uuid.uuid4()), scope=scope.value, nsm=nsm, siswa_id=siswa_id,
                             requested_by=client, status=PkhRequestStatus.PENDING.value, total=total,
                             next_attempt_at=now, created_at=now, updated_at=now)

    # -- reading -----------------------------------------------------------------------------------

    @staticmethod
    def _visible(session: Session, request_id: str, principal: Principal) -> PkhRequestRow:
        row = repository.get(session, request_id)
        if row is None or not principal.sees(row.nsm):
            raise NotFound.field("request_id", "not_found", "no PKH request with this id")
        return row

    def get(self, request_id: str, principal: Principal = SYSTEM, *, with_results: bool = False) -> PkhRequest:
        with session_scope(self.engine) as session:
            return self._read(session, request_id, principal, with_results)

    def _read(self, session: Session, request_id: str, principal: Principal, with_results: bool) -> PkhRequest:
        row = self._visible(session, request_id, principal)
        results = None
        if with_results or row.scope == PkhRequestScope.SISWA:
            results = self._answers(session, row, repository.items(session, row.id, -1, MAX_PAGE)[:MAX_PAGE])
        return to_contract(row, repository.outcome_counts(session, row.id), results)

    def results(self, request_id: str, after: int, limit: int, principal: Principal = SYSTEM) -> Page[PkhAnswer]:
        with session_scope(self.engine) as session:
            row = self._visible(session, request_id, principal)
            items = repository.items(session, request_id, after, limit)
            page = list(items[:limit])
            answers = self._answers(session, row, page)
        next_cursor = str(page[-1].position) if len(items) > limit and page else None
        return Page[PkhAnswer](items=answers, next_cursor=next_cursor)

    def _answers(self, session, row: PkhRequestRow,  # type: ignore[no-untyped-def]
                 items: list[PkhRequestItemRow] | tuple[PkhRequestItemRow, ...]) -> list[PkhAnswer]:
        students = siswa_repository.get_many(session, [i.siswa_id for i in items])
        out = []
        for item in items:
            student = students.get(item.siswa_id)
            state = PkhAnswerState(item.state)
            if state is PkhAnswerState.PENDING:
                outcome: Outcome | None = Outcome.PENDING
                detail = "queued: the registry is asked shortly"
                if row.last_error:
                    detail = f"{row.last_error}; asked again at {row.next_attempt_at.isoformat()}"
            else:
                outcome = Outcome(item.outcome) if item.outcome else None
                detail = item.detail
            out.append(PkhAnswer(
                siswa_id=item.siswa_id, state=state, status_pkh=outcome, keterangan_pkh=detail,
                matched_by=MatchKey(item.matched_by) if item.matched_by else None, sync_run_id=item.sync_run_id,
                dijawab_pada=item.answered_at, pkh=pkh_of(student) if student is not None else None))
        return out

    # -- asking the hub ----------------------------------------------------------------------------

    def run_due(self) -> bool:
        """Take one due PENDING request (if any) and ask the hub for it; whether there was one."""
        now = utcnow()
        with session_scope(self.writer) as session:
            due = repository.due(session, now, limit=5)
            claimed = next((rid for rid in due if repository.claim(
                session, rid, now, now + timedelta(seconds=self.settings.pkh_lease_seconds))), None)
        if claimed is None:
            return False
        self.process(claimed)
        return True

    def process(self, request_id: str, first: _Chunk | None = None) -> bool:
        """Ask the hub for the waiting students of a request the caller holds, chunk by chunk; the lease is
        let go at the end. Whether the request finished (False: postponed, it stays PENDING).

        ``first``: the first chunk when the caller has read it already."""
        finished = False  # the answers that finish the request also let its lease go, in their transaction
        try:
            while True:
                chunk, first = first, None
                if chunk is None:
                    with session_scope(self.engine) as session:
                        waiting = repository.queued_items(session, request_id, self.settings.pkh_chunk)
                        chunk = self._chunk(session, waiting) if waiting else None
                if chunk is None:
                    return True
                asked = self._ask(request_id, chunk)  # no transaction is open here
                if asked is None:
                    return False
                answers, response = asked
                now = utcnow()
                with session_scope(self.writer) as session:  # the values and the answers, together
                    self._apply(session, response)
                    finished = repository.record(session, request_id, answers, now,
                                                 now + timedelta(seconds=self.settings.pkh_lease_seconds))
                if finished:
                    return True
        finally:
            if not finished:
                with session_scope(self.writer) as session:
                    repository.release(session, request_id)

    @staticmethod
    def _apply(session: Session, response: CheckResponse | None) -> bool:
        """Apply the check's items (values with their provenance) as a sync run's batch is applied; whether there
        were any."""
        if response is None or not response.items:
            return False
        results_service.apply_batch(session, HubResultBatch(sync_run_id=response.check_id, items=response.items),
                                    CHECK_CLIENT)
        return True

    @staticmethod
    def _chunk(session: Session, waiting: list[tuple[int, str]],
               rows: Mapping[str, SiswaRow | sa.Row[Any]] | None = None,
               institutions: dict[str, tuple[str, str]] | None = None,
               parts: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None) -> _Chunk:
        """The records of ``waiting`` as the hub is sent them, with their madrasah's regions (``rows``: the
        students' rows when the caller has read them in this session; ``institutions``: what ``institutions_of``
        answers for them, when the caller has read it; ``parts``: their provenance and months rows, when the caller
        has read them with ``repository.record_with_read_model``)."""
        if rows is None:
            rows = siswa_repository.get_many(session, [sid for _, sid in waiting])
        found = [rows[sid] for _, sid in waiting if sid in rows]
        # which institutions are pesantren (a record's nspp) and their regions: one statement
        if institutions is None:
            institutions = repository.institutions_of(session, [r.nsm for r in found])
        pesantren = {n for n, (jenis, _) in institutions.items() if jenis == PESANTREN}
        records = (read_models(session, found, pesantren=pesantren) if parts is None  # type: ignore[arg-type]
                   else siswa_from_parts(found, *parts, pesantren))  # type: ignore[arg-type]
        return _Chunk(waiting, frozenset(rows), records, {n: region for n, (_, region) in institutions.items()})

    def _ask(self, request_id: str, chunk: _Chunk) -> tuple[list[repository.Answer], CheckResponse | None] | None:
        """The hub's answers for the chunk's students and the check's answer (its items to apply), or None when
        the request was postponed. Students deleted since they were queued fail without asking."""
        if self.hub is None:
            self._postpone(request_id, "no credential for the hub is configured (EMIS_HUB_TOKEN)")
            return None
        waiting, present, records, regions = chunk.waiting, chunk.present, chunk.records, chunk.regions
        gone = [repository.Answer(pos, repository.FAILED, None, "no student with this siswa_id any more", None, None)
                for pos, sid in waiting if sid not in present]
        if not records:
            return gone, None
        body = CheckRequest(system=SourceSystem.EMIS, siswa=records,
                            kode_wilayah={r.siswa_id: regions[r.nsm] for r in records if r.nsm in regions})
        try:
            response: CheckResponse | ClientError = self.hub.check(body)
        except ClientError as exc:
            response = exc
        return self._judge(request_id, chunk, response)

    def _judge(self, request_id: str, chunk: _Chunk, response: CheckResponse | ClientError
               ) -> tuple[list[repository.Answer], CheckResponse | None] | None:
        """``_ask`` once the hub has answered the chunk's students (``response``) or failed (the client's error)."""
        waiting, present, records = chunk.waiting, chunk.present, chunk.records
        gone = [repository.Answer(pos, repository.FAILED, None, "no student with this siswa_id any more", None, None)
                for pos, sid in waiting if sid not in present]
        if isinstance(response, Unavailable):
            self._postpone(request_id, f"registry unreachable: {response}")
            return None
        if isinstance(response, Rejected):
            exc = response
            if exc.status in (401, 403, 429):  # our credential or the hub's limits: a person must look
                self._postpone(request_id, f"the hub refused the request: {exc}")
                return None
            log.warning("PKH request %s: the hub rejected %d students: %s", request_id, len(records), exc.status)
            return gone + [repository.Answer(pos, repository.FAILED, None, f"the hub refused the check: {exc}"[:300],
                                             None, None) for pos, sid in waiting if sid in present], None
        if isinstance(response, ClientError):  # ContractError, or another client error
            self._postpone(request_id, f"unexpected answer from the hub: {type(response).__name__}")
            return None
        by_student: dict[str, StudentOutcome] = {o.student_id: o for o in response.results}
        answers = list(gone)
        for pos, sid in waiting:
            outcome = by_student.get(sid)
            if outcome is None or outcome.outcome is Outcome.PENDING:
                continue  # not answered: stays waiting for the next round
            answers.append(repository.Answer(pos, repository.DONE, outcome.outcome.value,
                                             (outcome.detail or "")[:300] or None, outcome.matched_by.value,
                                             outcome.sync_run_id))
        if not answers:
            self._postpone(request_id, "the hub answered none of the students")
            return None
        return answers, response

    def _postpone(self, request_id: str, error: str) -> None:
        now = utcnow()
        with session_scope(self.writer) as session:
            row = repository.get(session, request_id)
            attempts = (row.attempts if row else 0) + 1
            delay = min(self.settings.pkh_retry_cap_seconds,
                        self.settings.pkh_retry_base_seconds * 2 ** min(attempts - 1, 30))
            retry_at = now + timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))
            repository.postpone(session, request_id, now, retry_at, error)
        log.warning("PKH request %s postponed (attempt %d): %s", request_id, attempts, error)
