"""All SQL of the results domain: provenance, history and observation marks of hub-written values.

A batch is read in a fixed number of statements (the hub state of all its students at once) and written
with one bulk statement per table (``write``); reads for the read models are SQLAlchemy core too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.results.models import FieldHistoryRow, FieldObservationRow, FieldProvenanceRow
from services.emis_gateway.siswa.models import SiswaRow
from shared.bulk import executemany, insert, next_ids, update
from shared.contracts.common import FieldProvenance, Provenance
from shared.db import built_once, each_key
from shared.inbound import FieldValue

PROVENANCE: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
HISTORY: sa.Table = FieldHistoryRow.__table__  # type: ignore[assignment]
OBSERVATION: sa.Table = FieldObservationRow.__table__  # type: ignore[assignment]
SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]
# Ids per IN list: a result batch (<= 1000 items) and a page (<= 1000 students) fit in one statement.
_CHUNK = 1000


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start:start + _CHUNK]


_PROVENANCE_COLUMNS = (
    PROVENANCE.c.siswa_id, PROVENANCE.c.field, PROVENANCE.c.value, PROVENANCE.c.provenance_id,
    PROVENANCE.c.sync_run_id, PROVENANCE.c.source_system, PROVENANCE.c.source_record,
    PROVENANCE.c.source_version, PROVENANCE.c.observed_seq, PROVENANCE.c.retrieved_at, PROVENANCE.c.matched_by,
    PROVENANCE.c.written_at, PROVENANCE.c.record_hash,
)


_LATEST = PROVENANCE.alias("latest")


def _latest_of(siswa_id: sa.ColumnElement[str]) -> sa.Select:  # type: ignore[type-arg]
    """The newest provenance row of each field of one student (index (siswa_id, field))."""
    newest = (sa.select(sa.func.max(_LATEST.c.id)).where(_LATEST.c.siswa_id == siswa_id)
              .group_by(_LATEST.c.field).correlate_except(_LATEST))
    return sa.select(*_PROVENANCE_COLUMNS).where(PROVENANCE.c.id.in_(newest))


def _latest_provenance_pg() -> sa.Select:  # type: ignore[type-arg]
    stmt = each_key(_latest_of, "ids")
    got = stmt.selected_columns
    return stmt.order_by(got.siswa_id, got.field)


def latest_provenance(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[FieldProvenance]]:
    """The newest provenance row of each (student, field), grouped by student, fields in name order.
    One statement for up to 1000 students (a page); on PostgreSQL an index seek per student."""
    out: dict[str, list[FieldProvenance]] = {}
    values: dict[str, FieldValue] = {}  # JSON text -> value: values repeat (true, null, outcome codes)
    postgres = session.get_bind().dialect.name == "postgresql"
    for part in _chunks(siswa_ids):
        if postgres:  # one index seek per student, whatever the statistics (shared.db.each_key)
            rows = session.execute(built_once("emis.latest_provenance", _latest_provenance_pg),
                                   {"ids": json.dumps(part)}).all()
        else:
            newest = (sa.select(sa.func.max(PROVENANCE.c.id)).where(PROVENANCE.c.siswa_id.in_(part))
                      .group_by(PROVENANCE.c.siswa_id, PROVENANCE.c.field))
            rows = session.execute(sa.select(*_PROVENANCE_COLUMNS).where(PROVENANCE.c.id.in_(newest))
                                   .order_by(PROVENANCE.c.siswa_id, PROVENANCE.c.field)).all()
        _add_provenance(out, values, rows)
    return out


def latest_provenance_part() -> tuple[sa.Select, tuple[str, ...]]:  # type: ignore[type-arg]
    """PostgreSQL: ``latest_provenance``'s statement unordered, and its order, as a part of ``shared.db.together``
    (the student ids bound as ``ids``, a JSON array of distinct ids); read its rows with ``provenance_of``."""
    return each_key(_latest_of, "ids"), ("siswa_id", "field")


def provenance_of(rows: Iterable[dict[str, object]]) -> dict[str, list[FieldProvenance]]:
    """``latest_provenance`` from the rows of ``latest_provenance_part`` (by column name, in its order)."""
    out: dict[str, list[FieldProvenance]] = {}
    names = [c.key for c in _PROVENANCE_COLUMNS]
    _add_provenance(out, {}, [tuple(row[n] for n in names) for row in rows])
    return out


def _add_provenance(out: dict[str, list[FieldProvenance]], values: dict[str, FieldValue],
                    rows: Iterable[Sequence]) -> None:  # type: ignore[type-arg]
    """Each row (the columns of ``_PROVENANCE_COLUMNS``, in order) as its student's ``FieldProvenance``."""
    for (sid, name, text, pid, run, system, record, version, seq, retrieved, matched,
         written, record_hash) in rows:
        if text not in values:
            values[text] = json.loads(text)
        out.setdefault(sid, []).append(FieldProvenance.model_validate({
            "provenance_id": pid, "sync_run_id": run, "source_system": system, "source_record": record,
            "source_version": version, "observed_seq": seq, "retrieved_at": retrieved, "matched_by": matched,
            "field": name, "value": values[text], "written_at": written, "record_hash": record_hash}))


