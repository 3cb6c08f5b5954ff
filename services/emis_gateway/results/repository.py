"""All SQL of the results domain: provenance, history and observation marks of hub-written values.

Writes use SQLAlchemy core (a few statements per result item, inside the item's SAVEPOINT); reads for
the read models use the ORM rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from services.emis_gateway.results.models import FieldHistoryRow, FieldObservationRow, FieldProvenanceRow
from shared.contracts.common import Provenance
from shared.inbound import FieldValue

PROVENANCE: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
HISTORY: sa.Table = FieldHistoryRow.__table__  # type: ignore[assignment]
OBSERVATION: sa.Table = FieldObservationRow.__table__  # type: ignore[assignment]
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


@dataclass(slots=True)
class HubState:
    """What the hub has told one student so far (read under the student's row lock)."""

    seqs: dict[str, int] = field(default_factory=dict)  # highest registry sequence behind each value
    marked: set[str] = field(default_factory=set)  # fields with an observation mark
    attested: set[str] = field(default_factory=set)  # fields with a provenance row (written by the hub)


def hub_states(session: Session, siswa_ids: Sequence[str]) -> dict[str, HubState]:
    """Per student: the observed sequence of each field (the newest provenance row's ``observed_seq``, raised
    by the observation mark of later observations that confirmed the value without changing it), the
    marked fields and the attested fields. Every student asked for is present."""
    states = {sid: HubState() for sid in siswa_ids}
    for sid, rows in latest_provenance(session, siswa_ids).items():
        states[sid].seqs.update({row.field: row.observed_seq for row in rows})
        states[sid].attested.update(row.field for row in rows)
    for part in _chunks(siswa_ids):
        stmt = sa.select(OBSERVATION.c.siswa_id, OBSERVATION.c.field, OBSERVATION.c.observed_seq).where(
            OBSERVATION.c.siswa_id.in_(part))
        for sid, name, seq in session.execute(stmt):
            state = states[sid]
            state.seqs[name] = max(state.seqs.get(name, -1), seq)
            state.marked.add(name)
    return states


def raise_observations(session: Session, siswa_id: str, fields: Iterable[str], seqs: Mapping[str, int],
                       marked: Iterable[str], provenance: Provenance, at: datetime) -> None:
    """Record that ``fields`` were observed at ``provenance.observed_seq``; a mark only ever goes up.

    ``seqs`` holds the student's current sequences and ``marked`` the fields that already have a mark
    (both read under the student's row lock)."""
    seq = provenance.observed_seq
    have = set(marked)
    new = [f for f in dict.fromkeys(fields) if f not in have]
    higher = [f for f in dict.fromkeys(fields) if f in have and seqs.get(f, -1) < seq]
    if new:
        session.execute(sa.insert(OBSERVATION), [
            {"siswa_id": siswa_id, "field": f, "observed_seq": seq, "provenance_id": provenance.provenance_id,
             "observed_at": at} for f in new])
    if higher:
        session.execute(sa.update(OBSERVATION)
                        .where(OBSERVATION.c.siswa_id == siswa_id, OBSERVATION.c.field.in_(higher),
                               OBSERVATION.c.observed_seq < seq)
                        .values(observed_seq=seq, provenance_id=provenance.provenance_id, observed_at=at))


def record_changes(session: Session, siswa_id: str, old: Mapping[str, FieldValue], new: Mapping[str, FieldValue],
                   provenance: Provenance, now: datetime) -> None:
    """One provenance row per changed field, and one history row keeping the value it replaced."""
    p = provenance
    rows = [{"siswa_id": siswa_id, "field": name, "value": json.dumps(value), "provenance_id": p.provenance_id,
             "sync_run_id": p.sync_run_id, "source_system": p.source_system, "source_record": p.source_record,
             "source_version": p.source_version, "observed_seq": p.observed_seq, "retrieved_at": p.retrieved_at,
             "matched_by": p.matched_by.value, "written_at": now} for name, value in new.items()]
    stmt = sa.insert(PROVENANCE).returning(PROVENANCE.c.field, PROVENANCE.c.id, sort_by_parameter_order=True)
    ids: dict[str, int] = {name: pid for name, pid in session.execute(stmt, rows)}
    session.execute(sa.insert(HISTORY), [
        {"siswa_id": siswa_id, "field": name, "old_value": json.dumps(old.get(name)),
         "new_value": json.dumps(value), "changed_at": now, "provenance_id": ids[name]}
        for name, value in new.items()])

