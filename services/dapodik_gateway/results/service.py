"""Applying the hub's result batch: each item all-or-nothing, in request order, with provenance and history.

The decision (writable fields, STALE, UNCHANGED) is ``shared.inbound.decide``, the rule both gateways
share. This module adds what is Dapodik's own: the value types of the record's columns, the outcome
stored as ``status_padan``/``keterangan_padan``, and the observation marks that keep a delayed older
result from overwriting a value a newer observation confirmed.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import ConfigDict, TypeAdapter, ValidationError
from sqlmodel import Session

from services.dapodik_gateway.kesejahteraan import rules as kesejahteraan_rules
from services.dapodik_gateway.kesejahteraan import service as kesejahteraan_service
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.results import repository
from services.dapodik_gateway.sinkronisasi import service as sync_service
from shared.contracts.common import (
    HubResultBatch,
    HubResultBatchResponse,
    HubResultItem,
    HubResultItemStatus,
)
from shared.contracts.common import ResultStatus as S
from shared.contracts.dapodik import DAPODIK_HUB_FIELDS, PesertaDidikRecord
from shared.inbound import UNATTESTED, FieldValue, decide, storage_problems

log = logging.getLogger("dapodik_gateway.results")

# How table_sync_log counts an item of a known student (APPLIED: n_create or n_update).
_LOG_COUNT = {S.APPLIED: "", S.UNCHANGED: "n_unchanged", S.STALE: "n_konflik", S.REJECTED: "n_rejected"}

OUTCOME_FIELD = "status_padan"
DETAIL_FIELD = "keterangan_padan"
TRACKED_FIELDS = (*DAPODIK_HUB_FIELDS, OUTCOME_FIELD, DETAIL_FIELD)
# Read with them: the other fields the programme rows (kesejahteraan_pd) are derived from.
LOADED_FIELDS = (*TRACKED_FIELDS, *(f for f in kesejahteraan_rules.FIELDS if f not in TRACKED_FIELDS))
_UUID = re.compile(r"^[0-9a-f-]{36}$")


def _adapter(name: str) -> TypeAdapter[Any]:
    """The column's type and limits, taken from the contract (strict: ``1`` is not ``true``)."""
    info = PesertaDidikRecord.model_fields[name]
    tp: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(tp, config=ConfigDict(strict=True))


_VALUE_TYPES = {name: _adapter(name) for name in DAPODIK_HUB_FIELDS}
_HUB_FIELDS = frozenset(DAPODIK_HUB_FIELDS)


_CHECKED: dict[tuple[str, type, FieldValue], str | None] = {}  # values repeat batch after batch (true, null)


def _value_problem(name: str, value: FieldValue) -> str | None:
    """Why ``value`` does not fit column ``name`` (None when it does); remembered for the values seen most."""
    key = (name, type(value), value)  # the type too: True == 1, but 1 is not a boolean
    try:
        return _CHECKED[key]
    except KeyError:
        pass
    try:
        _VALUE_TYPES[name].validate_python(value)
        problem = None
    except ValidationError as exc:
        err = exc.errors()[0]
        problem = f"values.{name}: {err['type']}: {err['msg']}"
    if len(_CHECKED) < 10_000:
        _CHECKED[key] = problem
    return problem


def problems_of(item: HubResultItem) -> list[str]:
    """Why an item cannot be stored, whatever the record holds (empty when it can)."""
    return storage_problems(item, _HUB_FIELDS) + [
        problem for name, value in item.values.items()
        if name in _VALUE_TYPES and (problem := _value_problem(name, value))]


def _result(item: HubResultItem, status: S, fields: list[str] | None = None, detail: str | None = None,
            held: dict[str, str] | None = None) -> HubResultItemStatus:
    return HubResultItemStatus.model_construct(student_id=item.student_id, status=status,
                                               fields_written=fields or [], detail=detail, held=held or {})


def _held(state: repository.HubState, touched: list[str]) -> dict[str, str]:
    """The hub provenance id of each field the item names, as the record holds it now."""
    return {name: state.held_ids[name] for name in touched if name in state.held_ids}


