"""The hub's provenance ledger on the wire: checkpoints, inclusion proofs, verification reports (docs/ledger.md).

Hashes are lowercase hex. What the hashes are computed over is ``shared.ledger_hash``; a verifier needs that
module, these models and an Ed25519 implementation, nothing of the hub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.contracts.common import Strict

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class LedgerPublicKey(BaseModel):
    algorithm: str = "Ed25519"
    key_id: str = Field(..., description="First 16 hex digits of SHA-256 of the raw public key")
    public_key: str = Field(..., description="The 32 raw bytes of the public key, hex")


class LedgerCheckpoint(BaseModel):
    """A signed Merkle checkpoint over the entries ``first_seq..last_seq`` (inclusive)."""

    model_config = ConfigDict(extra="ignore")

    first_seq: int
    last_seq: int
    root: Hex64 = Field(..., description="RFC 6962 tree hash over the record hashes of the entries covered")
    chain_hash: Hex64 = Field(..., description="The hash chain's value at last_seq")
    previous: Hex64 = Field(..., description="Hash of the previous checkpoint's signed message (zeros: the first)")
    created_at: datetime
    key_id: str
    signature: str = Field(..., description="Ed25519 over shared.ledger_hash.checkpoint_message(body), hex")


class LedgerProof(BaseModel):
    """What proves that one value was written by the hub and ledgered before ``checkpoint.created_at``."""

    record: dict[str, str | int | bool | None] = Field(..., description="The ledger record (field_record)")
    record_hash: Hex64
    seq: int
    leaf_index: int = Field(..., description="seq - checkpoint.first_seq")
    tree_size: int
    audit_path: list[Hex64]
    checkpoint: LedgerCheckpoint
    public_key: LedgerPublicKey


class LedgerProblem(BaseModel):
    seq: int | None = Field(None, description="The ledger entry (or the checkpoint's last_seq) that breaks")
    what: str = Field(..., description="entry, record, checkpoint, provenance")
    rule: str = Field(..., examples=["record_hash", "chain_hash", "seq_gap", "record_missing", "signature"])
    record_id: str | None = Field(None, description="The provenance row concerned")
    provenance_id: str | None = None
    field: str | None = None
    message: str


class LedgerReport(BaseModel):
    ok: bool
    entries: int = Field(..., description="Ledger entries read")
    by_kind: dict[str, int] = Field(default_factory=dict, description=(
        "Entries read per kind: provenance, provenance_backfill, education_verification, access_log_head"))
    checkpoints: int
    checkpointed_seq: int = Field(..., description="Entries up to this seq are covered by signed checkpoints")
    unchecked_tail: int = Field(..., description="Entries after the last checkpoint: chained, not yet signed")
    unledgered: int = Field(0, description="Provenance (or ledgered verification) rows without a ledger entry")
    first_problem: LedgerProblem | None = None
    problems: list[LedgerProblem] = Field(default_factory=list, description="The first problems found (at most 50)")
    seconds: float = 0.0


class LedgerLookup(Strict):
    record_hashes: list[Hex64] = Field(..., min_length=1, max_length=1000)


class LedgerLookupAnswer(BaseModel):
    found: dict[str, int] = Field(..., description="record hash -> ledger seq, for the hashes the ledger holds")
