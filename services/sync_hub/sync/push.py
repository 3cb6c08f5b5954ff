"""Pushing result items to a gateway: outbox first, then the batch, then the answer settled with provenance.

Every item is written to the outbox (its id is the item's provenance id) before it is sent, and settled with
the gateway's answer after. A unit that dies between the two leaves PENDING rows: the next attempt (or the next
run's unit of the same region) sends them again first (``replay``); the gateway answers APPLIED, or UNCHANGED
when it had applied them, naming in ``held`` the provenance it keeps for each field. Provenance the gateway
holds but the hub has no row for (the hub died before recording it) is rebuilt from the outbox row it names
(``_reconcile``), so every value a gateway holds has its provenance at the hub.

A gateway answering STALE (it holds a newer fact than the one sent) or NOT_FOUND is not a failure: the
student is read again by the next run and counted in the unit's ``stale``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.domain.students import OUTCOME_FIELDS, FieldValue
from services.sync_hub.ledger import service as ledger
from services.sync_hub.ledger.keys import Signer
from services.sync_hub.mirror import service as mirror
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.provenance.models import OutboxItemRow, ProvenanceRow
from services.sync_hub.runs.models import SyncUnitRow
from services.sync_hub.sync.plan import PlannedItem
from services.sync_hub.upstreams import Upstreams
from shared.clock import utcnow
from shared.contracts.common import HubResultItem, Provenance, ResultStatus
from shared.contracts.hub import SourceSystem
from shared.db import session_scope
from shared.http import ClientError
from shared.ids import uuid4_texts
from shared.ledger_hash import utc_text

log = logging.getLogger("jembatan.hub.push")

REPLAY = ("PENDING", "FAILED")  # outbox rows whose answer the hub never recorded


@dataclass
class PushTally:
    values_written: int = 0
    provenance_records: int = 0
    reconciled: int = 0  # provenance rows rebuilt from the outbox (the gateway held values the hub had not recorded)
    stale: set[str] = field(default_factory=set)
    rejected: list[str] = field(default_factory=list)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def to_items(run_id: str, batch: list[PlannedItem], seq: int, system: SourceSystem | None = None
             ) -> list[HubResultItem]:
    """The batch's result items; with ``system``, each carries the ledger's record hash of every value."""
    items = [
        HubResultItem(
            student_id=p.student_id, outcome=p.outcome, outcome_detail=p.detail, values=p.values,
            provenance=Provenance(
                provenance_id=pid, sync_run_id=run_id, source_system=p.source.system,
                source_record=p.source.record, source_version=p.source.version, observed_seq=seq,
                retrieved_at=p.source.retrieved_at, matched_by=p.source.matched_by))
        for p, pid in zip(batch, uuid4_texts(len(batch)), strict=True)
    ]
    if system is not None:
        times: dict[datetime, str] = {}  # the items of a unit share their retrieval time: written once
        for item in items:
            at = item.provenance.retrieved_at
            text = times.get(at) or times.setdefault(at, utc_text(at))
            ledger.stamp(item, system.value, _values(system, item), text)
    return items


def _values(system: SourceSystem, item: HubResultItem) -> dict[str, FieldValue]:
    """Every field the item sets, the outcome and its detail included."""
    values = dict(item.values)
    if item.outcome is not None:
        outcome_field, detail_field = OUTCOME_FIELDS[system]
        values[outcome_field] = item.outcome.value
        values[detail_field] = item.outcome_detail
    return values


def _json(value: FieldValue, texts: dict[tuple[type, FieldValue], str] | None = None) -> str:
    """``json.dumps(value)``, each distinct value dumped once per ``texts`` (values repeat: true, null, outcomes)."""
    if texts is None:
        return json.dumps(value)
    key = (type(value), value)  # the type too: True == 1, but "true" != "1"
    text = texts.get(key)
    if text is None:
        text = texts[key] = json.dumps(value)
    return text


def _provenance_rows(system: SourceSystem, item: HubResultItem, fields: Iterable[str], written_at: datetime,
                     texts: dict[tuple[type, FieldValue], str] | None = None, ids: Iterator[str] | None = None
                     ) -> list[dict[str, object]]:
    """One provenance row per field; ``ids``: the rows' ids (``uuid4_texts`` drawn for a whole batch at once)."""
    values, p = _values(system, item), item.provenance
    fields = list(fields)
    ids = ids if ids is not None else iter(uuid4_texts(len(fields)))
    return [{"id": next(ids), "provenance_id": p.provenance_id, "sync_run_id": p.sync_run_id,
             "target_system": system.value, "target_record": item.student_id, "field": name,
             "value_json": _json(values.get(name), texts), "source_system": p.source_system,
             "source_record": p.source_record, "source_version": p.source_version, "observed_seq": p.observed_seq,
             "retrieved_at": p.retrieved_at, "matched_by": p.matched_by.value, "written_at": written_at}
            for name in fields]


