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
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy import Engine

from services.sync_hub.domain.students import OUTCOME_FIELDS, FieldValue
from services.sync_hub.ledger import service as ledger
from services.sync_hub.ledger.keys import Signer
from services.sync_hub.mirror import service as mirror
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.provenance.models import REPLAY_WHERE, OutboxItemRow, ProvenanceRow
from services.sync_hub.runs.models import SyncUnitRow
from services.sync_hub.sync.plan import PlannedItem
from services.sync_hub.upstreams import Upstreams
from shared.clock import utcnow
from shared.contracts.common import HubResultItem, MatchKey, Outcome, Provenance, ResultStatus
from shared.contracts.hub import SourceSystem
from shared.db import session_scope
from shared.http import ClientError
from shared.ids import uuid7_texts
from shared.ledger_hash import batch_record_hasher, utc_text

log = logging.getLogger("jembatan.hub.push")


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
        for p, pid in zip(batch, uuid7_texts(len(batch)), strict=True)
    ]
    if system is not None:
        times: dict[datetime, str] = {}  # the items of a unit share their retrieval time: written once
        for item in items:
            at = item.provenance.retrieved_at
            text = times.get(at) or times.setdefault(at, utc_text(at))
            ledger.stamp(item, system.value, _values(system, item), text)
    return items


@dataclass(slots=True)
class SentProvenance:
    """A sent item's ``Provenance``, as plain attributes (the fields ``Provenance`` has, same names)."""

    provenance_id: str
    sync_run_id: str
    source_system: str
    source_record: str
    source_version: int
    observed_seq: int
    retrieved_at: datetime
    matched_by: MatchKey
    record_hashes: dict[str, str]


@dataclass(slots=True)
class SentItem:
    """A result item as the pusher keeps it between the send and the answer: ``HubResultItem``'s fields, without a
    pydantic model per item (``items_json`` made the item's JSON directly; a ``HubResultItem`` from the outbox,
    on replay, is used the same way)."""

    student_id: str
    outcome: Outcome | None
    outcome_detail: str | None
    values: dict[str, FieldValue]
    provenance: SentProvenance


_DATETIME = TypeAdapter(datetime)
_PLAIN = (str, bool, int, type(None))  # a value's types as ``HubResultItem.values`` keeps them (exact: no subclass)
_ITEM = ('{"student_id":%s,"outcome":%s,"outcome_detail":%s,"values":{%s},"provenance":{"provenance_id":"%s",'
         '"sync_run_id":%s,"source_system":%s,"source_record":%s,"source_version":%d,"observed_seq":%d,'
         '"retrieved_at":%s,"matched_by":%s,"record_hashes":{%s}}}')
_CONSTANTS = {None: "null", True: "true", False: "false"}


def _plain(p: PlannedItem, seq: int) -> bool:
    """Whether ``HubResultItem`` would keep ``p``'s values as they are (types and bounds its fields check): then
    ``items_json`` writes it; otherwise the model is made (it converts, or refuses the item as before)."""
    s = p.source
    return (type(p.student_id) is str and len(p.student_id) <= 64
            and (p.outcome is None or type(p.outcome) is Outcome)
            and (p.detail is None or (type(p.detail) is str and len(p.detail) <= 300))
            and type(p.values) is dict and all(type(k) is str for k in p.values)
            and all(type(v) in _PLAIN for v in p.values.values())
            and type(s.system) is str and type(s.record) is str and type(s.version) is int and s.version >= 0
            and type(seq) is int and seq >= 0 and type(s.retrieved_at) is datetime and type(s.matched_by) is MatchKey)


def _value_json(value: FieldValue) -> str:
    """A value as pydantic writes it in an item's JSON (and as ``json.dumps`` writes it)."""
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    if type(value) is int:
        return str(value)
    return encode_basestring(value)  # type: ignore[no-any-return]


