"""Rules of the results domain: apply a batch of hub results, each item all-or-nothing.

The decision (writable fields, STALE, UNCHANGED) is ``shared.inbound.decide``, the rule both gateways
share. This module adds what is EMIS's own: the value types of the PKH columns, the outcome stored as
``status_pkh``/``keterangan_pkh``, and the observation marks that keep a delayed older result from
overwriting a value that a newer observation confirmed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from services.emis_gateway.base import storable, utcnow
from services.emis_gateway.results import repository
from services.emis_gateway.sinkron import repository as sinkron_repository
from services.emis_gateway.siswa import repository as siswa_repository
from shared.contracts.common import (
    HubResultBatch,
    HubResultBatchResponse,
    HubResultItem,
    HubResultItemStatus,
    ResultStatus,
)
from shared.contracts.emis import EMIS_HUB_FIELDS
from shared.errors import InvalidInput
from shared.inbound import UNATTESTED, Decision, FieldValue, decide, storage_problems

log = logging.getLogger("emis_gateway.results")

OUTCOME_FIELD = "status_pkh"
DETAIL_FIELD = "keterangan_pkh"
# Every column the hub writes, the outcome and its detail included.
TRACKED_FIELDS = (*EMIS_HUB_FIELDS, OUTCOME_FIELD, DETAIL_FIELD)


def _optional_bool(value: FieldValue) -> str | None:
    return None if value is None or isinstance(value, bool) else "bool_type: must be true, false or null"


def _optional_text(max_length: int) -> Callable[[FieldValue], str | None]:
    def check(value: FieldValue) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return "string_type: must be a string or null"
        if len(value) > max_length:
            return f"string_too_long: must be at most {max_length} characters"
        return None

    return check


# What each writable field accepts (the column's type and size); `1` is not `true`.
VALUE_RULES: dict[str, Callable[[FieldValue], str | None]] = {
    "penerima_pkh": _optional_bool,
    "periode_pkh": _optional_text(40),
    "no_kks": _optional_text(40),
}
assert set(VALUE_RULES) == set(EMIS_HUB_FIELDS)


def problems_of(item: HubResultItem) -> list[str]:
    """Why an item cannot be stored whatever the record holds (empty when it can)."""
    return storage_problems(item, EMIS_HUB_FIELDS) + [
        f"values.{field}: {problem}" for field, value in item.values.items()
        if field in VALUE_RULES and (problem := VALUE_RULES[field](value))]


def apply_batch(session: Session, batch: HubResultBatch, client: str = "?",
                digest: str | None = None) -> HubResultBatchResponse:
    """Apply every item in request order, each all-or-nothing; a later item for the same student sees what
    an earlier one wrote. The batch is read in a few statements (its students' rows, locked on PostgreSQL
    in id order until the batch commits, their hub state and observation marks), every item is decided in
    memory, and the effects are written with one bulk statement per table. ``digest`` (of the request
    body) tells a repeated batch, counted once in the sync log. If the bulk write fails, it is
    undone and the batch is applied again item by item, each in its own SAVEPOINT, so one item the
    database refuses undoes only itself."""
    if not storable(batch.sync_run_id):
        raise InvalidInput.field("sync_run_id", "characters", "sync_run_id contains a NUL character or invalid "
                                 "Unicode")
    ids = [item.student_id for item in batch.items if storable(item.student_id)]
    values, nsm_of = siswa_repository.lock_hub_values(session, ids, TRACKED_FIELDS)
    states = repository.hub_states(session, list(values))
    stored = _stored_marks(states)
    now = utcnow()
    writes = repository.Writes()
    results = []
    for item in batch.items:
        state = states.get(item.student_id)
        status, decision = _decide(item, values.get(item.student_id), state)
        if decision is not None:
            _absorb(writes, item, decision, values[item.student_id], states[item.student_id])
        _name_held(status, item, state)
        results.append(status)
    if writes:
        try:
            with session.begin_nested():
                repository.write(session, writes, stored, now)
        except (IntegrityError, DataError) as exc:
            log.warning("bulk write of a result batch refused by the database (%s); applying item by item",
                        type(exc).__name__)
            results = _apply_one_by_one(session, batch, ids, now)
    per_madrasah = _per_madrasah(results, nsm_of)
    if per_madrasah and sinkron_repository.first_time(session, batch.sync_run_id, digest or _digest(batch), now):
        sinkron_repository.add_counts(session, batch.sync_run_id, per_madrasah, now)
    counts = Counter(r.status.value for r in results)
    log.info("hub results from %s, run %s: %d items %s", client, batch.sync_run_id, len(results), dict(counts))
    return HubResultBatchResponse(results=results)


_COUNTER = {ResultStatus.APPLIED: "applied", ResultStatus.UNCHANGED: "unchanged", ResultStatus.STALE: "stale",
            ResultStatus.REJECTED: "rejected"}


def _digest(batch: HubResultBatch) -> str:
    """The batch's content (a lone surrogate in a rejected item must not break it)."""
    return hashlib.sha256(repr(batch.model_dump()).encode("utf-8", "surrogatepass")).hexdigest()


