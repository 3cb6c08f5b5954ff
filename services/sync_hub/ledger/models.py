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

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=16)
    record_id: str = Field(max_length=36, index=True)  # provenance.id
    record_hash: str = Field(max_length=64, index=True)
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