@dataclass(slots=True)
class HubState:
    """What the hub has told one student so far (read under the student's row lock)."""

    seqs: dict[str, int] = field(default_factory=dict)  # highest registry sequence behind each value
    marks: dict[str, int] = field(default_factory=dict)  # observation mark of each field (its sequence)
    attested: set[str] = field(default_factory=set)  # fields with a provenance row (written by the hub)
    held_ids: dict[str, str] = field(default_factory=dict)  # field -> provenance_id of its newest provenance row


def _written_of(siswa_id: sa.ColumnElement[str]) -> sa.Select:  # type: ignore[type-arg]
    """One student's fields with provenance: the highest observed sequence and the newest row's provenance id."""
    grouped = (sa.select(_LATEST.c.field, sa.func.max(_LATEST.c.observed_seq).label("seq"),
                         sa.func.max(_LATEST.c.id).label("newest"))
               .where(_LATEST.c.siswa_id == siswa_id).group_by(_LATEST.c.field).correlate_except(_LATEST)
               .subquery("grouped"))
    return (sa.select(PROVENANCE.c.siswa_id, grouped.c.field, grouped.c.seq, PROVENANCE.c.provenance_id)
            .select_from(grouped.join(PROVENANCE, PROVENANCE.c.id == grouped.c.newest)))


def _marks_of(siswa_id: sa.ColumnElement[str] | None) -> sa.Select:  # type: ignore[type-arg]
    """The observation marks of one student (of every student, to be filtered, when None)."""
    stmt = sa.select(OBSERVATION.c.siswa_id, OBSERVATION.c.field, OBSERVATION.c.observed_seq)
    return stmt if siswa_id is None else stmt.where(OBSERVATION.c.siswa_id == siswa_id)


def hub_states(session: Session, siswa_ids: Sequence[str]) -> dict[str, HubState]:
    """Per student: the observed sequence of each field (the highest ``observed_seq`` of its provenance rows,
    raised by the observation mark of later observations that confirmed the value without changing it), the
    observation marks, the attested fields and the provenance id of each field's newest provenance row (the
    one shown next to the value). Every student asked for is present. Two statements per 1,000 students (on
    PostgreSQL an index seek per student in each)."""
    states = {sid: HubState() for sid in siswa_ids}
    postgres = session.get_bind().dialect.name == "postgresql"
    for part in _chunks(siswa_ids):
        if postgres:  # one index seek per student, whatever the statistics (shared.db.each_key)
            keys = {"ids": json.dumps(part)}
            written: sa.Select = built_once("emis.hub_states.written",  # type: ignore[type-arg]
                                            lambda: each_key(_written_of, "ids"))
            marks: sa.Select = built_once("emis.hub_states.marks", lambda: each_key(_marks_of, "ids"))  # type: ignore[type-arg]
        else:
            keys = {}
            grouped = (sa.select(PROVENANCE.c.siswa_id, PROVENANCE.c.field,
                                 sa.func.max(PROVENANCE.c.observed_seq).label("seq"),
                                 sa.func.max(PROVENANCE.c.id).label("newest"))
                       .where(PROVENANCE.c.siswa_id.in_(part)).group_by(PROVENANCE.c.siswa_id, PROVENANCE.c.field)
                       .subquery())
            written = sa.select(grouped.c.siswa_id, grouped.c.field, grouped.c.seq, PROVENANCE.c.provenance_id).join(
                PROVENANCE, PROVENANCE.c.id == grouped.c.newest)
            marks = _marks_of(None).where(OBSERVATION.c.siswa_id.in_(part))
        for sid, name, seq, pid in session.execute(written, keys):
            state = states[sid]
            state.seqs[name] = seq
            state.attested.add(name)
            state.held_ids[name] = pid
        for sid, name, seq in session.execute(marks, keys):
            state = states[sid]
            state.seqs[name] = max(state.seqs.get(name, -1), seq)
            state.marks[name] = seq
    return states


