"""Rules of the results domain: apply a batch of hub results, each item all-or-nothing.

The decision (writable fields, STALE, UNCHANGED) is ``shared.inbound.decide``, the rule both gateways
share. This module adds what is EMIS's own: the value types of the PKH columns, the outcome stored as
``status_pkh``/``keterangan_pkh``, and the observation marks that keep a delayed older result from
overwriting a value that a newer observation confirmed.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from services.emis_gateway.base import as_utc, storable, utcnow
from services.emis_gateway.results import repository
from services.emis_gateway.results.models import FieldProvenanceRow
from services.emis_gateway.siswa import repository as siswa_repository
from shared.contracts.common import (
    FieldProvenance,
    HubResultBatch,
    HubResultBatchResponse,
    HubResultItem,
    HubResultItemStatus,
    MatchKey,
    ResultStatus,
)
from shared.contracts.emis import EMIS_HUB_FIELDS
from shared.inbound import FieldValue, decide

log = logging.getLogger("emis_gateway.results")

OUTCOME_FIELD = "status_pkh"
DETAIL_FIELD = "keterangan_pkh"
# Every column the hub writes, the outcome and its detail included.
TRACKED_FIELDS = (*EMIS_HUB_FIELDS, OUTCOME_FIELD, DETAIL_FIELD)
MAX_BIGINT = 2**63 - 1


def _optional_bool(value: FieldValue) -> str | None:
    return None if value is None or isinstance(value, bool) else "must be true, false or null"


def _optional_text(max_length: int) -> Callable[[FieldValue], str | None]:
    def check(value: FieldValue) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return "must be a string or null"
        if len(value) > max_length:
            return f"must be at most {max_length} characters"
        return None

    return check


# What each writable field accepts (the column's type and size); `1` is not `true`.
VALUE_RULES: dict[str, Callable[[FieldValue], str | None]] = {
    "penerima_pkh": _optional_bool,
    "periode_pkh": _optional_text(40),
    "no_kks": _optional_text(40),
}
assert set(VALUE_RULES) == set(EMIS_HUB_FIELDS)


def _texts(item: HubResultItem) -> list[tuple[str, str]]:
    p = item.provenance
    out = [("provenance.provenance_id", p.provenance_id), ("provenance.sync_run_id", p.sync_run_id),
           ("provenance.source_system", p.source_system), ("provenance.source_record", p.source_record)]
    if item.outcome_detail is not None:
        out.append(("outcome_detail", item.outcome_detail))
    return out + [(f"values.{k}", v) for k, v in item.values.items() if isinstance(v, str)]


def problems_of(item: HubResultItem) -> list[str]:
    """Why an item cannot be stored whatever the record holds (empty when it can)."""
    problems: list[str] = []
    if not storable(item.student_id):
        problems.append("student_id: contains a NUL character or invalid Unicode")
    unknown = sorted(set(item.values) - set(EMIS_HUB_FIELDS))
    if unknown:
        problems.append(f"fields not writable by the hub: {', '.join(unknown)}")
    problems += [f"values.{field}: {problem}" for field, value in item.values.items()
                 if field in VALUE_RULES and (problem := VALUE_RULES[field](value))]
    problems += [f"{where}: contains a NUL character or invalid Unicode"
                 for where, text in _texts(item) if not storable(text)]
    for name in ("source_version", "observed_seq"):
        if getattr(item.provenance, name) > MAX_BIGINT:
            problems.append(f"provenance.{name}: must be at most {MAX_BIGINT}")
    if as_utc(item.provenance.retrieved_at) is None:
        problems.append("provenance.retrieved_at: needs a time zone and a year that UTC can represent")
    return problems


def to_field_provenance(row: FieldProvenanceRow) -> FieldProvenance:
    return FieldProvenance(
        provenance_id=row.provenance_id, sync_run_id=row.sync_run_id, source_system=row.source_system,
        source_record=row.source_record, source_version=row.source_version, observed_seq=row.observed_seq,
        retrieved_at=row.retrieved_at, matched_by=MatchKey(row.matched_by), field=row.field,
        value=json.loads(row.value), written_at=row.written_at,
    )


class _Unattested:
    """Stands for the value of a field the hub never wrote: equal to nothing the hub sends, so the first
    time the hub sends a value the record already holds (say no_kks = null), it is recorded with its
    provenance. The hub sends values that lack its provenance for exactly that reason."""

    def __repr__(self) -> str:
        return "<unattested>"


_UNATTESTED = _Unattested()


def apply_batch(session: Session, batch: HubResultBatch, client: str = "?") -> HubResultBatchResponse:
    """Apply every item in request order, each in its own SAVEPOINT: one bad item undoes only itself, and a
    later item for the same student sees what an earlier one wrote. The students' rows stay locked
    (PostgreSQL) until the batch commits, so concurrent batches cannot interleave on one student."""
    ids = [item.student_id for item in batch.items if storable(item.student_id)]
    values = siswa_repository.lock_hub_values(session, ids, TRACKED_FIELDS)
    states = repository.hub_states(session, list(values))
    now = utcnow()
    results = [_apply_item(session, item, values.get(item.student_id), states.get(item.student_id), now)
               for item in batch.items]
    counts = Counter(r.status.value for r in results)
    log.info("hub results from %s, run %s: %d items %s", client, batch.sync_run_id, len(results), dict(counts))
    return HubResultBatchResponse(results=results)


def _status(item: HubResultItem, status: ResultStatus, fields: list[str] | None = None,
            detail: str | None = None) -> HubResultItemStatus:
    return HubResultItemStatus(student_id=item.student_id, status=status, fields_written=fields or [],
                               detail=detail)


def _apply_item(session: Session, item: HubResultItem, held: dict[str, FieldValue] | None,
                state: repository.HubState | None, now: datetime) -> HubResultItemStatus:
    """``held``: the student's hub-writable values (None: no such student); ``state``: what the hub told it
    so far. Both are updated once the item is stored, for later items of the batch."""
    problems = problems_of(item)
    if problems:
        return _status(item, ResultStatus.REJECTED, detail="; ".join(problems))
    if held is None or state is None:
        return _status(item, ResultStatus.NOT_FOUND, detail="no student with this siswa_id")
    current = {name: held[name] if name in state.attested else _UNATTESTED for name in TRACKED_FIELDS}
    decision = decide(item, current, state.seqs, EMIS_HUB_FIELDS, OUTCOME_FIELD,  # type: ignore[arg-type]
                      DETAIL_FIELD)
    if decision.status not in (ResultStatus.APPLIED, ResultStatus.UNCHANGED):
        return _status(item, decision.status, detail=decision.detail)
    sid, prov = item.student_id, item.provenance
    touched = [*item.values, *((OUTCOME_FIELD, DETAIL_FIELD) if item.outcome is not None else ())]
    try:
        with session.begin_nested():
            repository.raise_observations(session, sid, touched, state.seqs, state.marked, prov, now)
            if decision.status is ResultStatus.APPLIED:
                repository.record_changes(session, sid, held, decision.changes, prov, now)
                siswa_repository.set_hub_values(session, sid, decision.changes, now)
    except (IntegrityError, DataError) as exc:
        log.warning("result for one student refused by the database: %s", type(exc).__name__)
        return _status(item, ResultStatus.REJECTED, detail=f"refused by the database: {type(exc).__name__}")
    held.update(decision.changes)
    state.attested.update(decision.changes)
    state.marked.update(touched)
    for name in touched:
        state.seqs[name] = max(state.seqs.get(name, -1), prov.observed_seq)
    return _status(item, decision.status, list(decision.changes), decision.detail)
