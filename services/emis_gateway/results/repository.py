"""All SQL of the results domain: provenance and history of hub-written values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.emis_gateway.results.models import FieldHistoryRow, FieldProvenanceRow
from services.emis_gateway.siswa.models import SiswaRow
from shared.contracts.common import Provenance
from shared.inbound import FieldValue


def latest_provenance(session: Session, siswa_ids: Sequence[str], chunk: int = 500,
                      ) -> dict[str, list[FieldProvenanceRow]]:
    """The newest provenance row of each (student, field), grouped by student, fields in name order."""
    out: dict[str, list[FieldProvenanceRow]] = {}
    unique = list(dict.fromkeys(siswa_ids))
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        newest = (select(func.max(FieldProvenanceRow.id))
                  .where(col(FieldProvenanceRow.siswa_id).in_(part))
                  .group_by(FieldProvenanceRow.siswa_id, FieldProvenanceRow.field))
        stmt = (select(FieldProvenanceRow).where(col(FieldProvenanceRow.id).in_(newest))
                .order_by(FieldProvenanceRow.siswa_id, FieldProvenanceRow.field))
        for row in session.exec(stmt).all():
            out.setdefault(row.siswa_id, []).append(row)
    return out


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


def count_provenance(session: Session, siswa_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(FieldProvenanceRow)
    if siswa_id is not None:
        stmt = stmt.where(FieldProvenanceRow.siswa_id == siswa_id)
    return int(session.exec(stmt).one())


def history(session: Session, siswa_id: str) -> Sequence[FieldHistoryRow]:
    stmt = (select(FieldHistoryRow).where(FieldHistoryRow.siswa_id == siswa_id)
            .order_by(col(FieldHistoryRow.id)))
    return session.exec(stmt).all()
