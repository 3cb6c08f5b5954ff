"""One sync run: read students, look up their NIKs in bulk, decide, link KIP, push, record provenance.

Phases are timed and the run row is updated at the end. Every item is written to the outbox before it
is sent and settled with the gateway's answer after, so a crash leaves a record of what was in flight.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from services.sync_hub.config import Settings
from services.sync_hub.domain.students import OUTCOME_FIELDS, StudentView, from_peserta_didik, from_siswa
from services.sync_hub.matching import fallback, kip
from services.sync_hub.matching.frames import students_frame
from services.sync_hub.matching.kip import LinkedKip
from services.sync_hub.matching.model_store import ModelStore
from services.sync_hub.matching.service import MatchDecision, Matcher, to_rows
from services.sync_hub.mirror import service as mirror
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.replica import service as replica
from services.sync_hub.review import service as review_service
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.sync.plan import PlannedItem, Source, desired_kip, desired_pkh, diff, pkh_source
from shared.clients import DapodikClient, EmisClient, KemensosClient
from shared.clock import utcnow
from shared.contracts.common import HubResultBatch, HubResultItem, MatchKey, Page, Provenance, ResultStatus
from shared.contracts.dapodik import PesertaDidik, PesertaDidikFeed
from shared.contracts.emis import Siswa, SiswaFeed
from shared.contracts.hub import RunStatus, SourceSystem
from shared.contracts.kemensos import KipIssuance
from shared.db import session_scope
from shared.http import ClientError, Rejected, Unavailable

T = TypeVar("T")
log = logging.getLogger("jembatan.hub.sync")


@dataclass
class Upstreams:
    kemensos: KemensosClient
    emis: EmisClient
    dapodik: DapodikClient

    def close(self) -> None:
        for client in (self.kemensos, self.emis, self.dapodik):
            client.close()


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    unavailable: bool  # the run failed because an upstream could not be reached (retry later)
    missing: tuple[str, ...] = ()  # named students the gateway does not have (checks only)


@dataclass
class RunTally:
    outcomes: Counter[str] = field(default_factory=Counter)
    values_written: int = 0
    values_unchanged: int = 0
    provenance_records: int = 0
    kip_linked: int = 0
    errors: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    from_feed: int = 0  # records read from the gateways
    removed: int = 0  # students that left the working set
    full: bool = False  # some system was read in full
    push_failed: bool = False  # a batch got no answer (the run's work is not done)


@dataclass
class _SystemRead:
    """What a run read of one system: its working copy, and what to store when the run's work is done."""

    copy: mirror.SystemCopy
    full: bool
    cursor: str | None
    touched: set[str] = field(default_factory=set)  # students read, dropped or written in this run
    refetch_served: dict[str, datetime] = field(default_factory=dict)
    refetch_asked: set[str] = field(default_factory=set)


class _Timer:
    def __init__(self, tally: RunTally) -> None:
        self.tally = tally

    def phase(self, name: str) -> _Phase:
        return _Phase(self.tally, name)


class _Phase:
    def __init__(self, tally: RunTally, name: str) -> None:
        self.tally, self.name = tally, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.tally.timings[self.name] = round(
            self.tally.timings.get(self.name, 0.0) + time.perf_counter() - self.start, 3)


