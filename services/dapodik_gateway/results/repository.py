"""All SQL on what the hub wrote: ``field_provenance``, ``value_history``, ``field_observation``.

Batches are read and written set-wise: the state of every student of a batch in a few queries, and the
batch's writes as one multi-row statement per table (``executemany`` / multi-row INSERT ... RETURNING).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.dapodik_gateway import db
from services.dapodik_gateway.results.models import FieldObservationRow, FieldProvenanceRow, ValueHistoryRow
from shared.db import built_once, each_key
from shared.inbound import FieldValue

PROVENANCE: sa.Table = FieldProvenanceRow.__table__  # type: ignore[assignment]
HISTORY: sa.Table = ValueHistoryRow.__table__  # type: ignore[assignment]
OBSERVATION: sa.Table = FieldObservationRow.__table__  # type: ignore[assignment]
# Bound parameters per statement stay well under SQLite's limit (32,766) and PostgreSQL's (65,535).
IN_CHUNK = 1000
# The sync_run_id of provenance a KIP SK wrote (``sk:<nomor_sk>``, see ``kip.service``): not the hub's.
SK_RUN_PREFIX = "sk:"


_JSON_CONSTANTS = {True: "true", False: "false", None: "null"}


def to_json(value: FieldValue) -> str:
    """The value as JSON text (``json.dumps(value, ensure_ascii=False)``, with the common cases short)."""
    if value is None or isinstance(value, bool):
        return _JSON_CONSTANTS[value]
    if isinstance(value, str):
        return encode_basestring(value)
    return json.dumps(value, ensure_ascii=False)


def from_json(text: str) -> FieldValue:
    value: FieldValue = json.loads(text)
    return value


def chunked(values: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _latest_provenance_pg() -> sa.Select:  # type: ignore[type-arg]
    newest = PROVENANCE.alias("newest")
    stmt = each_key(lambda key: sa.select(PROVENANCE).where(PROVENANCE.c.id.in_(
        sa.select(sa.func.max(newest.c.id)).where(newest.c.peserta_didik_id == key)
        .group_by(newest.c.field).correlate_except(newest))), "ids")
    return stmt.order_by(stmt.selected_columns.peserta_didik_id, stmt.selected_columns.field)


def latest_provenance_part() -> tuple[sa.Select, tuple[str, ...]]:  # type: ignore[type-arg]
    """PostgreSQL: ``latest_provenance``'s statement unordered, and its order, as a part of ``shared.db.together``
    (the student ids bound as ``ids``, a JSON array of distinct ids)."""
    stmt = _latest_provenance_pg().order_by(None)
    return stmt, ("peserta_didik_id", "field")


def latest_provenance(session: Session, peserta_didik_ids: Iterable[str]) -> dict[str, list[sa.RowMapping]]:
    """peserta_didik_id -> the latest provenance row of each field the hub ever wrote, by field name
    (PostgreSQL: one statement, an index seek per student; SQLite: one statement per 1,000 students; plain
    rows)."""
    ids = list(peserta_didik_ids)
    out: dict[str, list[sa.RowMapping]] = defaultdict(list)
    if ids and session.get_bind().dialect.name == "postgresql":  # one index seek per student (shared.db.each_key)
        stmt = built_once("dapodik.latest_provenance", _latest_provenance_pg)
        for row in session.execute(stmt, {"ids": json.dumps(ids)}).mappings().all():
            out[row["peserta_didik_id"]].append(row)
        return out
    for part in chunked(ids):
        latest = (
            sa.select(sa.func.max(PROVENANCE.c.id))
            .where(PROVENANCE.c.peserta_didik_id.in_(part))
            .group_by(PROVENANCE.c.peserta_didik_id, PROVENANCE.c.field)
        )
        stmt = sa.select(PROVENANCE).where(PROVENANCE.c.id.in_(latest)).order_by(
            PROVENANCE.c.peserta_didik_id, PROVENANCE.c.field)
        for row in session.execute(stmt).mappings().all():
            out[row["peserta_didik_id"]].append(row)
    return out


@dataclass
class HubState:
    """What the hub has told one student so far.

    ``attested``: fields whose present value the hub wrote (they have provenance); ``seqs``: per field the
    highest registry sequence the stored value reflects (written at, or confirmed unchanged at);
    ``marks``: the observation rows (field -> observed_seq): a value confirmed unchanged by a newer
    observation than the one it was written from gets no provenance row, so the mark keeps that sequence;
    ``held_ids``: per field the hub's provenance id of its newest provenance row (the one shown next to the
    value), absent when a KIP SK wrote that row (its id is the gateway's, not the hub's)."""

    attested: set[str] = field(default_factory=set)
    seqs: dict[str, int] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    held_ids: dict[str, str] = field(default_factory=dict)

    def copy(self) -> HubState:
        return HubState(set(self.attested), dict(self.seqs), dict(self.marks), dict(self.held_ids))


_NEWEST = PROVENANCE.alias("newest_of_field")


def _written_of(peserta_didik_id: sa.ColumnElement[str], fields: Sequence[str]) -> sa.Select:  # type: ignore[type-arg]
    """One student's ``fields`` with provenance: the highest observed sequence, the newest row's provenance id and
    run."""
    grouped = (sa.select(_NEWEST.c.field, sa.func.max(_NEWEST.c.observed_seq).label("seq"),
                         sa.func.max(_NEWEST.c.id).label("newest"))
               .where(_NEWEST.c.peserta_didik_id == peserta_didik_id, _NEWEST.c.field.in_(fields))
               .group_by(_NEWEST.c.field).correlate_except(_NEWEST).subquery("grouped"))
    return (sa.select(PROVENANCE.c.peserta_didik_id, grouped.c.field, grouped.c.seq, PROVENANCE.c.provenance_id,
                      PROVENANCE.c.sync_run_id)
            .select_from(grouped.join(PROVENANCE, PROVENANCE.c.id == grouped.c.newest)))


def _marks_of(peserta_didik_id: sa.ColumnElement[str], fields: Sequence[str]) -> sa.Select:  # type: ignore[type-arg]
    return sa.select(OBSERVATION.c.peserta_didik_id, OBSERVATION.c.field, OBSERVATION.c.observed_seq).where(
        OBSERVATION.c.peserta_didik_id == peserta_didik_id, OBSERVATION.c.field.in_(fields))


def _hub_state_statements(fields: tuple[str, ...]) -> tuple[sa.Select, sa.Select]:  # type: ignore[type-arg]
    """PostgreSQL: ``hub_states``' two statements for these fields (they hold the names: built once per set)."""
    return (built_once(("dapodik.hub_states.written", fields),
                       lambda: each_key(lambda key: _written_of(key, fields), "ids")),
            built_once(("dapodik.hub_states.marks", fields),
                       lambda: each_key(lambda key: _marks_of(key, fields), "ids")))


