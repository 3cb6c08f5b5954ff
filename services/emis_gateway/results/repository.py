"""All SQL of the results domain: provenance, history and observed sequences of hub-written values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.emis_gateway.results.models import FieldHistoryRow, FieldObservationRow, FieldProvenanceRow
from services.emis_gateway.siswa.models import SiswaRow
from shared.contracts.common import Provenance
from shared.inbound import FieldValue

_CHUNK = 500


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start:start + _CHUNK]


def latest_provenance(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[FieldProvenanceRow]]:
    """The newest provenance row of each (student, field), grouped by student, fields in name order."""
    out: dict[str, list[FieldProvenanceRow]] = {}
    for part in _chunks(siswa_ids):
        newest = (select(func.max(FieldProvenanceRow.id))
                  .where(col(FieldProvenanceRow.siswa_id).in_(part))
                  .group_by(FieldProvenanceRow.siswa_id, FieldProvenanceRow.field))
        stmt = (select(FieldProvenanceRow).where(col(FieldProvenanceRow.id).in_(newest))
                .order_by(FieldProvenanceRow.siswa_id, FieldProvenanceRow.field))
        for row in session.exec(stmt).all():
            out.setdefault(row.siswa_id, []).append(row)
    return out


def observed_seqs(session: Session, siswa_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per student and field, the highest registry sequence its stored value reflects: the newest provenance
    row's ``observed_seq``, raised by later observations that confirmed the value without changing it."""
    seqs: dict[str, dict[str, int]] = {}
    for sid, rows in latest_provenance(session, siswa_ids).items():
        seqs[sid] = {row.field: row.observed_seq for row in rows}
    for part in _chunks(siswa_ids):
        stmt = select(FieldObservationRow).where(col(FieldObservationRow.siswa_id).in_(part))
        for obs in session.exec(stmt).all():
            fields = seqs.setdefault(obs.siswa_id, {})
            fields[obs.field] = max(fields.get(obs.field, -1), obs.observed_seq)
    return seqs


def raise_observations(session: Session, siswa_id: str, fields: Iterable[str], provenance: Provenance,
                       at: datetime) -> None:
    """Record that ``fields`` were observed at ``provenance.observed_seq`` (a mark only ever goes up).

    The caller holds the student's row lock, so reading then writing does not race on PostgreSQL."""
    names = list(dict.fromkeys(fields))
    stmt = select(FieldObservationRow).where(FieldObservationRow.siswa_id == siswa_id,
                                             col(FieldObservationRow.field).in_(names))
    existing = {obs.field: obs for obs in session.exec(stmt).all()}
    for name in names:
        obs = existing.get(name)
        if obs is None:
            session.add(FieldObservationRow(siswa_id=siswa_id, field=name, observed_seq=provenance.observed_seq,
                                            provenance_id=provenance.provenance_id, observed_at=at))
        elif provenance.observed_seq > obs.observed_seq:
            obs.observed_seq = provenance.observed_seq
            obs.provenance_id = provenance.provenance_id
            obs.observed_at = at
            session.add(obs)
    session.flush()


def write_values(session: Session, student: SiswaRow, changes: Mapping[str, FieldValue],
                 provenance: Provenance, now: datetime) -> None:
    """Write the changed values, one provenance row per field and one history row per replaced value.

    ``updated_at`` is left alone on purpose (hub writes are not record changes); ``last_sync`` moves.
    """
    for field, value in changes.items():
        old = getattr(student, field)
        setattr(student, field, value)
        prov = FieldProvenanceRow(
            siswa_id=student.siswa_id, field=field, value=json.dumps(value),
            provenance_id=provenance.provenance_id, sync_run_id=provenance.sync_run_id,
            source_system=provenance.source_system, source_record=provenance.source_record,
            source_version=provenance.source_version, observed_seq=provenance.observed_seq,
            retrieved_at=provenance.retrieved_at, matched_by=provenance.matched_by.value, written_at=now,
        )
        session.add(prov)
        session.flush()
        assert prov.id is not None
        session.add(FieldHistoryRow(siswa_id=student.siswa_id, field=field, old_value=json.dumps(old),
                                    new_value=json.dumps(value), changed_at=now, provenance_id=prov.id))
    student.last_sync = now
    session.add(student)
    session.flush()
