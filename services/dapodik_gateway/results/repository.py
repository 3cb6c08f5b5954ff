"""All SQL on what the hub wrote: ``field_provenance``, ``value_history``, ``field_observation``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.dapodik_gateway.results.models import FieldObservationRow, FieldProvenanceRow, ValueHistoryRow
from shared.contracts.common import Provenance
from shared.inbound import FieldValue


def to_json(value: FieldValue) -> str:
    return json.dumps(value, ensure_ascii=False)


def from_json(text: str) -> FieldValue:
    value: FieldValue = json.loads(text)
    return value


def latest_provenance(session: Session, peserta_didik_ids: Iterable[str]) -> dict[str, list[FieldProvenanceRow]]:
    """peserta_didik_id -> the latest provenance row of each field the hub ever wrote, by field name."""
    ids = list(peserta_didik_ids)
    if not ids:
        return {}
    latest = (
        sa.select(sa.func.max(FieldProvenanceRow.id))
        .where(col(FieldProvenanceRow.peserta_didik_id).in_(ids))
        .group_by(FieldProvenanceRow.peserta_didik_id, FieldProvenanceRow.field)
    )
    stmt = select(FieldProvenanceRow).where(col(FieldProvenanceRow.id).in_(latest)).order_by(
        col(FieldProvenanceRow.peserta_didik_id), col(FieldProvenanceRow.field))
    out: dict[str, list[FieldProvenanceRow]] = defaultdict(list)
    for row in session.exec(stmt).all():
        out[row.peserta_didik_id].append(row)
    return out


def hub_state(session: Session, peserta_didik_id: str, fields: Iterable[str]) -> tuple[set[str], dict[str, int]]:
    """The fields whose present value the hub wrote (they have provenance), and per field the highest
    registry sequence the stored value reflects: the latest provenance row's ``observed_seq``, raised
    by later observations that confirmed the value without changing it."""
    names = list(fields)
    seqs: dict[str, int] = {}
    for row in latest_provenance(session, [peserta_didik_id]).get(peserta_didik_id, []):
        if row.field in names:
            seqs[row.field] = row.observed_seq
    attested = set(seqs)
    stmt = select(FieldObservationRow).where(FieldObservationRow.peserta_didik_id == peserta_didik_id,
                                             col(FieldObservationRow.field).in_(names))
    for obs in session.exec(stmt).all():
        seqs[obs.field] = max(seqs.get(obs.field, -1), obs.observed_seq)
    return attested, seqs


def raise_observations(session: Session, peserta_didik_id: str, fields: Iterable[str], provenance: Provenance,
                       at: datetime) -> None:
    """Record that ``fields`` were observed at ``provenance.observed_seq`` (only ever raises the mark).

    Callers hold the student's row lock, so read-then-write does not race on PostgreSQL."""
    names = list(fields)
    stmt = select(FieldObservationRow).where(FieldObservationRow.peserta_didik_id == peserta_didik_id,
                                             col(FieldObservationRow.field).in_(names))
    existing = {obs.field: obs for obs in session.exec(stmt).all()}
    for name in names:
        obs = existing.get(name)
        if obs is None:
            session.add(FieldObservationRow(peserta_didik_id=peserta_didik_id, field=name,
                                            observed_seq=provenance.observed_seq,
                                            provenance_id=provenance.provenance_id, observed_at=at))
        elif provenance.observed_seq > obs.observed_seq:
            obs.observed_seq = provenance.observed_seq
            obs.provenance_id = provenance.provenance_id
            obs.observed_at = at
            session.add(obs)
    session.flush()


def record_change(session: Session, peserta_didik_id: str, field: str, old: FieldValue, new: FieldValue,
                  provenance: Provenance, at: datetime, client: str) -> None:
    """One provenance row for the written value and, when the value differs, one history row keeping the
    value it replaced (a first attestation of the value the record already held changes no value)."""
    prov = FieldProvenanceRow(
        peserta_didik_id=peserta_didik_id, field=field, value=to_json(new),
        provenance_id=provenance.provenance_id, sync_run_id=provenance.sync_run_id,
        source_system=provenance.source_system, source_record=provenance.source_record,
        source_version=provenance.source_version, observed_seq=provenance.observed_seq,
        retrieved_at=provenance.retrieved_at, matched_by=provenance.matched_by.value, written_at=at,
    )
    session.add(prov)
    session.flush()
    if old == new and type(old) is type(new):
        return
    session.add(ValueHistoryRow(
        peserta_didik_id=peserta_didik_id, field=field, old_value=to_json(old), new_value=to_json(new),
        changed_at=at, source="hub", changed_by=client, provenance_id=provenance.provenance_id,
        field_provenance_id=prov.id,
    ))


def history(session: Session, peserta_didik_id: str) -> list[ValueHistoryRow]:
    stmt = select(ValueHistoryRow).where(ValueHistoryRow.peserta_didik_id == peserta_didik_id).order_by(
        col(ValueHistoryRow.id))
    return list(session.exec(stmt).all())