@dataclass
class _Student:
    """One student of the batch as the items see it: its values and the hub's state, updated item by item."""

    sekolah_id: str
    held: dict[str, FieldValue]
    state: repository.HubState
    changed: bool = False

    def copy(self) -> _Student:
        return _Student(self.sekolah_id, dict(self.held), self.state.copy(), self.changed)


def _decide(item: HubResultItem, student: _Student, writes: repository.Writes, client: str, now: datetime
            ) -> tuple[HubResultItemStatus, bool]:
    """Decide one item against ``student`` (updated in place) and add what it writes to ``writes``; whether
    it gave the student its first hub values (no field it writes had any: ``n_create`` in the sync log)."""
    state, held = student.state, student.held
    touched = _touched(item)
    # A value the hub never wrote (e.g. the record's default penerima_kps=False) is not yet the hub's: the
    # first time the hub sends it, it is recorded with provenance, though not changed. (``decide`` reads the
    # fields the item touches; a field outside TRACKED_FIELDS rejects the item before any is read.)
    attested = state.attested
    current = {name: held[name] if name in attested else UNATTESTED for name in touched if name in held}
    decision = decide(item, current, state.seqs, DAPODIK_HUB_FIELDS, OUTCOME_FIELD,  # type: ignore[arg-type]
                      DETAIL_FIELD)
    if decision.status not in (S.APPLIED, S.UNCHANGED):
        held_ids = _held(state, touched) if decision.status is S.STALE else None
        return _result(item, decision.status, detail=decision.detail, held=held_ids), False
    first = bool(decision.changes) and not (state.attested & set(decision.changes))
    pid, prov = item.student_id, item.provenance
    for name in touched:
        if name not in decision.changes:
            writes.confirm(state, pid, name, prov.observed_seq, prov.provenance_id, now)
    source = {
        "peserta_didik_id": pid, "provenance_id": prov.provenance_id, "sync_run_id": prov.sync_run_id,
        "source_system": prov.source_system, "source_record": prov.source_record,
        "source_version": prov.source_version, "observed_seq": prov.observed_seq,
        "retrieved_at": prov.retrieved_at, "matched_by": prov.matched_by.value, "written_at": now,
    }
    for name, new in decision.changes.items():
        state.seqs[name] = max(state.seqs.get(name, -1), prov.observed_seq)
        old = held[name]
        writes.provenance.append({**source, "field": name, "value": repository.to_json(new),
                                  "record_hash": prov.record_hashes.get(name)})
        # A first attestation of the value the record already held changes no value: no history row.
        if not (old == new and type(old) is type(new)):
            writes.history.append({
                "peserta_didik_id": pid, "field": name, "old_value": repository.to_json(old),
                "new_value": repository.to_json(new), "changed_at": now, "source": "hub", "changed_by": client,
                "provenance_id": prov.provenance_id,
            })
            writes.history_prov.append(len(writes.provenance) - 1)
        held[name] = new
        state.attested.add(name)
        state.held_ids[name] = prov.provenance_id
        student.changed = True
    return _result(item, decision.status, list(decision.changes), decision.detail, _held(state, touched)), first


def _store(session: Session, students: dict[str, _Student], writes: repository.Writes, now: datetime) -> None:
    """The batch's writes, and the programme rows (kesejahteraan_pd) of the students whose values changed."""
    repository.write(session, writes)
    changed = {pid: s.held for pid, s in students.items() if s.changed}
    pd_repository.set_hub_values(session, changed, TRACKED_FIELDS, now)
    sources: dict[str, dict[str, str]] = {}
    for row in writes.provenance:
        if row["field"] in kesejahteraan_rules.FIELDS:
            sources.setdefault(row["peserta_didik_id"], {})[row["field"]] = row["source_system"]
    # Only students whose programme fields were written (not those whose outcome alone changed).
    kesejahteraan_service.reconcile(session.connection(), {pid: changed[pid] for pid in sources}, sources, now)