def hub_states(session: Session, peserta_didik_ids: Sequence[str], fields: Sequence[str]) -> dict[str, HubState]:
    """The hub state of every given student (two queries per 1,000 students; on PostgreSQL an index seek per
    student in each)."""
    states: dict[str, HubState] = {pid: HubState() for pid in peserta_didik_ids}
    postgres = session.get_bind().dialect.name == "postgresql"
    for part in chunked(list(peserta_didik_ids)):
        keys = {"ids": json.dumps(list(part))} if postgres else {}
        if postgres:  # one index seek per student, whatever the statistics (shared.db.each_key)
            prov, obs = _hub_state_statements(tuple(fields))
        else:
            grouped = (
                sa.select(PROVENANCE.c.peserta_didik_id, PROVENANCE.c.field,
                          sa.func.max(PROVENANCE.c.observed_seq).label("seq"),
                          sa.func.max(PROVENANCE.c.id).label("newest"))
                .where(PROVENANCE.c.peserta_didik_id.in_(part), PROVENANCE.c.field.in_(fields))
                .group_by(PROVENANCE.c.peserta_didik_id, PROVENANCE.c.field)
                .subquery()
            )
            prov = sa.select(grouped.c.peserta_didik_id, grouped.c.field, grouped.c.seq, PROVENANCE.c.provenance_id,
                             PROVENANCE.c.sync_run_id).join(PROVENANCE, PROVENANCE.c.id == grouped.c.newest)
            obs = sa.select(OBSERVATION.c.peserta_didik_id, OBSERVATION.c.field, OBSERVATION.c.observed_seq).where(
                OBSERVATION.c.peserta_didik_id.in_(part), OBSERVATION.c.field.in_(fields))
        for pid, name, seq, provenance_id, run in session.execute(prov, keys).all():
            state = states[pid]
            state.attested.add(name)
            state.seqs[name] = max(state.seqs.get(name, -1), seq)
            if not run.startswith(SK_RUN_PREFIX):
                state.held_ids[name] = provenance_id
        for pid, name, seq in session.execute(obs, keys).all():
            state = states[pid]
            state.marks[name] = seq
            state.seqs[name] = max(state.seqs.get(name, -1), seq)
    return states


