"""The access log: one entry per response that showed a person's full NIK, KK number or name, hash-chained."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class AccessLogRow(HubTable, table=True):
    """Append-only: nothing updates or deletes a row. ``hash`` is SHA-256 over ``prev_hash`` and the entry's
    canonical content (audit/service.py ``canonical``); ``seq`` runs 1, 2, 3 ... without gaps."""

    __tablename__ = "access_log"

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    actor_kind: str = Field(max_length=16)  # person | client
    actor: str = Field(max_length=200)  # the person's subject (sub) or the client's name
    actor_name: str = Field(max_length=200)  # the name the identity provider gives (a person)
    roles: str = Field(max_length=200)  # the roles the actor held, comma-separated
    route: str = Field(max_length=200)  # "GET /api/v1/reviews/{case_id}": the route's template, never its URL
    purpose: str = Field(max_length=300)  # why the role reads personal data
    records_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # [{"kind", "id"}] shown
    subjects_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # {"nik": [...], "no_kk": [...]}
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AccessSubjectRow(HubTable, table=True):
    """Whose data an entry showed: the index of the who-read-my-data query (one row per NIK or KK number)."""

    __tablename__ = "access_log_subject"
    __table_args__ = (sa.Index("ix_access_log_subject_value", "kind", "value"),)

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(primary_key=True, max_length=8)  # nik | no_kk
    value: str = Field(primary_key=True, max_length=16)
