"""On-demand checks: decide named students now, from the records the gateway sends and the replica as stored.

A check never calls another service and never refreshes the replica (a follower keeps it current in the
background, ``replica.follower``). It reads only the slice of the replica its students can touch
(``replica.slice.registry_for``) with the stored fallback model, plans the result items against each record's
current values (``sync.plan``, as a run does), and records the check, its outcomes and the provenance of every
value it returns in one short write transaction. The gateway applies the items itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.checks import repository
from services.sync_hub.domain.students import OUTCOME_FIELDS, StudentView, from_peserta_didik, from_siswa
from services.sync_hub.ledger import service as ledger
from services.sync_hub.ledger.keys import Signer
from services.sync_hub.matching import fallback, scalar
from services.sync_hub.matching.frames import Registry
from services.sync_hub.matching.model_store import ModelStore, current, version
from services.sync_hub.matching.service import MatchDecision, Matcher, to_rows
from services.sync_hub.replica import repository as replica_repo
from services.sync_hub.replica.slice import keys_for
from services.sync_hub.review import service as review_service
from services.sync_hub.sync import training
from services.sync_hub.sync.plan import desired_pkh, diff, pkh_source
from shared.clock import utcnow
from shared.contracts.common import HubResultItem, Provenance
from shared.contracts.hub import CheckRequest, CheckResponse, StudentOutcome
from shared.db import SQLITE_IMMEDIATE, session_scope, unstorable_text
from shared.errors import InvalidInput, UpstreamFailure
from shared.ids import new_id, uuid7_texts
from shared.nik import mask

log = logging.getLogger("jembatan.hub.checks")

MODEL_TTL = 5.0  # seconds a looked-up stored model is reused before the store is asked again


@dataclass(frozen=True)
class _Stored:
    model: fallback.Model
    version: str
    at: float


def reject_unstorable_ids(body: CheckRequest) -> None:
    """A record whose id neither database can store (a NUL: PostgreSQL refuses it in a lookup) is malformed input:
    422 naming the record's id field, before the check reads or writes anything."""
    for name, records, key in (("siswa", body.siswa, "siswa_id"), ("peserta_didik", body.peserta_didik,
                                                                   "peserta_didik_id")):
        for index, record in enumerate(records):
            if rule := unstorable_text(getattr(record, key)):
                raise InvalidInput.field(f"{name}[{index}].{key}", rule,
                                         "a student id holding a NUL character (or not UTF-8) is no id")


