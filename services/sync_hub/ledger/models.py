from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class LedgerHeadRow(HubTable, table=True):
    """The single row every append locks (the ledger's serialisation point): the last seq and chain hash, and the
    last seq a checkpoint covers. Written by the migration with seq 0 and the zero hash."""

    __tablename__ = "ledger_head"

    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    chain_hash: str = Field(max_length=64)
    checkpoint_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    checkpoint_hash: str = Field(max_length=64)  # hash of the last checkpoint's signed message


class LedgerEntryRow(HubTable, table=True):
    """One ledgered record: ``record_hash`` = SHA-256(0x00 || canonical record), ``chain_hash`` =
    SHA-256(previous chain_hash || record_hash)."""

    __tablename__ = "ledger_entry"
    # looked up by record hash (a gateway's values) through its first 16 hex digits: an index on the full 64 random
    # hex digits cost the append a third of its time (bench_ledger.py push); the lookup compares the full hash
    __table_args__ = (sa.Index("ix_ledger_entry_record_hash_prefix",
                               sa.func.substr(sa.literal_column("record_hash"), sa.literal_column("1"),
                                              sa.literal_column("16"))),)

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)  # shared.ledger_hash KIND_*: which table ``record_id`` names
    record_id: str = Field(max_length=36, index=True)  # provenance.id, ledger_verification.id
    record_hash: str = Field(max_length=64)
    chain_hash: str = Field(max_length=64)
    appended_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class LedgerCheckpointRow(HubTable, table=True):
    """A signed Merkle checkpoint over the entries first_seq..last_seq (``shared.ledger_hash.checkpoint_body``)."""

    __tablename__ = "ledger_checkpoint"

    last_seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    first_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    root: str = Field(max_length=64)
    chain_hash: str = Field(max_length=64)
    previous: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    key_id: str = Field(max_length=16)
    signature: str = Field(max_length=128)


class LedgerVerificationRow(HubTable, table=True):
    """One education verification sent to the welfare registry and its answer, as ledgered (kind
    ``education_verification``): a history, where ``education_verification`` keeps only the last version of each
    child's facts. ``payload_hash``: SHA-256 of the verification as serialised and sent."""

    __tablename__ = "ledger_verification"

    id: str = Field(primary_key=True, max_length=36)
    provenance_id: str = Field(max_length=36, index=True)
    sync_run_id: str = Field(max_length=36)
    nik_anak: str = Field(max_length=16, index=True)
    periode: str = Field(max_length=8)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    observed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    facts_hash: str = Field(max_length=64)
    payload_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=300)
    answered_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