def _per_madrasah(results: list[HubResultItemStatus], nsm_of: dict[str, str]) -> dict[str, Counter[str]]:
    """The batch's counts per madrasah (students that exist only) for the sync log."""
    out: dict[str, Counter[str]] = {}
    for r in results:
        nsm = nsm_of.get(r.student_id)
        if nsm is None:
            continue
        c = out.setdefault(nsm, Counter())
        c["items"] += 1
        if r.status in _COUNTER:
            c[_COUNTER[r.status]] += 1
        c["values_written"] += len(r.fields_written)
    return out


def _stored_marks(states: dict[str, repository.HubState]) -> dict[tuple[str, str], int]:
    return {(sid, name): seq for sid, state in states.items() for name, seq in state.marks.items()}


def _apply_one_by_one(session: Session, batch: HubResultBatch, ids: list[str],
                      now: datetime) -> list[HubResultItemStatus]:
    """The fallback path: the same decisions, each item written in its own SAVEPOINT."""
    values, _ = siswa_repository.lock_hub_values(session, ids, TRACKED_FIELDS)
    states = repository.hub_states(session, list(values))
    stored = _stored_marks(states)
    results = []
    for item in batch.items:
        status, decision = _decide(item, values.get(item.student_id), states.get(item.student_id))
        if decision is not None:
            held, state = values[item.student_id], states[item.student_id]
            one = repository.Writes()
            _absorb(one, item, decision, dict(held), _copy(state))
            try:
                with session.begin_nested():
                    repository.write(session, one, stored, now)
            except (IntegrityError, DataError) as exc:
                log.warning("result for one student refused by the database: %s", type(exc).__name__)
                results.append(_status(item, ResultStatus.REJECTED,
                                       detail=f"refused by the database: {type(exc).__name__}"))
                continue
            _absorb(repository.Writes(), item, decision, held, state)
            stored.update({key: seq for key, (seq, _) in one.marks.items()})
        _name_held(status, item, states.get(item.student_id))
        results.append(status)
    return results


def _copy(state: repository.HubState) -> repository.HubState:
    return repository.HubState(dict(state.seqs), dict(state.marks), set(state.attested), dict(state.held_ids))


def _touched(item: HubResultItem) -> list[str]:
    """The fields an item names: its values, and the outcome and its detail when it carries an outcome."""
    return list(dict.fromkeys([*item.values, *((OUTCOME_FIELD, DETAIL_FIELD) if item.outcome is not None else ())]))


_HOLDING = (ResultStatus.APPLIED, ResultStatus.UNCHANGED, ResultStatus.STALE)


def _name_held(status: HubResultItemStatus, item: HubResultItem, state: repository.HubState | None) -> None:
    """``status.held``: the hub provenance id of each field the item names, as the record holds it after the
    item (``state`` already took the item's writes). Left empty for items not applied to a record."""
    if state is not None and status.status in _HOLDING:
        status.held = {name: state.held_ids[name] for name in _touched(item) if name in state.held_ids}


def _status(item: HubResultItem, status: ResultStatus, fields: list[str] | None = None,
            detail: str | None = None) -> HubResultItemStatus:
    return HubResultItemStatus(student_id=item.student_id, status=status, fields_written=fields or [],
                               detail=detail)


def _decide(item: HubResultItem, held: dict[str, FieldValue] | None,
            state: repository.HubState | None) -> tuple[HubResultItemStatus, Decision | None]:
    """The item's answer, and the decision to write (None when nothing is written: rejected, not found,
    stale). ``held``: the student's hub-writable values (None: no such student); ``state``: what the hub
    told it so far."""
    problems = problems_of(item)
    if problems:
        return _status(item, ResultStatus.REJECTED, detail="; ".join(problems)), None
    if held is None or state is None:
        return _status(item, ResultStatus.NOT_FOUND, detail="no student with this siswa_id"), None
    current = {name: held[name] if name in state.attested else UNATTESTED for name in TRACKED_FIELDS}
    decision = decide(item, current, state.seqs, EMIS_HUB_FIELDS, OUTCOME_FIELD,  # type: ignore[arg-type]
                      DETAIL_FIELD)
    if decision.status not in (ResultStatus.APPLIED, ResultStatus.UNCHANGED):
        return _status(item, decision.status, detail=decision.detail), None
    return _status(item, decision.status, list(decision.changes), decision.detail), decision


def _absorb(writes: repository.Writes, item: HubResultItem, decision: Decision, held: dict[str, FieldValue],
            state: repository.HubState) -> None:
    """Add the item's effects to ``writes`` and to the in-memory view (``held``, ``state``) that later
    items of the batch are decided against."""
    sid, prov = item.student_id, item.provenance
    seq = prov.observed_seq
    for name in _touched(item):
        # A changed field's sequence is in its provenance row; a mark is only needed for a field the item
        # confirmed without changing it, at a sequence higher than the record knows (so a repeated batch
        # writes nothing at all).
        if name not in decision.changes and seq > state.seqs.get(name, -1):
            state.marks[name] = seq
            writes.marks[(sid, name)] = (seq, prov.provenance_id)
        state.seqs[name] = max(state.seqs.get(name, -1), seq)
    if decision.changes:
        writes.changes.extend(repository.Change(sid, name, held.get(name), value, prov)
                              for name, value in decision.changes.items())
        writes.values.setdefault(sid, {}).update(decision.changes)
        held.update(decision.changes)
        state.attested.update(decision.changes)
        state.held_ids.update(dict.fromkeys(decision.changes, prov.provenance_id))
