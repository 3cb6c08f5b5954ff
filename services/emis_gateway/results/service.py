"""Rules of the results domain: apply a batch of hub results, each item all-or-nothing."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from services.emis_gateway.base import utcnow
from services.emis_gateway.results import repository
from services.emis_gateway.results.models import FieldProvenanceRow
from services.emis_gateway.siswa import repository as siswa_repository
from services.emis_gateway.siswa.models import SiswaRow
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
_MAX_BIGINT = 2**63 - 1


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


# What each writable field accepts (the column's type and size).
VALUE_RULES: dict[str, Callable[[FieldValue], str | None]] = {
    "penerima_pkh": _optional_bool,
    "periode_pkh": _optional_text(40),
    "no_kks": _optional_text(40),
}
assert set(VALUE_RULES) == set(EMIS_HUB_FIELDS)


def _problems(item: HubResultItem) -> list[str]:
    out = [f"values.{field}: {problem}" for field, value in item.values.items()
           if field in VALUE_RULES and (problem := VALUE_RULES[field](value))]
    for name in ("source_version", "observed_seq"):
        if getattr(item.provenance, name) > _MAX_BIGINT:
            out.append(f"provenance.{name}: must be at most {_MAX_BIGINT}")
    return out


def to_field_provenance(row: FieldProvenanceRow) -> FieldProvenance:
    return FieldProvenance(
        provenance_id=row.provenance_id, sync_run_id=row.sync_run_id, source_system=row.source_system,
        source_record=row.source_record, source_version=row.source_version, observed_seq=row.observed_seq,
        retrieved_at=row.retrieved_at, matched_by=MatchKey(row.matched_by), field=row.field,
        value=json.loads(row.value), written_at=row.written_at,
    )


def apply_batch(session: Session, batch: HubResultBatch, client: str = "?") -> HubResultBatchResponse:
    """Apply every item in request order; each in its own SAVEPOINT, so one bad item undoes only itself."""
    students = siswa_repository.get_many(session, [item.student_id for item in batch.items])
    latest = repository.latest_provenance(session, list(students))
    observed: dict[str, dict[str, int]] = {
        sid: {p.field: p.observed_seq for p in rows} for sid, rows in latest.items()}
    now = utcnow()
    results = [_apply_item(session, item, students.get(item.student_id), observed.setdefault(item.student_id, {}),
                           now) for item in batch.items]
    counts = Counter(r.status.value for r in results)
    log.info("hub results from %s, run %s: %d items %s", client, batch.sync_run_id, len(results), dict(counts))
    return HubResultBatchResponse(results=results)


def _apply_item(session: Session, item: HubResultItem, student: SiswaRow | None, observed_seq: dict[str, int],
                now: datetime) -> HubResultItemStatus:
    sid = item.student_id
    if student is None:
        return HubResultItemStatus(student_id=sid, status=ResultStatus.NOT_FOUND, detail="no student with this id")
    current: dict[str, FieldValue] = {f: getattr(student, f) for f in TRACKED_FIELDS}
    decision = decide(item, current, observed_seq, EMIS_HUB_FIELDS, OUTCOME_FIELD, DETAIL_FIELD)
    if decision.status is ResultStatus.REJECTED:
        return HubResultItemStatus(student_id=sid, status=decision.status, detail=decision.detail)
    problems = _problems(item)
    if problems:
        return HubResultItemStatus(student_id=sid, status=ResultStatus.REJECTED, detail="; ".join(problems))
    if decision.status is not ResultStatus.APPLIED:
        return HubResultItemStatus(student_id=sid, status=decision.status, detail=decision.detail)
    try:
        with session.begin_nested():
            repository.write_values(session, student, decision.changes, item.provenance, now)
    except (IntegrityError, DataError) as exc:
        log.warning("result for one student could not be stored: %s", type(exc).__name__)
        return HubResultItemStatus(student_id=sid, status=ResultStatus.REJECTED,
                                   detail=f"could not be stored: {type(exc).__name__}")
    for field in decision.changes:
        observed_seq[field] = item.provenance.observed_seq
    return HubResultItemStatus(student_id=sid, status=ResultStatus.APPLIED, fields_written=list(decision.changes))
