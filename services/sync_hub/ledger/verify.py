"""Verifying the ledger against the database: every entry's record against the provenance row it names, the hash
chain, every signed checkpoint (contiguous ranges, Merkle root, chain hash, signature, link to the previous one),
the head, and provenance rows no entry names. The first problem is named (seq, provenance row, rule)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from services.sync_hub.ledger import repository as repo
from services.sync_hub.ledger.service import verification_record
from shared import ledger_hash as lh
from shared.contracts.ledger import LedgerProblem, LedgerReport

MAX_PROBLEMS = 50
ZERO_HEX = lh.ZERO.hex()


class _Report:
    def __init__(self) -> None:
        self.problems: list[LedgerProblem] = []
        self.count = 0

    def add(self, problem: LedgerProblem) -> None:
        self.count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def _time_text(value: object) -> str:
    """``retrieved_at`` as the rules write it, from what the driver returned: a time (PostgreSQL) or SQLAlchemy's
    SQLite text ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC wall time)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    return lh.utc_text(value)  # type: ignore[arg-type]


def verify(session: Session, keys: Mapping[str, Ed25519PublicKey]) -> LedgerReport:
    """``keys``: key id -> public key the checkpoints may be signed with.

    One pass over the entries in seq order, as plain driver tuples (a server-side cursor on PostgreSQL): each
    provenance entry's record hash recomputed from the row it names with the direct canonical writer (values and
    times parsed once per distinct text), each chain link checked, each checkpoint's Merkle root computed from the
    leaves gathered while passing. Entries of other kinds (education verifications) are checked against their rows
    after the pass."""
    started = time.perf_counter()
    out = _Report()
    checkpoints = repo.checkpoints(session)
    cps = iter(checkpoints)
    cp = next(cps, None)
    cp_first, cp_last = (cp.first_seq, cp.last_seq) if cp is not None else (0, -1)
    expected_first, previous_hash = 1, ZERO_HEX
    leaves: list[bytes] = []
    chain = lh.ZERO
    expected = 1
    values: dict[str, object] = {}
    times: dict[object, str] = {}
    record_hash = lh.field_record_hash
    sha = hashlib.sha256
    fromhex = bytes.fromhex
    field_kinds = lh.FIELD_KINDS
    deferred: list[tuple[int, str, str, bytes]] = []  # entries of other kinds: seq, kind, record id, record hash
    entries = 0
    last_chain_hex = ZERO_HEX
    for part in repo.stream_entries(session):
        entries += len(part)
        for row in part:
            seq, kind, record_id, rh_hex, chain_hex = row[0], row[1], row[2], row[3], row[4]
            if seq != expected:
                out.add(LedgerProblem(seq=expected, what="entry", rule="seq_gap", message=(
                    f"entries {expected}..{seq - 1} are missing (deleted?); the next one is {seq}")
                    if seq > expected else f"entry {seq} out of order after {expected - 1}"))
                expected = seq
            rh = fromhex(rh_hex)
            chain = sha(chain + rh).digest()
            if chain.hex() != chain_hex:
                out.add(LedgerProblem(seq=seq, what="entry", rule="chain_hash", record_id=record_id, message=(
                    f"entry {seq}: its chain hash does not follow from entry {seq - 1} and its record hash "
                    "(entries reordered, removed or edited)")))
                chain = fromhex(chain_hex)  # go on from what is stored: one break, one problem
            if kind not in field_kinds:
                deferred.append((seq, kind, record_id, rh))
            elif row[17] is None:
                out.add(LedgerProblem(seq=seq, what="record", rule="record_missing", record_id=record_id, message=(
                    f"entry {seq}: the {kind} row {record_id} it names is gone (deleted)")))
            else:
                text = row[10]
                value = values.get(text)
                if value is None and text not in values:
                    value = values[text] = json.loads(text)
                at = row[15]
                at_text = times.get(at)
                if at_text is None:
                    at_text = times[at] = _time_text(at)
                if record_hash(row[5], row[6], row[7], row[8], row[9], value, row[11], row[12],
                               row[13], row[14], at_text, row[16], kind) != rh:
                    out.add(LedgerProblem(seq=seq, what="record", rule="record_hash", record_id=record_id,
                                          provenance_id=row[5], field=row[9], message=(
                                              f"entry {seq}: provenance {row[5]} ({row[9]}) differs from what was "
                                              "ledgered (its value or provenance was changed)")))
            last_chain_hex = chain_hex
            if cp_first <= seq <= cp_last:
                leaves.append(rh)
                if seq == cp_last:
                    previous_hash = _check_checkpoint(out, cp, leaves, chain_hex, expected_first, previous_hash, keys)
                    expected_first, leaves = cp_last + 1, []
                    cp = next(cps, None)
                    cp_first, cp_last = (cp.first_seq, cp.last_seq) if cp is not None else (0, -1)
            expected = seq + 1
        if len(times) > 100_000:
            times.clear()
        if len(values) > 100_000:
            values.clear()
    while cp is not None:  # checkpoints beyond the last entry
        out.add(LedgerProblem(seq=cp.last_seq, what="checkpoint", rule="entries_missing", message=(
            f"checkpoint {cp.first_seq}..{cp.last_seq} covers entries that are not there")))
        cp = next(cps, None)
    _check_deferred(session, out, deferred)
    head = repo.head(session)
    last_seq = expected - 1
    if int(head.seq) != last_seq or head.chain_hash != last_chain_hex:
        out.add(LedgerProblem(seq=int(head.seq), what="entry", rule="head", message=(
            f"the ledger head says {head.seq} entries; {last_seq} are there (the last ones deleted?)")))
    checkpointed = checkpoints[-1].last_seq if checkpoints else 0
    if int(head.checkpoint_seq) != checkpointed:
        out.add(LedgerProblem(seq=int(head.checkpoint_seq), what="checkpoint", rule="head", message=(
            f"the ledger head says checkpoints cover up to {head.checkpoint_seq}; they cover {checkpointed}")))
    unledgered, first = repo.unledgered(session)
    if unledgered:
        out.add(LedgerProblem(what="provenance", rule="unledgered", record_id=first, message=(
            f"{unledgered} provenance row(s) have no ledger entry (written behind the hub's back), first {first}")))
    unledgered_v, first_v = repo.unledgered(session, repo.VERIFICATION)
    if unledgered_v:
        out.add(LedgerProblem(what="education_verification", rule="unledgered", record_id=first_v, message=(
            f"{unledgered_v} ledgered verification row(s) have no ledger entry (written behind the hub's back), "
            f"first {first_v}")))
    problems = sorted(out.problems, key=lambda p: (p.seq is None, p.seq or 0))
    return LedgerReport(ok=not out.count, entries=entries, checkpoints=len(checkpoints),
                        checkpointed_seq=checkpointed, unchecked_tail=max(0, last_seq - checkpointed),
                        unledgered=unledgered + unledgered_v, first_problem=problems[0] if problems else None,
                        problems=problems, seconds=round(time.perf_counter() - started, 3))


