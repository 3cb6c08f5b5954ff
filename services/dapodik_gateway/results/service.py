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
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import ConfigDict, TypeAdapter, ValidationError
from sqlmodel import Session

from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.results import repository
from shared.contracts.common import HubResultBatch, HubResultBatchResponse, HubResultItem, HubResultItemStatus
from shared.contracts.common import ResultStatus as S
from shared.contracts.dapodik import DAPODIK_HUB_FIELDS, PesertaDidikRecord
from shared.inbound import decide

log = logging.getLogger("dapodik_gateway.results")

OUTCOME_FIELD = "status_padan"
DETAIL_FIELD = "keterangan_padan"
TRACKED_FIELDS = (*DAPODIK_HUB_FIELDS, OUTCOME_FIELD, DETAIL_FIELD)
MAX_BIGINT = 2**63 - 1
_UUID = re.compile(r"^[0-9a-f-]{36}$")


class _Unattested:
    """Stands for the value of a field the hub has never written: equal to nothing the hub sends."""

    def __repr__(self) -> str:
        return "<unattested>"


_UNATTESTED = _Unattested()


def _adapter(name: str) -> TypeAdapter[Any]:
    """The column's type and limits, taken from the contract (strict: ``1`` is not ``true``)."""
    info = PesertaDidikRecord.model_fields[name]
    tp: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(tp, config=ConfigDict(strict=True))


_VALUE_TYPES = {name: _adapter(name) for name in DAPODIK_HUB_FIELDS}


def _strings(item: HubResultItem) -> list[tuple[str, str]]:
    p = item.provenance
    out = [("provenance.provenance_id", p.provenance_id), ("provenance.sync_run_id", p.sync_run_id),
           ("provenance.source_system", p.source_system), ("provenance.source_record", p.source_record)]
    if item.outcome_detail is not None:
        out.append(("outcome_detail", item.outcome_detail))
    out += [(f"values.{k}", v) for k, v in item.values.items() if isinstance(v, str)]
    return out


def problems_of(item: HubResultItem) -> list[str]:
    """Why an item cannot be stored, whatever the record holds (empty when it can)."""
    problems: list[str] = []
    unknown = sorted(set(item.values) - set(DAPODIK_HUB_FIELDS))
    if unknown:
        problems.append(f"fields not writable by the hub: {', '.join(unknown)}")
    for name, value in item.values.items():
        if name in _VALUE_TYPES:
            try:
                _VALUE_TYPES[name].validate_python(value)
            except ValidationError as exc:
                err = exc.errors()[0]
                problems.append(f"values.{name}: {err['type']}: {err['msg']}")
    for where, text in _strings(item):
        rule = unstorable_text(text)
        if rule:
            problems.append(f"{where}: {rule}: text neither database can store")
    p = item.provenance
    for name, number in (("source_version", p.source_version), ("observed_seq", p.observed_seq)):
        if number > MAX_BIGINT:
            problems.append(f"provenance.{name}: larger than {MAX_BIGINT}")
    if p.retrieved_at.tzinfo is None:
        problems.append("provenance.retrieved_at: needs a timezone (UTC)")
    else:
        try:
            p.retrieved_at.astimezone(UTC)
        except OverflowError:
            problems.append("provenance.retrieved_at: out of range")
    return problems


def _result(item: HubResultItem, status: S, fields: list[str] | None = None, detail: str | None = None
            ) -> HubResultItemStatus:
    return HubResultItemStatus(student_id=item.student_id, status=status, fields_written=fields or [],
                               detail=detail)


def apply_item(session: Session, item: HubResultItem, client: str, now: datetime) -> HubResultItemStatus:
    """Apply one item inside its own SAVEPOINT: every value with its provenance and history, or nothing."""
    problems = problems_of(item)
    if problems:
        return _result(item, S.REJECTED, detail="; ".join(problems))
    if not _UUID.match(item.student_id):
        return _result(item, S.NOT_FOUND, detail="not a peserta_didik_id (UUID)")
    try:
        with session.begin_nested():
            row = pd_repository.get(session, item.student_id, for_update=True)
            if row is None:
                return _result(item, S.NOT_FOUND, detail="no such peserta_didik")
            held = {name: getattr(row, name) for name in TRACKED_FIELDS}
            attested, seqs = repository.hub_state(session, item.student_id, TRACKED_FIELDS)
            # A value the hub never wrote (e.g. the record's default penerima_kps=False) is not yet the
            # hub's: the first time the hub sends it, it is recorded with provenance, though not changed.
            current = {name: held[name] if name in attested else _UNATTESTED for name in TRACKED_FIELDS}
            decision = decide(item, current, seqs, DAPODIK_HUB_FIELDS, OUTCOME_FIELD,  # type: ignore[arg-type]
                              DETAIL_FIELD)
            if decision.status in (S.APPLIED, S.UNCHANGED):
                touched = [*item.values, *((OUTCOME_FIELD, DETAIL_FIELD) if item.outcome is not None else ())]
                repository.raise_observations(session, item.student_id, touched, item.provenance, now)
            if decision.status is S.APPLIED:
                for name, new in decision.changes.items():
                    repository.record_change(session, item.student_id, name, held[name], new,
                                             item.provenance, now, client)
                pd_repository.write_hub_values(session, row, decision.changes, now)
            return _result(item, decision.status, list(decision.changes), decision.detail)
    except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
        log.warning("item for %s refused by storage: %s", item.student_id, type(exc).__name__)
        return _result(item, S.REJECTED, detail="the database refused these values")


def apply_batch(session: Session, batch: HubResultBatch, client: str) -> HubResultBatchResponse:
    """Items in request order: a later item for the same student sees what an earlier one wrote."""
    now = datetime.now(UTC)
    results = [apply_item(session, item, client, now) for item in batch.items]
    counts = Counter(r.status.value for r in results)
    log.info("hub batch %r from %s: %d items %s", batch.sync_run_id, client, len(results), dict(counts))
    return HubResultBatchResponse(results=results)