class Change(NamedTuple):
    """One field written by one result item: a provenance row and a history row (the value it replaced)."""

    siswa_id: str
    field: str
    old: FieldValue
    new: FieldValue
    provenance: Provenance


@dataclass(slots=True)
class Writes:
    """Everything a batch (or, on the fallback path, one item) writes, collected before any statement."""

    changes: list[Change] = field(default_factory=list)  # in request order
    # (siswa_id, field) -> (sequence, hub provenance id) the observation mark must end at
    marks: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    values: dict[str, dict[str, FieldValue]] = field(default_factory=dict)  # siswa_id -> column -> new value

    def __bool__(self) -> bool:
        return bool(self.changes or self.marks or self.values)


def _provenance_ids(session: Session, rows: list[dict[str, object]]) -> list[int]:
    """Insert the provenance rows with ids chosen first (so history rows can point at them without an
    INSERT ... RETURNING, which SQLite cannot order and psycopg parses slowly); their ids in row order
    (``shared.bulk.next_ids``: SQLite after the highest stored id, the batch holding the write lock taken at
    BEGIN IMMEDIATE; PostgreSQL from the column's sequence, in one query)."""
    ids = next_ids(session, PROVENANCE, len(rows))
    insert(session, PROVENANCE, [{"id": pid, **row} for pid, row in zip(ids, rows, strict=True)])
    return ids


def write(session: Session, writes: Writes, stored_marks: dict[tuple[str, str], int], now: datetime) -> None:
    """Write a batch's effects with one statement per table (one per column set for the student rows).

    ``stored_marks`` holds the observation marks as stored before these writes: a mark not there is
    inserted, one there is raised (and only ever raised)."""
    if writes.changes:
        texts: dict[tuple[type, FieldValue], str] = {}  # values repeat (true, null, outcome codes): dump once

        def dumps(value: FieldValue) -> str:
            key = (type(value), value)  # the type too: True == 1, but "true" != "1"
            if key not in texts:
                texts[key] = json.dumps(value)
            return texts[key]

        rows: list[dict[str, object]] = []
        for c in writes.changes:
            p = c.provenance
            rows.append({"siswa_id": c.siswa_id, "field": c.field, "value": dumps(c.new),
                         "provenance_id": p.provenance_id, "sync_run_id": p.sync_run_id,
                         "source_system": p.source_system, "source_record": p.source_record,
                         "source_version": p.source_version, "observed_seq": p.observed_seq,
                         "retrieved_at": p.retrieved_at, "matched_by": p.matched_by.value, "written_at": now,
                         "record_hash": p.record_hashes.get(c.field)})
        ids = _provenance_ids(session, rows)
        insert(session, HISTORY, [
            {"siswa_id": c.siswa_id, "field": c.field, "old_value": dumps(c.old), "new_value": dumps(c.new),
             "changed_at": now, "provenance_id": pid} for c, pid in zip(writes.changes, ids, strict=True)])
    new_marks = [{"siswa_id": sid, "field": name, "observed_seq": seq, "provenance_id": pid, "observed_at": now}
                 for (sid, name), (seq, pid) in writes.marks.items() if (sid, name) not in stored_marks]
    raised = [{"b_siswa_id": sid, "b_field": name, "b_seq": seq, "observed_seq": seq, "provenance_id": pid,
               "observed_at": now}
              for (sid, name), (seq, pid) in writes.marks.items()
              if (sid, name) in stored_marks and stored_marks[(sid, name)] < seq]
    if new_marks:
        insert(session, OBSERVATION, new_marks)
    if raised:
        executemany(session, sa.update(OBSERVATION).where(
            OBSERVATION.c.siswa_id == sa.bindparam("b_siswa_id"), OBSERVATION.c.field == sa.bindparam("b_field"),
            OBSERVATION.c.observed_seq < sa.bindparam("b_seq")), raised)
    # Hub values and last_sync; updated_at is left alone on purpose (hub writes are not record changes,
    # and the hub's change feed must not loop on them). One statement per set of columns written
    # (``shared.bulk.update``: on PostgreSQL one UPDATE for all the students of a set; their rows are locked).
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
    for sid, values in writes.values.items():
        columns = tuple(sorted(values))
        by_columns[columns].append({"siswa_id": sid, **values})
    for rows in by_columns.values():
        update(session, SISWA, "siswa_id", rows, {"last_sync": now})