def items_json(run_id: str, batch: list[PlannedItem], seq: int, system: SourceSystem
               ) -> tuple[list[HubResultItem | SentItem], list[str]]:
    """The batch's items, each with the ledger's record hash of every value (``ledger.stamp``'s), and each one's
    JSON: the text ``HubResultItem.model_dump_json`` writes (tested byte-equal), made without a model per item.
    An item whose values the model would convert or refuse is made as the model (``to_items``)."""
    if type(run_id) is not str or len(run_id) > 64 or not all(_plain(p, seq) for p in batch):
        items = to_items(run_id, batch, seq, system)
        return items, [i.model_dump_json() for i in items]  # type: ignore[return-value]
    enc, value_json = encode_basestring, _value_json
    run_text, target = enc(run_id), system.value
    outcome_field, detail_field = OUTCOME_FIELDS[system]
    times: dict[int, tuple[datetime, str, str]] = {}  # the items of a unit share their retrieval time: once
    texts: dict[tuple[type, FieldValue], str] = {}  # values repeat (true, null, outcomes): written once each
    hashers: dict[str, Callable[..., dict[str, str]]] = {}  # the ledger's record hashes, per retrieval time
    items: list[HubResultItem | SentItem] = []
    payloads: list[str] = []
    for p, pid in zip(batch, uuid7_texts(len(batch)), strict=True):
        s = p.source
        at = times.get(id(s.retrieved_at))
        if at is None:  # (keyed by identity, each kept alive by its item: equal times of other offsets differ)
            at = times[id(s.retrieved_at)] = (s.retrieved_at, utc_text(s.retrieved_at),
                                              _DATETIME.dump_json(s.retrieved_at).decode())
        values = dict(p.values)
        if p.outcome is not None:
            values[outcome_field] = p.outcome.value
            values[detail_field] = p.detail
        hasher = hashers.get(at[1])
        if hasher is None:
            hasher = hashers[at[1]] = batch_record_hasher(run_id, target, seq, at[1])
        hashes = hasher(pid, p.student_id, s.system, s.record, s.version, s.matched_by.value, values)
        parts = []
        for name, value in p.values.items():
            key = (type(value), value)
            text = texts.get(key)
            if text is None:
                text = texts[key] = value_json(value)
            parts.append(f"{enc(name)}:{text}")
        payloads.append(_ITEM % (
            enc(p.student_id), "null" if p.outcome is None else enc(p.outcome.value),
            "null" if p.detail is None else enc(p.detail), ",".join(parts), pid, run_text, enc(s.system),
            enc(s.record), s.version, seq, at[2], enc(s.matched_by.value),
            ",".join([f'{enc(name)}:"{h}"' for name, h in hashes.items()])))
        items.append(SentItem(p.student_id, p.outcome, p.detail, p.values, SentProvenance(
            pid, run_id, s.system, s.record, s.version, seq, s.retrieved_at, s.matched_by, hashes)))
    return items, payloads


def _values(system: SourceSystem, item: HubResultItem | SentItem) -> dict[str, FieldValue]:
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


PROVENANCE_COLUMNS = ("id", "provenance_id", "sync_run_id", "target_system", "target_record", "field", "value_json",
                      "source_system", "source_record", "source_version", "observed_seq", "retrieved_at", "matched_by",
                      "written_at")  # a provenance row's columns, as ``_provenance_rows`` makes them
OUTBOX_COLUMNS = ("id", "sync_run_id", "unit_id", "target_system", "student_id", "payload", "status", "created_at")


def _body(run_id: str, payloads: list[str]) -> bytes:
    """A result batch's body made of its items' JSON (as the outbox keeps it), not serialised again."""
    return f'{{"sync_run_id":{json.dumps(run_id)},"items":[{",".join(payloads)}]}}'.encode()


