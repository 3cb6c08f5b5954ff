from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable
from shared.db import BIG_ID


class SyncRunRow(HubTable, table=True):
    __tablename__ = "sync_run"

    id: str = Field(primary_key=True, max_length=36)
    status: str = Field(max_length=16, index=True)
    trigger: str = Field(max_length=64)
    systems: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # An on-demand check names its students; a full run leaves this null.
    student_ids: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    started_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    students_read: int = 0  # students decided (the run's working set)
    students_from_feed: int = 0  # records read from the gateways in this run
    students_removed: int = 0  # students that left the working set (held back, deleted)
    full: bool = False  # every student read again (asked for, or the first run of a system)
    outcomes: dict[str, int] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    values_written: int = 0
    values_unchanged: int = 0
    provenance_records: int = 0
    kip_linked: int = 0
    timings: dict[str, float] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    errors: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    stale: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # answered STALE: read again next run
    cancel_requested: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    planned_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # the registry sequence the run's plan observed: the next run looks for registry changes after it
    registry_seq: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    model_version: str | None = Field(default=None, max_length=32)  # the fallback model every unit uses
    # the PKH period (``2026-T3``) the run verifies education for, and when its verification units were planned
    # (once every deciding unit has ended); null: the run sends no verification
    periode: str | None = Field(default=None, max_length=8)
    verify_planned_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    verifications: dict[str, int] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False, server_default="{}"))
    # the period's families-at-risk report as this run built it (``risk``): families, by reason, by province
    at_risk: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False, server_default="{}"))


class StudentOutcomeRow(HubTable, table=True):
    """Every student's outcome in every run: what an operator reads to act on a student."""

    __tablename__ = "student_outcome"
    __table_args__ = (sa.UniqueConstraint("sync_run_id", "system", "student_id", name="uq_outcome_run_student"),)

    # every run adds a row per student it decides: ~53 M for a national full run (BIGINT since 0027)
    id: int | None = Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))
    sync_run_id: str = Field(foreign_key="sync_run.id", max_length=36)  # read through uq_outcome_run_student (0023)
    system: str = Field(max_length=16)
    student_id: str = Field(max_length=64, index=True)
    outcome: str = Field(max_length=24, index=True)
    detail: str | None = Field(default=None, max_length=300)
    matched_by: str = Field(max_length=16)
    no_kk: str | None = Field(default=None, max_length=16)


class SyncUnitRow(HubTable, table=True):
    """One work unit of a run: the students of one source system in one province (or, for a large province,
    one kabupaten), decided, pushed and recorded by one job. A unit's job may run again after a crash: it
    replays its outbox first, then decides its students again (docs/architecture.md)."""

    __tablename__ = "sync_unit"
    __table_args__ = (sa.UniqueConstraint("sync_run_id", "system", "region", name="uq_unit_run_system_region"),)

    id: str = Field(primary_key=True, max_length=36)
    sync_run_id: str = Field(foreign_key="sync_run.id", index=True, max_length=36)
    system: str = Field(max_length=16)  # emis | dapodik; "kemensos" for a verification unit
    # decide: 2-digit province or 4-digit kabupaten code of the students' schools; verify: the 2-digit province
    # prefix of the children's NIKs
    region: str = Field(max_length=10)
    kind: str = Field(default="decide", max_length=8, sa_column_kwargs={"server_default": "decide"})
    status: str = Field(max_length=16, index=True)
    attempts: int = 0
    students: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    values_written: int = 0
    values_unchanged: int = 0
    provenance_records: int = 0
    kip_linked: int = 0
    stale: int = 0
    timings: dict[str, float] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    errors: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class StudentStatusRow(HubTable, table=True):
    """Each student's latest outcome and the family it is linked to: what a later run's planner reads to find
    the students a registry change concerns, and what reports read without scanning every run."""

    __tablename__ = "student_status"
    __table_args__ = (sa.Index("ix_student_status_region", "system", "region"),
                      sa.Index("ix_student_status_updated_at", "updated_at"))

    system: str = Field(primary_key=True, max_length=16)
    student_id: str = Field(primary_key=True, max_length=64)
    region: str = Field(max_length=10)
    outcome: str = Field(max_length=24)
    no_kk: str | None = Field(default=None, max_length=16, index=True)
    # the child as the registry knows it (a member of the linked family), when identified: whom an education
    # verification is about; one child may have a record in both systems
    child_nik: str | None = Field(default=None, max_length=16, index=True)
    sync_run_id: str = Field(max_length=36, index=True)
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class RunReadingRow(HubTable, table=True):
    """What a run's plan has read so far from one upstream (``emis``, ``dapodik``, ``kip``, ``registry``): a
    first national sync's plan reads for hours before any unit exists, and this is its progress. Written in the
    transaction that stores each page (one row per upstream, so the plan's concurrent reads never wait on each
    other); cleared when a plan starts again."""

    __tablename__ = "run_reading"

    sync_run_id: str = Field(foreign_key="sync_run.id", primary_key=True, max_length=36)
    source: str = Field(primary_key=True, max_length=16)
    records: int = 0
    done: bool = False
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class FeedReadRow(HubTable, table=True):
    """A full read of a gateway's feed read as ranges of its student ids at once (``sync.feed_ranges``): where the
    feed ended when the read started (the system's position once every range is read) and into how many ranges it
    is split. A retry of the run's plan goes on with it."""

    __tablename__ = "feed_read"

    id: int | None = Field(default=None, primary_key=True)
    sync_run_id: str = Field(foreign_key="sync_run.id", index=True, max_length=36)
    system: str = Field(max_length=16)
    ranges: int
    resume_cursor: str = Field(max_length=512)
    started_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class FeedReadRangeRow(HubTable, table=True):
    """One range of a ranged feed read: the ids above ``id_after`` and up to ``id_upto`` (null: no bound), where its
    reading stands (``cursor``, stored with each page) and how many records it stored."""

    __tablename__ = "feed_read_range"

    read_id: int = Field(foreign_key="feed_read.id", primary_key=True)
    idx: int = Field(primary_key=True)
    id_after: str | None = Field(default=None, max_length=64)
    id_upto: str | None = Field(default=None, max_length=64)
    cursor: str | None = Field(default=None, max_length=512)
    records: int = 0
    done_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))