def _check_deferred(session: Session, out: _Report, deferred: list[tuple[int, str, str, bytes]]) -> None:
    """Entries that are not provenance: each education verification's record recomputed from its row, each
    anchored access log head from the access log entry it names."""
    rows = repo.verification_rows(session, [d[2] for d in deferred if d[1] == lh.KIND_EDUCATION_VERIFICATION])
    access = repo.access_log_hashes(session, [int(d[2]) for d in deferred
                                              if d[1] == lh.KIND_ACCESS_LOG_HEAD and d[2].isdigit()])
    for seq, kind, record_id, rh in deferred:
        if kind == lh.KIND_ACCESS_LOG_HEAD:
            held = access.get(int(record_id)) if record_id.isdigit() else None
            if held is None:
                out.add(LedgerProblem(seq=seq, what="record", rule="record_missing", record_id=record_id, message=(
                    f"entry {seq}: access log entry {record_id}, anchored here, is gone (deleted)")))
            elif lh.record_hash(lh.access_log_head_record(seq=int(record_id), hash=held)) != rh:
                out.add(LedgerProblem(seq=seq, what="record", rule="record_hash", record_id=record_id, message=(
                    f"entry {seq}: access log entry {record_id} no longer has the chain hash anchored here "
                    "(the access log was rewritten up to it)")))
            continue
        if kind != lh.KIND_EDUCATION_VERIFICATION:
            out.add(LedgerProblem(seq=seq, what="entry", rule="kind", record_id=record_id, message=(
                f"entry {seq}: kind {kind!r} is not a kind of this ledger")))
            continue
        row = rows.get(record_id)
        if row is None:
            out.add(LedgerProblem(seq=seq, what="record", rule="record_missing", record_id=record_id, message=(
                f"entry {seq}: the {kind} row {record_id} it names is gone (deleted)")))
        elif lh.record_hash(verification_record(row._mapping)) != rh:
            out.add(LedgerProblem(seq=seq, what="record", rule="record_hash", record_id=record_id,
                                  provenance_id=row.provenance_id, message=(
                                      f"entry {seq}: education verification {row.provenance_id} differs from what "
                                      "was ledgered (what was sent or answered was changed)")))


def _check_checkpoint(out: _Report, cp, leaves: list[bytes], chain_hex: str, expected_first: int,  # type: ignore[no-untyped-def]
                      previous_hash: str, keys: Mapping[str, Ed25519PublicKey]) -> str:
    def problem(rule: str, message: str) -> None:
        out.add(LedgerProblem(seq=cp.last_seq, what="checkpoint", rule=rule,
                              message=f"checkpoint {cp.first_seq}..{cp.last_seq}: {message}"))

    body = lh.checkpoint_body(first_seq=cp.first_seq, last_seq=cp.last_seq, root=cp.root, chain_hash=cp.chain_hash,
                              previous=cp.previous, created_at=cp.created_at, key_id=cp.key_id)
    if cp.first_seq != expected_first:
        problem("range", f"does not start where the previous one ended ({expected_first})")
    if cp.previous != previous_hash:
        problem("previous", "does not name the previous checkpoint (one replaced or removed)")
    if len(leaves) != cp.last_seq - cp.first_seq + 1 or lh.merkle_root(leaves).hex() != cp.root:
        problem("root", "its Merkle root is not the root of the entries it covers")
    if chain_hex != cp.chain_hash:
        problem("chain_hash", "its chain hash is not the chain's value at its last entry")
    key = keys.get(cp.key_id)
    if key is None:
        problem("key_id", f"signed with key {cp.key_id}, not a key of this hub")
    else:
        try:
            key.verify(bytes.fromhex(cp.signature), lh.checkpoint_message(body))
        except (InvalidSignature, ValueError):
            problem("signature", "its signature does not verify (the checkpoint was replaced or edited)")
    return lh.checkpoint_hash(body)