class Checks:
    """What ``POST /api/v1/checks`` runs; one per app, safe to call from many request threads at once."""

    def __init__(self, db: Engine, signer: Signer | None = None, checkpoint_every: int = 0) -> None:
        self.db = db
        self.signer, self.checkpoint_every = signer, checkpoint_every  # the ledger's checkpoints (docs/ledger.md)
        self._writer = db.execution_options(**{SQLITE_IMMEDIATE: True})  # BEGIN IMMEDIATE on SQLite
        self._model: _Stored | None = None
        self._model_lock = threading.Lock()
        self._ready = False  # the replica has been seen ready (its state row says it was read whole)
        self._empty = Registry.empty()  # the Matcher's batch registry, unused by ``match_few``

    def check(self, body: CheckRequest, client: str) -> CheckResponse:
        reject_unstorable_ids(body)
        students = [from_siswa(s) for s in body.siswa] + [from_peserta_didik(p) for p in body.peserta_didik]
        regions = dict(body.kode_wilayah)
        if not self._ready:  # once the replica has been read whole it stays ready (checked again below)
            with session_scope(self.db) as session:
                self._ensure_ready(session)
        # never inside the read session below: it may take a second pooled connection (a thread holding one
        # connection while waiting for another starves the pool under load)
        stored = self._stored_model(students, regions)  # held in memory (looked up every MODEL_TTL seconds)
        # one pooled connection and one session for the reads and the write (one checkout, one liveness look)
        with self.db.connect() as conn, Session(conn, expire_on_commit=False) as session:
            # reads only: the slice and the replica's position
            seq = self._ensure_ready(session)
            reviewed = review_service.standing_decisions_of(session, body.system.value,
                                                            [s.student_id for s in students])
            # a handful of students: the scalar path (``matching.scalar``), same decisions as a run's batch
            # path; the fallback's rows are read (``widen``) only for students the keys leave undecided
            stu = scalar.students(to_rows(students, regions))
            keys, widen = keys_for(session, stu, seq)
            decisions = Matcher(self._empty, model=stored.model, model_version=stored.version).match_few(
                students, regions, reviewed, keys, widen, stu)
            if conn.dialect.name != "postgresql":
                # SQLite: the reads end their deferred transaction; the write's begins IMMEDIATE (the write lock
                # at once). PostgreSQL: the reads and the write are ONE transaction (one BEGIN and COMMIT fewer):
                # at READ COMMITTED each read saw a snapshot of its own inside it as it would in one of its own,
                # and the reads take no lock, so the write's locks are held no longer than before
                session.commit()
                conn.execution_options(**{SQLITE_IMMEDIATE: True})
            check_id, now = new_id(), utcnow()
            items = [item for s, d in zip(students, decisions, strict=True)
                     if (item := self._item(check_id, s, d, seq, now)) is not None]
            outcomes = [{"check_id": check_id, "student_id": s.student_id, "outcome": d.outcome.value,
                         "matched_by": d.matched_by.value, "detail": (d.detail or "")[:300] or None}
                        for s, d in zip(students, decisions, strict=True)]
            provenance, hashes = self._provenance(body, items, now)
            # one short write: the check, its outcomes, the provenance of what it returns, its ledger entries
            # (last: the ledger's lock until the commit)
            # on PostgreSQL the record's statement also takes the ledger's lock when there is something to append
            locked = repository.record(
                session,
                {"id": check_id, "system": body.system.value, "client": client[:64], "created_at": now,
                 "observed_seq": seq, "students": len(students), "items": len(items)},
                outcomes, provenance,
                [{"system": body.system.value, "student_id": i.student_id, "requested_at": now} for i in items],
                lock_ledger=bool(provenance))
            # the record hashes stamped on the items (``ledger.stamp``): each value hashed once
            ledger.append_provenance(session, provenance, hashes, locked)
            uncovered = ledger.appended_pending(session)  # from the head the append read: no second read
            session.commit()
        if uncovered is not None:  # only a check that appended to the ledger can make a checkpoint due
            ledger.maybe_checkpoint(self._writer, self.signer, self.checkpoint_every, uncovered)
        log.info("check %s by %s: %d %s students decided at registry sequence %d, %d items", check_id, client,
                 len(students), body.system.value, seq, len(items))
        return CheckResponse(check_id=check_id, observed_seq=seq, items=items, results=[
            StudentOutcome(sync_run_id=check_id, system=body.system, student_id=s.student_id, outcome=d.outcome,
                           detail=(d.detail or "")[:300] or None, matched_by=d.matched_by,
                           no_kk=mask(d.family.no_kk) if d.family else None)
            for s, d in zip(students, decisions, strict=True)])

    def _ensure_ready(self, session: Session) -> int:
        """The replica's registry sequence; 503 while the replica has not been read whole yet."""
        state = replica_repo.state_seq(session)
        if state is None or not state[1]:
            self._ready = False
            raise UpstreamFailure("the hub's registry replica is not ready yet; ask again later")
        self._ready = True
        return state[0]

    @staticmethod
    def _item(check_id: str, student: StudentView, decision: MatchDecision, seq: int, at: datetime
              ) -> HubResultItem | None:
        """The item that brings the record to the decision (only values that differ), or None."""
        planned = diff(student, decision.outcome, decision.detail, desired_pkh(student.system, decision, None),
                       pkh_source(decision, at))
        if planned is None:
            return None
        src = planned.source
        return HubResultItem(
            student_id=planned.student_id, outcome=planned.outcome, outcome_detail=planned.detail,
            values=planned.values, provenance=Provenance(
                provenance_id=new_id(), sync_run_id=check_id, source_system=src.system,
                source_record=src.record, source_version=src.version, observed_seq=seq,
                retrieved_at=src.retrieved_at, matched_by=src.matched_by))

    @staticmethod
    def _provenance(body: CheckRequest, items: list[HubResultItem], at: datetime
                    ) -> tuple[list[dict[str, object]], list[str | None]]:
        """The provenance rows of the items' values, and each one's record hash (stamped on its item)."""
        outcome_field, detail_field = OUTCOME_FIELDS[body.system]
        rows: list[dict[str, object]] = []
        hashes: list[str | None] = []
        every = []
        for item in items:
            values = dict(item.values)
            if item.outcome is not None:
                values[outcome_field], values[detail_field] = item.outcome.value, item.outcome_detail
            every.append(values)
        ids = iter(uuid7_texts(sum(map(len, every))))  # the rows' ids at once, time-ordered (``shared.ids``)
        for item, values in zip(items, every, strict=True):
            ledger.stamp(item, body.system.value, values)
            p = item.provenance
            rows += [{"id": next(ids), "provenance_id": p.provenance_id, "sync_run_id": p.sync_run_id,
                      "target_system": body.system.value, "target_record": item.student_id, "field": name,
                      "value_json": json.dumps(value), "source_system": p.source_system,
                      "source_record": p.source_record, "source_version": p.source_version,
                      "observed_seq": p.observed_seq, "retrieved_at": p.retrieved_at,
                      "matched_by": p.matched_by.value, "written_at": at} for name, value in values.items()]
            hashes += [p.record_hashes[name] for name in values]
        return rows, hashes

    def _stored_model(self, students: list[StudentView], regions: dict[str, str]) -> _Stored:
        """The fallback model the sync runs stored (looked up at most every ``MODEL_TTL`` seconds). With none
        stored yet (no run has needed the fallback), one is fitted once, under a lock, as a run's plan fits it
        (``sync.training``), and stored for every later check and run."""
        held = self._model
        if held is not None and time.monotonic() - held.at < MODEL_TTL:
            return held
        with self._model_lock:
            held = self._model
            if held is not None and time.monotonic() - held.at < MODEL_TTL:
                return held
            with session_scope(self.db) as session:
                row = current(session)
                if row is not None and row.fields_schema == fallback.FIELDS_SCHEMA:
                    name = version(row.id or 0)
                    if held is not None and held.version == name:
                        self._model = _Stored(held.model, name, time.monotonic())
                        return self._model
                    try:
                        self._model = _Stored(fallback.Model.from_json(row.params), name, time.monotonic())
                        return self._model
                    except (ValueError, KeyError, TypeError):
                        log.warning("stored fallback model %s unreadable; fitting one", name)
            fitted = training.ensure_model(self.db, fallback_students=(students, regions))
            assert fitted is not None  # a check is answered only once the replica holds the registry
            chosen = ModelStore(self.db).get(fitted)
            self._model = _Stored(chosen.model, chosen.version, time.monotonic())
            return self._model