def _stamped(item: HubResultItem, fields: Iterable[str]) -> list[str | None]:
    """The record hash stamped on the item for each field (``ledger.stamp``; None for a field it has none of):
    the ledger appends it as is instead of hashing the value a second time."""
    stamped = item.provenance.record_hashes
    return [stamped.get(name) for name in fields]


class Pusher:
    """Sends one unit's items to one gateway and records what the gateway answered."""

    def __init__(self, db: Engine, upstreams: Upstreams, system: SourceSystem, unit_id: str,
                 cancelled: Callable[[], bool] = lambda: False, signer: Signer | None = None,
                 checkpoint_every: int = 0) -> None:
        self.db, self.system, self.unit_id, self.cancelled = db, system, unit_id, cancelled
        # the ledger's checkpoints: signed once ``checkpoint_every`` entries are not covered (None: never here)
        self.signer, self.checkpoint_every = signer, checkpoint_every
        self.client = upstreams.emis if system is SourceSystem.EMIS else upstreams.dapodik
        self.tally = PushTally()

    def push(self, run_id: str, planned: list[PlannedItem], seq: int, batch_size: int) -> bool:
        """Push ``planned`` in batches; False when the run was cancelled before every batch was sent."""
        for batch in chunks(planned, batch_size):
            if self.cancelled():
                return False
            items = to_items(run_id, batch, seq, self.system)
            payloads = [i.model_dump_json() for i in items]
            now = utcnow()
            with session_scope(self.db) as session:  # outbox first: the intent is on disk before it is sent
                prov_repo.add_outbox(session, [
                    {"id": i.provenance.provenance_id, "sync_run_id": run_id, "unit_id": self.unit_id,
                     "target_system": self.system.value, "student_id": i.student_id,
                     "payload": payload, "status": "PENDING", "created_at": now}
                    for i, payload in zip(items, payloads, strict=True)])
            self._send(run_id, items, payloads)
        return True

    def replay(self, region: str, batch_size: int) -> int:
        """Send again the outbox rows of this system and region whose answer was never recorded (a unit that
        died, a batch that got no answer), with their own provenance ids. Returns how many were sent."""
        with session_scope(self.db) as session:
            units = sa.select(SyncUnitRow.id).where(SyncUnitRow.system == self.system.value,
                                                     SyncUnitRow.region == region)
            stmt = (sa.select(OutboxItemRow.payload, OutboxItemRow.sync_run_id)
                    .where(OutboxItemRow.unit_id.in_(units),  # type: ignore[union-attr]
                           OutboxItemRow.status.in_(REPLAY))  # type: ignore[attr-defined]
                    .order_by(OutboxItemRow.created_at))
            pending = [(HubResultItem.model_validate_json(r[0]), r[1], r[0]) for r in session.execute(stmt)]
        for batch in chunks(pending, batch_size):
            by_run: dict[str, list[tuple[HubResultItem, str]]] = {}
            for item, run_id, payload in batch:
                by_run.setdefault(run_id, []).append((item, payload))
            for run_id, sent in by_run.items():
                self._send(run_id, [i for i, _ in sent], [p for _, p in sent])
        if pending:
            log.info("unit %s: %d outbox item(s) sent again after an interruption", self.unit_id, len(pending))
        return len(pending)

    def _send(self, run_id: str, items: list[HubResultItem], payloads: list[str]) -> None:
        """POST ``items`` (``payloads``: each one's JSON, as the outbox holds it: the batch's body is made of them
        rather than serialised again) and record the answer."""
        body = f'{{"sync_run_id":{json.dumps(run_id)},"items":[{",".join(payloads)}]}}'
        try:
            answer = self.client.post_results_json(body.encode("utf-8"))
        except ClientError as exc:
            with session_scope(self.db) as session:
                prov_repo.settle_outbox(session, [{"b_id": i.provenance.provenance_id, "status": "FAILED",
                                                   "detail": str(exc)[:300], "sent_at": utcnow()} for i in items])
            raise
        written_at = utcnow()
        settle: list[dict[str, object]] = []
        provenance: list[dict[str, object]] = []
        hashes: list[str | None] = []
        held_ids: dict[str, list[tuple[HubResultItem, str]]] = {}  # provenance id held -> (item, field)
        texts: dict[tuple[type, FieldValue], str] = {}
        holds: dict[str, dict[str, FieldValue]] = {}
        ids = iter(uuid4_texts(sum(len(r.fields_written) for r in answer.results
                                   if r.status is ResultStatus.APPLIED)))  # the provenance rows' ids
        for item, result in zip(items, answer.results, strict=True):
            pid = item.provenance.provenance_id
            settle.append({"b_id": pid, "status": result.status.value, "detail": result.detail,
                           "sent_at": written_at})
            if result.status in (ResultStatus.APPLIED, ResultStatus.UNCHANGED):  # the gateway holds them now
                holds[item.student_id] = {**holds.get(item.student_id, {}), **_values(self.system, item)}
            elif result.status in (ResultStatus.STALE, ResultStatus.NOT_FOUND):  # it knows better: read again
                self.tally.stale.add(item.student_id)
            else:
                self.tally.rejected.append(f"{self.system.value} {result.status.value}: {result.detail or ''}"[:200])
            if result.status is ResultStatus.APPLIED:
                provenance.extend(_provenance_rows(self.system, item, result.fields_written, written_at, texts, ids))
                hashes.extend(_stamped(item, result.fields_written))
            for name, held in (getattr(result, "held", None) or {}).items():
                if held != pid or result.status is not ResultStatus.APPLIED:
                    held_ids.setdefault(held, []).append((item, name))
        with session_scope(self.db) as session:
            prov_repo.settle_outbox(session, settle)
            prov_repo.add_provenance(session, provenance)
            rebuilt, rebuilt_hashes = self._reconcile(session, held_ids, {i.provenance.provenance_id for i in items})
            mirror.holds(session, self.system, holds)
            if self.tally.stale:
                mirror.ask_refetch(session, self.system, self.tally.stale, written_at)
            # last: the ledger's lock until the commit
            ledger.append_provenance(session, provenance + rebuilt, hashes + rebuilt_hashes)
            uncovered = ledger.appended_pending(session) if provenance or rebuilt else 0
        self.tally.reconciled += len(rebuilt)
        self.tally.values_written += len(provenance)
        self.tally.provenance_records += len(provenance)
        ledger.maybe_checkpoint(self.db, self.signer, self.checkpoint_every, uncovered)

    def _reconcile(self, session: sa.orm.Session, held: dict[str, list[tuple[HubResultItem, str]]],
                   sent: set[str]) -> tuple[list[dict[str, object]], list[str | None]]:
        """Provenance rows for values the gateway holds under a provenance id the hub has no row for: rebuilt
        from that id's outbox row (the item the hub had sent before it died), which is settled APPLIED."""
        if not held:
            return [], []
        ids = sorted(held)
        known = {r[0] for r in session.execute(sa.select(ProvenanceRow.provenance_id).where(
            ProvenanceRow.provenance_id.in_(ids)).distinct())}  # type: ignore[attr-defined]
        missing = [i for i in ids if i not in known]
        if not missing:
            return [], []
        outbox = {r[0]: (r[1], r[2]) for r in session.execute(sa.select(
            OutboxItemRow.id, OutboxItemRow.payload, OutboxItemRow.sent_at).where(OutboxItemRow.id.in_(missing)))}  # type: ignore[attr-defined]
        rows: list[dict[str, object]] = []
        hashes: list[str | None] = []
        settle: list[dict[str, object]] = []
        for pid in missing:
            if pid not in outbox:
                continue  # not an id of this hub's outbox (an on-demand check records its own provenance)
            payload, sent_at = outbox[pid]
            original = HubResultItem.model_validate_json(payload)
            fields = sorted({name for _, name in held[pid]})
            rows.extend(_provenance_rows(self.system, original, fields, sent_at or utcnow()))
            hashes.extend(_stamped(original, fields))
            if pid not in sent:
                settle.append({"b_id": pid, "status": ResultStatus.APPLIED.value,
                               "detail": "applied before an interruption; confirmed by the gateway",
                               "sent_at": sent_at or utcnow()})
        prov_repo.add_provenance(session, rows)
        prov_repo.settle_outbox(session, settle)
        return rows, hashes