def _precheck(item: HubResultItem, found: dict[str, _Student]) -> HubResultItemStatus | None:
    """The answer for an item that is decided before looking at the record's values, or None."""
    problems = problems_of(item)
    if problems:
        return _result(item, S.REJECTED, detail="; ".join(problems))
    if not _UUID.match(item.student_id):
        return _result(item, S.NOT_FOUND, detail="not a peserta_didik_id (UUID)")
    if item.student_id not in found:
        return _result(item, S.NOT_FOUND, detail="no such peserta_didik")
    return None


def _touched(item: HubResultItem) -> list[str]:
    """The fields an item names: its values, and the outcome and its detail when it carries an outcome."""
    return [*item.values, *((OUTCOME_FIELD, DETAIL_FIELD) if item.outcome is not None else ())]


def _load(session: Session, ids: list[str], fields: list[str]) -> dict[str, _Student]:
    """The students' values, and the hub's state of ``fields`` (the only ones the batch's items touch, so
    the only ones their decisions read)."""
    rows = pd_repository.lock_hub_values(session, ids, LOADED_FIELDS)
    states = repository.hub_states(session, list(rows), fields)
    return {pid: _Student(sekolah_id, held, states[pid]) for pid, (sekolah_id, held) in rows.items()}


def apply_batch(session: Session, batch: HubResultBatch, client: str) -> HubResultBatchResponse:
    """Apply every item, in request order (a later item for a student sees what an earlier one wrote).

    Set-wise: the batch's students are locked and read in a few queries, every item is decided in memory
    (``shared.inbound.decide``), and the writes go out as one multi-row statement per table inside a
    SAVEPOINT. Should the database refuse that (a value no check foresaw), the SAVEPOINT is rolled back
    and the items are applied again one by one, each in its own SAVEPOINT: all or nothing per record, a
    refused item is REJECTED and the others stand."""
    now = datetime.now(UTC)
    ids = [item.student_id for item in batch.items if _UUID.match(item.student_id)]
    fields = sorted({name for item in batch.items for name in _touched(item) if name in TRACKED_FIELDS})
    students = _load(session, ids, fields)
    schools = {pid: s.sekolah_id for pid, s in students.items()}
    pre = [_precheck(item, students) for item in batch.items]
    writes = repository.Writes()
    decided = [(p, False) if p else _decide(item, students[item.student_id], writes, client, now)
               for item, p in zip(batch.items, pre, strict=True)]
    try:
        with session.begin_nested():
            _store(session, students, writes, now)
    except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
        log.warning("bulk write of a hub batch refused by storage (%s); applying item by item", type(exc).__name__)
        students = _load(session, ids, fields)  # as they were before the rolled-back SAVEPOINT
        decided = [(p, False) if p else _apply_one(session, item, students, client, now)
                   for item, p in zip(batch.items, pre, strict=True)]
    results = [r for r, _ in decided]
    sync_service.record_batch(session, batch.sync_run_id, client, now, datetime.now(UTC), [
        (schools[item.student_id], _LOG_COUNT[r.status] if r.status is not S.APPLIED
         else sync_service.CREATE if first else sync_service.UPDATE)
        for item, (r, first) in zip(batch.items, decided, strict=True)
        if item.student_id in schools and r.status in _LOG_COUNT])
    counts = Counter(r.status.value for r in results)
    log.info("hub batch %r from %s: %d items %s", batch.sync_run_id, client, len(results), dict(counts))
    return HubResultBatchResponse(results=results)


def _apply_one(session: Session, item: HubResultItem, students: dict[str, _Student], client: str, now: datetime
               ) -> tuple[HubResultItemStatus, bool]:
    """The fallback: one item in its own SAVEPOINT; ``students`` takes its effect only once it is stored."""
    student = students[item.student_id].copy()
    student.changed = False
    writes = repository.Writes()
    result, first = _decide(item, student, writes, client, now)
    try:
        with session.begin_nested():
            _store(session, {item.student_id: student}, writes, now)
    except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
        log.warning("item for %s refused by storage: %s", item.student_id, type(exc).__name__)
        return _result(item, S.REJECTED, detail="the database refused these values"), False
    students[item.student_id] = student
    return result, first
