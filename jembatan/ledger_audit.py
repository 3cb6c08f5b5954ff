"""An auditor's check of what the hub says it wrote: independent of the hub's code and storage.

It imports only the hashing rules (``shared.ledger_hash``), the wire models, the typed clients and an Ed25519
implementation; ``tests/test_ledger.py`` holds it to that. Two checks:

- ``check_proof``: one value's inclusion proof: its record hashes to the leaf, the audit path leads to the
  checkpoint's root, the checkpoint is signed by the hub's key (pinned by the auditor, or the one the proof names).
- ``check_gateways``: every value a gateway holds with a hub record hash: the hash recomputed from the value the
  gateway holds *now* and the provenance it shows must equal the one it received, and the ledger must hold it. A
  value edited in the gateway's database behind the hub's back fails the first; a made-up provenance the second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared import ledger_hash as lh
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.contracts.common import FieldProvenance
from shared.contracts.ledger import LedgerProof

FieldValue = str | bool | int | None


def check_proof(proof: LedgerProof, public_key_hex: str | None = None) -> list[str]:
    """Problems with one inclusion proof (empty: the value was ledgered by the hub and signed at
    ``proof.checkpoint.created_at``). ``public_key_hex``: the hub's key as the auditor knows it."""
    problems: list[str] = []
    leaf = lh.record_hash(proof.record)
    if leaf.hex() != proof.record_hash:
        problems.append("the record does not hash to the record hash the ledger holds")
    cp = proof.checkpoint
    root = lh.root_from_inclusion(bytes.fromhex(proof.record_hash), proof.leaf_index, proof.tree_size,
                                  [bytes.fromhex(h) for h in proof.audit_path])
    if root is None or root.hex() != cp.root:
        problems.append("the audit path does not lead to the checkpoint's root")
    if proof.tree_size != cp.last_seq - cp.first_seq + 1 or proof.seq != cp.first_seq + proof.leaf_index:
        problems.append("the proof's position does not agree with the checkpoint's range")
    key_hex = public_key_hex or proof.public_key.public_key
    raw = bytes.fromhex(key_hex)
    if lh.key_id(raw) != cp.key_id:
        problems.append(f"the checkpoint names key {cp.key_id}, not the key given ({lh.key_id(raw)})")
    body = lh.checkpoint_body(first_seq=cp.first_seq, last_seq=cp.last_seq, root=cp.root, chain_hash=cp.chain_hash,
                              previous=cp.previous, created_at=cp.created_at, key_id=cp.key_id)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(cp.signature), lh.checkpoint_message(body))
    except (InvalidSignature, ValueError):
        problems.append("the checkpoint's signature does not verify")
    return problems


def record_hash_of(system: str, student_id: str, p: FieldProvenance, value: FieldValue) -> str:
    """The record hash of ``value`` as held under provenance ``p`` (the rules, from what the gateway shows)."""
    return lh.record_hash(lh.field_record(
        provenance_id=p.provenance_id, sync_run_id=p.sync_run_id, target_system=system, target_record=student_id,
        field=p.field, value=value, source_system=p.source_system, source_record=p.source_record,
        source_version=p.source_version, observed_seq=p.observed_seq, retrieved_at=p.retrieved_at,
        matched_by=p.matched_by.value)).hex()


@dataclass
class GatewayAudit:
    values: int = 0  # values checked (held with a hub record hash)
    without_hash: int = 0  # hub-written values the gateway holds without a record hash (an older hub)
    changed: list[str] = field(default_factory=list)  # "system student field: why"
    not_in_ledger: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.changed and not self.not_in_ledger


def _held(value: object) -> FieldValue:
    return getattr(value, "value", value)  # an enum as its code


def _emis_values(s: object) -> dict[str, FieldValue]:
    pkh = s.pkh  # type: ignore[attr-defined]
    return {name: _held(getattr(pkh, name)) for name in type(pkh).model_fields}


def _dapodik_values(p: object) -> dict[str, FieldValue]:
    return {name: _held(getattr(p, name)) for name in type(p).model_fields if name != "provenance"}


def check_gateways(hub: HubClient, emis: EmisClient | None, dapodik: DapodikClient | None,
                   limit: int = 1000) -> GatewayAudit:
    audit = GatewayAudit()
    pending: dict[str, str] = {}  # record hash -> where

    def flush() -> None:
        if pending:
            found = hub.ledger_lookup(list(pending))
            audit.not_in_ledger += [f"{where}: record hash not in the hub's ledger"
                                    for h, where in pending.items() if h not in found]
            pending.clear()

    def observe(system: str, student_id: str, values: dict[str, FieldValue],
                provenance: Iterable[FieldProvenance]) -> None:
        for p in provenance:
            if p.sync_run_id.startswith("sk:"):
                continue  # a Dapodik KIP SK's value: not the hub's
            if not p.record_hash:
                audit.without_hash += 1
                continue
            audit.values += 1
            where = f"{system} {student_id} {p.field}"
            if record_hash_of(system, student_id, p, values.get(p.field)) != p.record_hash:
                audit.changed.append(f"{where}: the value held is not the value the hub wrote and ledgered")
            pending[p.record_hash] = where
            if len(pending) >= limit:
                flush()

    if emis is not None:
        for s in emis.iter_students(limit):
            observe("emis", s.siswa_id, _emis_values(s), s.provenance)
    if dapodik is not None:
        for d in dapodik.iter_peserta_didik(limit):
            observe("dapodik", d.peserta_didik_id, _dapodik_values(d), d.provenance)
    flush()
    return audit