def _chunks(items: list, size: int) -> Iterator[list]:  # type: ignore[type-arg]
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SyncEngine:
    def __init__(self, db: Engine, upstreams: Upstreams, settings: Settings) -> None:
        self.db, self.up, self.settings = db, upstreams, settings

    # -- the run ---------------------------------------------------------------------------------

    def execute(self, run_id: str) -> RunResult:
        """Run a queued run to its end and persist the result. Never raises."""
        with session_scope(self.db) as session:
            row = runs_repo.get_run(session, run_id)
            if row is None:
                return RunResult(RunStatus.FAILED, unavailable=False)
            row.status, row.started_at = RunStatus.RUNNING.value, utcnow()
            systems = [SourceSystem(s) for s in row.systems]
            scope = list(row.student_ids) if row.student_ids else None
            full = bool(row.full)
        tally = RunTally()
        status = RunStatus.SUCCEEDED
        students: list[StudentView] = []
        unavailable = False
        try:
            self._run(run_id, systems, tally, students, scope, full)
        except ClientError as exc:
            log.error("sync run %s failed: %s", run_id, exc)
            unavailable = isinstance(exc, Unavailable)
            tally.errors.append(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the run must end in a persisted state whatever happened
            log.exception("sync run %s crashed", run_id)
            tally.errors.append(f"internal error: {type(exc).__name__}: {exc}")
        if tally.errors:
            status = RunStatus.FAILED
        with session_scope(self.db) as session:
            row = runs_repo.get_run(session, run_id)
            assert row is not None
            row.status, row.finished_at = status.value, utcnow()
            row.students_read = len(students)
            row.students_from_feed, row.students_removed = tally.from_feed, tally.removed
            row.full = tally.full
            row.outcomes = dict(sorted(tally.outcomes.items()))
            row.values_written, row.values_unchanged = tally.values_written, tally.values_unchanged
            row.provenance_records, row.kip_linked = tally.provenance_records, tally.kip_linked
            row.timings, row.errors = tally.timings, tally.errors[:50]
        log.info("sync run %s %s: %d students (%d read from the gateways), %d values written", run_id,
                 status.value, len(students), tally.from_feed, tally.values_written)
        return RunResult(status, unavailable, tuple(tally.missing))

    @staticmethod
    def _view(record: Siswa | PesertaDidik) -> tuple[StudentView, str]:
        """The hub's view of a gateway record, and its school (NSM / NSPP, or sekolah_id)."""
        if isinstance(record, Siswa):
            return from_siswa(record), record.nsm
        return from_peserta_didik(record), record.sekolah_id

    def _read_named(self, system: SourceSystem, student_ids: list[str], missing: list[str]
                    ) -> Iterator[Siswa | PesertaDidik]:
        """The named students of one system, read directly; those the gateway does not offer go to ``missing``."""
        for student_id in student_ids:
            try:
                if system is SourceSystem.EMIS:
                    yield self.up.emis.get_student(student_id)
                else:
                    yield self.up.dapodik.get_student(student_id)
            except Rejected as exc:
                if exc.status != 404:
                    raise
                missing.append(student_id)

    def _read_changes(self, system: SourceSystem, full: bool, tally: RunTally) -> _SystemRead:
        """The system's working copy brought up to date: the feed read since the stored position (from the
        start when ``full`` or when there is none), tombstones dropped, requested refetches read directly."""
        copy = mirror.load(self.db, system)
        full = full or copy.cursor is None
        read = _SystemRead(copy, full, None if full else copy.cursor)
        if full:
            copy.views.clear()
            copy.school.clear()
            tally.full = True
        pages: Iterator[SiswaFeed | PesertaDidikFeed] = (
            self.up.emis.iter_changes(read.cursor, self.settings.page_size) if system is SourceSystem.EMIS
            else self.up.dapodik.iter_changes(read.cursor, self.settings.page_size, removed=True))
        for page in pages:
            for record in page.items:
                view, school = self._view(record)
                copy.put(view, school)
                read.touched.add(view.student_id)
            tally.from_feed += len(page.items)
            for gone in getattr(page, "removed", ()):
                if copy.drop(gone.peserta_didik_id):
                    tally.removed += 1
                    read.touched.add(gone.peserta_didik_id)
            read.cursor = page.resume_cursor
        read.refetch_served = mirror.refetch_wanted(self.db, system)
        wanted = sorted(k for k in read.refetch_served if k not in read.touched)
        missing: list[str] = []
        for record in self._read_named(system, wanted, missing):
            view, school = self._view(record)
            copy.put(view, school)
            read.touched.add(view.student_id)
            tally.from_feed += 1
        for student_id in missing:  # gone from the gateway (or held back) since
            if copy.drop(student_id):
                tally.removed += 1
                read.touched.add(student_id)
        return read

    def _run(self, run_id: str, systems: list[SourceSystem], tally: RunTally, students: list[StudentView],
             scope: list[str] | None = None, full: bool = False) -> None:
        timer = _Timer(tally)
        school_of: dict[str, tuple[str, str]] = {}
        reads: dict[SourceSystem, _SystemRead] = {}
        with timer.phase("read_students"):
            if scope is not None:  # an on-demand check: only these students, of the run's one system
                for record in self._read_named(systems[0], scope, tally.missing):
                    view, school = self._view(record)
                    students.append(view)
                    school_of[view.student_id] = (systems[0].value, school)
                tally.from_feed = len(students)
            else:  # a run: what changed since the last one, over the hub's copy of every student
                for system in systems:
                    read = reads[system] = self._read_changes(system, full, tally)
                    for student_id in sorted(read.copy.views):
                        students.append(read.copy.views[student_id])
                        school_of[student_id] = (system.value, read.copy.school[student_id])
        if tally.missing:
            tally.errors.append(f"{len(tally.missing)} named student(s) not found at the gateway")
            return
        seq = 0
        issuances: list[KipIssuance] = []
        if SourceSystem.DAPODIK in systems and scope is None:  # KIP comes with full runs (and SK batches)
            with timer.phase("read_kip"):
                for issuance, page_seq in self.up.kemensos.iter_kip(limit=1000):
                    seq = max(seq, page_seq)
                    issuances.append(issuance)
        with timer.phase("registry"):
            refreshed = replica.refresh(self.db, self.up.kemensos)
            registry = replica.load(self.db, refreshed)
            seq, retrieved_at = max(seq, refreshed.observed_seq, registry.observed_seq), utcnow()
        with timer.phase("match"):
            reviewed = review_service.standing_decisions(self.db, students)
            schools = self._schools(school_of)
            regions = {sid: schools[school][0] for sid, school in school_of.items() if school in schools}
            matcher = Matcher(registry, store=ModelStore(self.db))
            decisions = matcher.match(students, regions, reviewed)
            kips = self._kips(students, school_of, schools, issuances, matcher.model)
            tally.kip_linked = sum(1 for k in kips if k is not None)
            plans: dict[SourceSystem, list[PlannedItem]] = defaultdict(list)
            for student, decision, kip in zip(students, decisions, kips, strict=True):
                tally.outcomes[decision.outcome.value] += 1
                items, desired = self._plan(student, decision, kip, retrieved_at)
                plans[student.system].extend(items)
                tally.values_unchanged += desired - sum(i.field_count for i in items)
        with timer.phase("review_queue"):
            review_service.sync_cases(self.db, run_id, students, decisions)
        with timer.phase("push"):
            for system, items in plans.items():
                for batch in _chunks(items, self.settings.push_batch):
                    self._push(run_id, system, batch, seq, tally, reads.get(system))
        with timer.phase("record_outcomes"), session_scope(self.db) as session:
            runs_repo.insert_outcomes(session, [
                {"sync_run_id": run_id, "system": s.system.value, "student_id": s.student_id,
                 "outcome": d.outcome.value, "detail": (d.detail or "")[:300] or None,
                 "matched_by": d.matched_by.value, "no_kk": d.family.no_kk if d.family else None}
                for s, d in zip(students, decisions, strict=True)
            ])
        if scope is not None:  # the check wrote values the hub's copy does not know yet: read them next run
            mirror.ask_refetch(self.db, systems[0], {s.student_id for s in students}, utcnow())
            return
        if tally.push_failed:  # the work is not done: keep the old position, the next run reads it all again
            return
        with timer.phase("commit"):
            now = utcnow()
            for read in reads.values():
                mirror.commit(self.db, read.copy, everything=read.full, touched=read.touched, cursor=read.cursor,
                              at=now, refetch_served=read.refetch_served, refetch_asked=read.refetch_asked)

    # -- matching helpers ------------------------------------------------------------------------

    def _schools(self, school_of: dict[str, tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(system, school key) -> (kode_wilayah, Dapodik bentuk_pendidikan) of the schools of these students: the
        school's region is the only address a student record has (blocking), and a KIP card names the jenjang."""
        wanted = {system for system, _ in school_of.values()}
        out: dict[tuple[str, str], tuple[str, str | None]] = {}
        if "emis" in wanted:
            for madrasah in self._pages(self.up.emis.list_madrasah):
                out[("emis", madrasah.nsm)] = (madrasah.kode_wilayah, None)
        if "dapodik" in wanted:
            for sekolah in self._pages(self.up.dapodik.list_sekolah):
                out[("dapodik", sekolah.sekolah_id)] = (sekolah.kode_wilayah, sekolah.bentuk_pendidikan.value)
        return out

    @staticmethod
    def _pages(lister: Callable[[str | None, int], Page[T]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = lister(cursor, 1000)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    @staticmethod
    def _kips(students: list[StudentView], school_of: dict[str, tuple[str, str]],
              schools: dict[tuple[str, str], tuple[str, str | None]], issuances: list[KipIssuance],
              model: fallback.Model | None) -> list[LinkedKip | None]:
        """The KIP card of each Dapodik student (``matching.kip``): by the card's valid NIK with the identity
        checked, else by name, birth date, mother's name, region and jenjang (auto-link band only; one card per
        student, one student per card). Row-aligned with ``students``; None: no card."""
        out: list[LinkedKip | None] = [None] * len(students)
        dap = [i for i, s in enumerate(students) if s.system is SourceSystem.DAPODIK]
        if not dap or not issuances:
            return out
        where = [schools.get(school_of.get(students[i].student_id, ("", ""))) for i in dap]
        regions = {students[i].student_id: w[0] for i, w in zip(dap, where, strict=True) if w is not None}
        stu = students_frame(to_rows([students[i] for i in dap], regions))
        links = kip.link(stu, [w[1] if w is not None else None for w in where], kip.cards_frame(issuances), model)
        for i, card in zip(dap, kip.to_students(links, issuances, len(dap)), strict=True):
            out[i] = card
        return out

    @staticmethod
    def _plan(student: StudentView, decision: MatchDecision, kip: KipIssuance | None,
              retrieved_at: datetime) -> tuple[list[PlannedItem], int]:
        """The items to push for one student, and how many values it should hold in all."""
        items: list[PlannedItem] = []
        wanted = desired_pkh(student.system, decision, kip)
        desired = len(wanted) + 2  # + outcome and its detail
        pkh_item = diff(student, decision.outcome, decision.detail, wanted, pkh_source(decision, retrieved_at))
        if pkh_item:
            items.append(pkh_item)
        if kip is not None:
            source = Source("kemensos.kip", f"kip/{kip.no_kip}", kip.version, retrieved_at,
                            kip.matched_by if isinstance(kip, LinkedKip) else MatchKey.NIK)
            kip_wanted = desired_kip(kip)
            desired += len(kip_wanted)
            kip_item = diff(student, None, None, kip_wanted, source)
            if kip_item:
                items.append(kip_item)
        return items, desired

    # -- pushing ---------------------------------------------------------------------------------

    def _push(self, run_id: str, system: SourceSystem, batch: list[PlannedItem], seq: int, tally: RunTally,
              read: _SystemRead | None = None) -> None:
        """Send one batch (outbox first) and settle it; ``read``: the run's working copy of the system, which
        learns what the gateway now holds (or which students to read again next run)."""
        now = utcnow()
        items = [
            HubResultItem(
                student_id=p.student_id, outcome=p.outcome, outcome_detail=p.detail, values=p.values,
                provenance=Provenance(
                    provenance_id=str(uuid.uuid4()), sync_run_id=run_id, source_system=p.source.system,
                    source_record=p.source.record, source_version=p.source.version, observed_seq=seq,
                    retrieved_at=p.source.retrieved_at, matched_by=p.source.matched_by),
            )
            for p in batch
        ]
        with session_scope(self.db) as session:  # outbox first: the intent is on disk before it is sent
            prov_repo.add_outbox(session, [
                {"id": i.provenance.provenance_id, "sync_run_id": run_id, "target_system": system.value,
                 "student_id": i.student_id, "payload": i.model_dump_json(), "status": "PENDING",
                 "created_at": now} for i in items])
        client = self.up.emis if system is SourceSystem.EMIS else self.up.dapodik
        try:
            answer = client.post_results(HubResultBatch(sync_run_id=run_id, items=items))
        except ClientError as exc:
            with session_scope(self.db) as session:
                prov_repo.settle_outbox(session, [{"b_id": i.provenance.provenance_id, "status": "FAILED",
                                                   "detail": str(exc)[:300], "sent_at": utcnow()} for i in items])
            tally.errors.append(f"push to {system.value} failed for {len(items)} items: {exc}")
            tally.push_failed = True
            return
        written_at = utcnow()
        outcome_field, detail_field = OUTCOME_FIELDS[system]
        settle, provenance = [], []
        for item, result in zip(items, answer.results, strict=True):
            pid = item.provenance.provenance_id
            settle.append({"b_id": pid, "status": result.status.value, "detail": result.detail,
                           "sent_at": written_at})
            values = dict(item.values)
            if item.outcome is not None:
                values[outcome_field] = item.outcome.value
                values[detail_field] = item.outcome_detail
            if read is not None:
                if result.status in (ResultStatus.APPLIED, ResultStatus.UNCHANGED):  # the gateway holds them now
                    read.copy.holds(item.student_id, values)
                    read.touched.add(item.student_id)
                elif result.status in (ResultStatus.STALE, ResultStatus.NOT_FOUND):  # it knows better: read again
                    read.refetch_asked.add(item.student_id)
            if result.status is not ResultStatus.APPLIED:
                if result.status not in (ResultStatus.UNCHANGED,):
                    tally.errors.append(f"{system.value} {result.status.value}: {result.detail or ''}"[:200])
                continue
            for name in result.fields_written:
                p = item.provenance
                provenance.append({
                    "id": str(uuid.uuid4()), "provenance_id": pid, "sync_run_id": run_id,
                    "target_system": system.value, "target_record": item.student_id, "field": name,
                    "value_json": json.dumps(values.get(name)), "source_system": p.source_system,
                    "source_record": p.source_record, "source_version": p.source_version,
                    "observed_seq": p.observed_seq, "retrieved_at": p.retrieved_at,
                    "matched_by": p.matched_by.value, "written_at": written_at})
        with session_scope(self.db) as session:
            prov_repo.settle_outbox(session, settle)
            prov_repo.add_provenance(session, provenance)
        tally.values_written += len(provenance)
        tally.provenance_records += len(provenance)