def _provenance_rows(system: SourceSystem, item: HubResultItem, fields: Iterable[str], written_at: datetime,
                     texts: dict[tuple[type, FieldValue], str] | None = None, ids: Iterator[str] | None = None
                     ) -> list[dict[str, object]]:
    """One provenance row per field; ``ids``: the rows' ids (``uuid7_texts`` drawn for a whole batch at once)."""
    values, p = _values(system, item), item.provenance
    fields = list(fields)
    ids = ids if ids is not None else iter(uuid7_texts(len(fields)))
    return [{"id": next(ids), "provenance_id": p.provenance_id, "sync_run_id": p.sync_run_id,
             "target_system": system.value, "target_record": item.student_id, "field": name,
             "value_json": _json(values.get(name), texts), "source_system": p.source_system,
             "source_record": p.source_record, "source_version": p.source_version, "observed_seq": p.observed_seq,
             "retrieved_at": p.retrieved_at, "matched_by": p.matched_by.value, "written_at": written_at}
            for name in fields]


def _stamped(item: HubResultItem | SentItem, fields: Iterable[str]) -> list[str | None]:
    """The record hash stamped on the item for each field (``ledger.stamp``; None for a field it has none of):
    the ledger appends it as is instead of hashing the value a second time."""
    stamped = item.provenance.record_hashes
    return [stamped.get(name) for name in fields]