@dataclass
class Writes:
    """Rows to write for a set of applied items, in the order they were decided.

    ``history_prov`` names each history row's provenance row by its index in ``provenance``; the ids are
    known only once the provenance rows are inserted."""

    provenance: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    history_prov: list[int] = field(default_factory=list)
    observations_new: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    observations_raised: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def confirm(self, state: HubState, pid: str, name: str, seq: int, provenance_id: str, at: datetime) -> None:
        """``name``'s value was confirmed unchanged at ``seq``: raise its mark when that is news (a value's
        own provenance row already carries the sequence it was written at)."""
        if seq <= state.seqs.get(name, -1):
            return
        key = (pid, name)
        row = {"peserta_didik_id": pid, "field": name, "observed_seq": seq, "provenance_id": provenance_id,
               "observed_at": at}
        if name in state.marks and key not in self.observations_new:
            self.observations_raised[key] = row
        else:
            self.observations_new[key] = row
        state.marks[name] = seq
        state.seqs[name] = seq


def _insert_with_ids(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows``; their new ids, increasing in the order of ``rows`` (a later row for the same field is
    the newer one). The ids are taken first (``db.next_ids``), the rows then written in one go
    (``db.bulk_insert``: COPY on PostgreSQL, one prepared executemany on SQLite)."""
    ids = db.next_ids(conn, table, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    db.bulk_insert(conn, table, rows)
    return ids


def write(session: Session, writes: Writes) -> None:
    """Provenance (ids returned in order), history, observation marks: one statement per table."""
    conn = session.connection()
    ids: list[int] = []
    if writes.provenance:
        ids = _insert_with_ids(conn, PROVENANCE, writes.provenance)
    if writes.history:
        for row, index in zip(writes.history, writes.history_prov, strict=True):
            row["field_provenance_id"] = ids[index]
        db.bulk_insert(conn, HISTORY, writes.history)
    if writes.observations_new:
        db.bulk_insert(conn, OBSERVATION, list(writes.observations_new.values()))
    if writes.observations_raised:
        stmt = (sa.update(OBSERVATION)
                .where(OBSERVATION.c.peserta_didik_id == sa.bindparam("b_pid"),
                       OBSERVATION.c.field == sa.bindparam("b_field"),
                       OBSERVATION.c.observed_seq < sa.bindparam("b_seq"))
                .values(observed_seq=sa.bindparam("b_seq"), provenance_id=sa.bindparam("b_prov"),
                        observed_at=sa.bindparam("b_at")))
        db.executemany(conn, stmt, [{"b_pid": r["peserta_didik_id"], "b_field": r["field"], "b_seq": r["observed_seq"],
                             "b_prov": r["provenance_id"], "b_at": r["observed_at"]}
                            for r in writes.observations_raised.values()])


def history(session: Session, peserta_didik_id: str) -> list[ValueHistoryRow]:
    stmt = select(ValueHistoryRow).where(ValueHistoryRow.peserta_didik_id == peserta_didik_id).order_by(
        col(ValueHistoryRow.id))
    return list(session.exec(stmt).all())