def replay_query(system: SourceSystem, region: str) -> sa.Select[tuple[str, str]]:
    """The outbox rows of ``system``'s units of ``region`` (any run's) whose answer was never recorded: payload and
    run, oldest first. The statuses are written as the partial index ``ix_outbox_item_replay``'s predicate
    (constants, not bound: a plan made for any parameters could not use the index)."""
    units = sa.select(SyncUnitRow.id).where(SyncUnitRow.system == system.value, SyncUnitRow.region == region)
    return (sa.select(OutboxItemRow.payload, OutboxItemRow.sync_run_id)  # type: ignore[return-value]
            .where(OutboxItemRow.unit_id.in_(units), sa.text(f"outbox_item.{REPLAY_WHERE}"))  # type: ignore[union-attr]
            .order_by(OutboxItemRow.created_at))


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
            items, payloads = items_json(run_id, batch, seq, self.system)
            try:
                body = _body(run_id, payloads)
            except UnicodeEncodeError:  # a text UTF-8 cannot hold: left to the model (it refused it before)
                items = to_items(run_id, batch, seq, self.system)  # type: ignore[assignment]
                payloads = [i.model_dump_json() for i in items]  # type: ignore[union-attr]
                body = _body(run_id, payloads)
            now = utcnow()
            n = len(items)
            with session_scope(self.db) as session:  # outbox first: the intent is on disk before it is sent
                prov_repo.add_outbox_columns(session, OUTBOX_COLUMNS, [
                    [i.provenance.provenance_id for i in items], [run_id] * n, [self.unit_id] * n,
                    [self.system.value] * n, [i.student_id for i in items], payloads, ["PENDING"] * n, [now] * n])
            self._send(run_id, items, payloads, body)
        return True

    def replay(self, region: str, batch_size: int) -> int:
        """Send again the outbox rows of this system and region whose answer was never recorded (a unit that
        died, a batch that got no answer), with their own provenance ids. Returns how many were sent."""
        with session_scope(self.db) as session:
            pending = [(HubResultItem.model_validate_json(r[0]), r[1], r[0])
                       for r in session.execute(replay_query(self.system, region))]
        for batch in chunks(pending, batch_size):
            by_run: dict[str, list[tuple[HubResultItem, str]]] = {}
            for item, run_id, payload in batch:
                by_run.setdefault(run_id, []).append((item, payload))
            for run_id, sent in by_run.items():
                self._send(run_id, [i for i, _ in sent], [p for _, p in sent])
        if pending:
            log.info("unit %s: %d outbox item(s) sent again after an interruption", self.unit_id, len(pending))
        return len(pending)

    def _send(self, run_id: str, items: list[HubResultItem] | list[HubResultItem | SentItem], payloads: list[str],
              body: bytes | None = None) -> None:
        """POST ``items`` (``payloads``: each one's JSON, as the outbox holds it: the batch's body is made of them
        rather than serialised again; ``body``: that body when the caller made it) and record the answer."""
        try:
            answer = self.client.post_results_json(body if body is not None else _body(run_id, payloads))
        except ClientError as exc:
            with session_scope(self.db) as session:
                prov_repo.settle_outbox(session, [{"b_id": i.provenance.provenance_id, "status": "FAILED",
                                                   "detail": str(exc)[:300], "sent_at": utcnow()} for i in items])
            raise
        written_at = utcnow()
        settle: list[dict[str, object]] = []
        # the provenance rows written, a column at a time (``PROVENANCE_COLUMNS``), and each one's record hash
        columns: list[list[Any]] = [[] for _ in PROVENANCE_COLUMNS]
        (c_id, c_pid, c_run, c_target, c_record, c_field, c_value, c_source, c_source_record, c_version, c_seq,
         c_retrieved, c_matched, c_written) = columns
        hashes: list[str | None] = []
        held_ids: dict[str, list[tuple[HubResultItem | SentItem, str]]] = {}  # provenance id held -> (item, field)
        texts: dict[tuple[type, FieldValue], str] = {}
        holds: dict[str, dict[str, FieldValue]] = {}
        ids = uuid7_texts(sum(len(r.fields_written) for r in answer.results
                              if r.status is ResultStatus.APPLIED))  # the provenance rows' ids
        target = self.system.value
        for item, result in zip(items, answer.results, strict=True):
            p = item.provenance
            pid = p.provenance_id
            settle.append({"b_id": pid, "status": result.status.value, "detail": result.detail,
                           "sent_at": written_at})
            values = _values(self.system, item)
            if result.status in (ResultStatus.APPLIED, ResultStatus.UNCHANGED):  # the gateway holds them now
                holds[item.student_id] = {**holds.get(item.student_id, {}), **values}
            elif result.status in (ResultStatus.STALE, ResultStatus.NOT_FOUND):  # it knows better: read again
                self.tally.stale.add(item.student_id)
            else:
                self.tally.rejected.append(f"{self.system.value} {result.status.value}: {result.detail or ''}"[:200])
            if result.status is ResultStatus.APPLIED and (fields := result.fields_written):
                n, start = len(fields), len(c_id)
                c_id.extend(ids[start:start + n])
                c_pid.extend([pid] * n)
                c_run.extend([p.sync_run_id] * n)
                c_target.extend([target] * n)
                c_record.extend([item.student_id] * n)
                c_field.extend(fields)
                c_value.extend([_json(values.get(name), texts) for name in fields])
                c_source.extend([p.source_system] * n)
                c_source_record.extend([p.source_record] * n)
                c_version.extend([p.source_version] * n)
                c_seq.extend([p.observed_seq] * n)
                c_retrieved.extend([p.retrieved_at] * n)
                c_matched.extend([p.matched_by.value] * n)
                c_written.extend([written_at] * n)
                hashes.extend(_stamped(item, fields))
            for name, held in (getattr(result, "held", None) or {}).items():
                if held != pid or result.status is not ResultStatus.APPLIED:
                    held_ids.setdefault(held, []).append((item, name))
        written = len(c_id)
        # the ledger's record of each row: the hash stamped on its item, else made from the row
        records = [(c_id[n], bytes.fromhex(h) if h else ledger.row_hash(
            {name: column[n] for name, column in zip(PROVENANCE_COLUMNS, columns, strict=True)}))
            for n, h in enumerate(hashes)]
        with session_scope(self.db) as session:
            prov_repo.settle_outbox(session, settle)
            prov_repo.add_provenance_columns(session, PROVENANCE_COLUMNS, columns)
            rebuilt, rebuilt_hashes = self._reconcile(session, held_ids, {i.provenance.provenance_id for i in items})
            mirror.holds(session, self.system, holds)
            if self.tally.stale:
                mirror.ask_refetch(session, self.system, self.tally.stale, written_at)
            # last: the ledger's lock until the commit
            records.extend((str(row["id"]), bytes.fromhex(h) if h else ledger.row_hash(row))
                           for row, h in zip(rebuilt, rebuilt_hashes, strict=True))
            ledger.append_provenance_records(session, records)
            uncovered = ledger.appended_pending(session) if written or rebuilt else 0
        self.tally.reconciled += len(rebuilt)
        self.tally.values_written += written
        self.tally.provenance_records += written
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
