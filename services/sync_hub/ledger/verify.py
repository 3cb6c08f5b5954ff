"""Verifying the ledger against the database: every entry's record against the provenance row it names, the hash
chain, every signed checkpoint (contiguous ranges, Merkle root, chain hash, signature, link to the previous one),
the head, and provenance rows no entry names. The first problem is named (seq, provenance row, rule)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from services.sync_hub.ledger import repository as repo
from services.sync_hub.ledger.service import verification_record
from shared import ledger_hash as lh
from shared.contracts.ledger import LedgerProblem, LedgerReport

log = logging.getLogger("jembatan.hub.ledger")

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


@dataclass
class _Range:
    """What one pass over entries ``lo..hi`` found: problems, entries read, the entries of other kinds, where the
    chain and the seqs ended."""

    problems: list[LedgerProblem] = field(default_factory=list)
    count: int = 0
    entries: int = 0
    deferred: list[tuple[int, str, str, bytes]] = field(default_factory=list)
    last_chain_hex: str = ZERO_HEX
    expected: int = 1
    backfilled: int = 0  # entries of kind provenance_backfill


def _pass(session: Session, keys: Mapping[str, Ed25519PublicKey], checkpoints: list[Any], lo: int, hi: int,
          chain: bytes, expected_first: int, previous_hash: str, final: bool) -> _Range:
    """One pass over the entries ``lo..hi`` in seq order (``final``: the last range, whose missing last entries
    the head names), as plain driver tuples (a
    server-side cursor on PostgreSQL): each provenance entry's record hash recomputed from the row it names with
    the direct canonical writer (``lh.field_record_hasher``: values and times parsed once per distinct text, the
    JSON text of repeated strings kept), each chain link checked (from
    ``chain``, the stored chain hash before ``lo``), each checkpoint of ``checkpoints`` (those inside the range)
    checked with its Merkle root computed from the leaves gathered while passing. Entries of other kinds are left in
    ``deferred``."""
    out = _Report()
    cps = iter(checkpoints)
    cp = next(cps, None)
    cp_first, cp_last = (cp.first_seq, cp.last_seq) if cp is not None else (0, -1)
    leaves: list[bytes] = []
    expected = lo
    values: dict[str, str] = {}
    times: dict[object, str] = {}
    repeats: dict[str, tuple[Any, ...]] = {}
    record_hash = lh.field_record_hasher()
    result = _Range()
    sha = hashlib.sha256
    fromhex = bytes.fromhex
    field_kinds = lh.FIELD_KINDS
    provenance_kind = lh.KIND_PROVENANCE
    backfilled = 0
    chain_hex = chain.hex()
    deferred = result.deferred
    for part in repo.stream_entries(session, lo=lo, hi=hi):
        result.entries += len(part)
        for (seq, record_id, rh_hex, chain_hex, repeated_json, provenance_id, target_record, value_json,
             source_record, source_version, observed_seq, at) in part:
            repeated = repeats.get(repeated_json)
            if repeated is None:
                repeated = repeats[repeated_json] = tuple(json.loads(repeated_json))
            kind, sync_run_id, target_system, field_name, source_system, matched_by = repeated
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
            elif provenance_id is None:  # a column the provenance table holds no NULL in: the row is gone
                out.add(LedgerProblem(seq=seq, what="record", rule="record_missing", record_id=record_id, message=(
                    f"entry {seq}: the {kind} row {record_id} it names is gone (deleted)")))
            else:
                if kind != provenance_kind:
                    backfilled += 1
                value = values.get(value_json)
                if value is None:
                    value = values[value_json] = lh.value_text(json.loads(value_json))
                at_text = times.get(at)
                if at_text is None:
                    at_text = times[at] = _time_text(at)
                if record_hash(provenance_id, sync_run_id, target_system, target_record, field_name, value,
                               source_system, source_record, source_version, observed_seq, at_text, matched_by,
                               kind) != rh:
                    out.add(LedgerProblem(seq=seq, what="record", rule="record_hash", record_id=record_id,
                                          provenance_id=provenance_id, field=field_name, message=(
                                              f"entry {seq}: provenance {provenance_id} ({field_name}) differs "
                                              "from what was ledgered (its value or provenance was changed)")))
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
        if len(repeats) > 100_000:
            repeats.clear()
    result.last_chain_hex = chain_hex
    if not final and expected <= hi:
        out.add(LedgerProblem(seq=expected, what="entry", rule="seq_gap", message=(
            f"entries {expected}..{hi} are missing (deleted?)")))
        expected = hi + 1
    while cp is not None:  # checkpoints beyond the last entry
        out.add(LedgerProblem(seq=cp.last_seq, what="checkpoint", rule="entries_missing", message=(
            f"checkpoint {cp.first_seq}..{cp.last_seq} covers entries that are not there")))
        cp = next(cps, None)
    result.problems, result.count, result.expected, result.backfilled = out.problems, out.count, expected, backfilled
    return result


def _second_half(url: str, keys_hex: dict[str, str], lo: int, hi: int, checkpoint_seqs: list[int], chain_hex: str,
                 expected_first: int, previous_hash: str) -> _Range:
    """The pass over ``lo..hi`` in another process (its own connection)."""
    from services.sync_hub.ledger.keys import public_key
    from shared.db import make_engine, session_scope

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            wanted = set(checkpoint_seqs)
            cps = [cp for cp in repo.checkpoints(session) if cp.last_seq in wanted]
            return _pass(session, {k: public_key(v) for k, v in keys_hex.items()}, cps, lo, hi,
                         bytes.fromhex(chain_hex), expected_first, previous_hash, True)
    finally:
        engine.dispose()


PARALLEL_FROM = 200_000  # entries: below, one process is faster than starting a second one


def verify(session: Session, keys: Mapping[str, Ed25519PublicKey], *, workers: int = 2,
           parallel_from: int = PARALLEL_FROM) -> LedgerReport:
    """``keys``: key id -> public key the checkpoints may be signed with.

    From ``parallel_from`` entries on (and ``workers`` 2), the entries are split at the checkpoint nearest their
    middle: the second half is verified in another process while this one verifies the first (each link checked
    against the stored hash before it, so the halves are independent; the second half's checkpoint link starts from
    the hash of the first half's last checkpoint, which the first half checks); this one runs the unledgered
    anti-joins while the second process finishes (it starts later: a new interpreter). Entries of other kinds
    (education verifications, access log anchors) are checked against their rows after the pass."""
    started = time.perf_counter()
    head = repo.head(session)  # first read: the snapshot (SQLite) the first half is read in; the bound of the second
    checkpoints = repo.checkpoints(session)
    split = _split_at(checkpoints, int(head.seq)) if workers > 1 and int(head.seq) >= parallel_from else None
    if split is None:
        halves = [_pass(session, keys, checkpoints, 1, int(head.seq), lh.ZERO, 1, ZERO_HEX, True)]
        unledgered = _unledgered(session)
    else:
        cp = checkpoints[split]
        body = lh.checkpoint_body(first_seq=cp.first_seq, last_seq=cp.last_seq, root=cp.root,
                                  chain_hash=cp.chain_hash, previous=cp.previous, created_at=cp.created_at,
                                  key_id=cp.key_id)
        before = repo.chain_hash_before(session, cp.last_seq + 1)
        url = session.get_bind().url.render_as_string(hide_password=False)
        keys_hex = {k: v.public_bytes_raw().hex() for k, v in keys.items()}
        args = (cp.last_seq + 1, int(head.seq), [c.last_seq for c in checkpoints[split + 1:]], before,
                cp.last_seq + 1, lh.checkpoint_hash(body))
        pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        try:
            second = pool.submit(_second_half, url, keys_hex, *args)
            halves = [_pass(session, keys, checkpoints[:split + 1], 1, cp.last_seq, lh.ZERO, 1, ZERO_HEX, False)]
            unledgered = _unledgered(session)  # while the second process finishes its half
            try:
                halves.append(second.result())
            except (BrokenProcessPool, OSError) as exc:  # no second process here: the second half in this one
                log.warning("ledger verification: second process unavailable (%s); verifying in one", exc)
                halves.append(_second_half(url, keys_hex, *args))
        finally:
            pool.shutdown(wait=False)  # its exit is not waited for: it has closed its connection
    out = _Report()
    deferred: list[tuple[int, str, str, bytes]] = []
    for half in halves:
        for problem in half.problems:
            out.add(problem)
        out.count += half.count - len(half.problems)
        deferred += half.deferred
    entries, last_chain_hex, expected = sum(h.entries for h in halves), halves[-1].last_chain_hex, halves[-1].expected
    by_kind: dict[str, int] = {}
    for _, kind, _, _ in deferred:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    backfilled = sum(h.backfilled for h in halves)
    by_kind[lh.KIND_PROVENANCE] = entries - len(deferred) - backfilled
    if backfilled:
        by_kind[lh.KIND_PROVENANCE_BACKFILL] = backfilled
    _check_deferred(session, out, deferred)
    last_seq = expected - 1
    if int(head.seq) != last_seq or head.chain_hash != last_chain_hex:
        out.add(LedgerProblem(seq=int(head.seq), what="entry", rule="head", message=(
            f"the ledger head says {head.seq} entries; {last_seq} are there (the last ones deleted?)")))
    beyond = repo.max_seq(session)  # entries past the head read first: appended since, or behind the head's back
    if beyond > int(head.seq) and beyond != int(repo.head(session).seq):
        out.add(LedgerProblem(seq=beyond, what="entry", rule="head", message=(
            f"entries up to {beyond} are there but the ledger head does not name them (inserted behind its back?)")))
    checkpointed = checkpoints[-1].last_seq if checkpoints else 0
    if int(head.checkpoint_seq) != checkpointed:
        out.add(LedgerProblem(seq=int(head.checkpoint_seq), what="checkpoint", rule="head", message=(
            f"the ledger head says checkpoints cover up to {head.checkpoint_seq}; they cover {checkpointed}")))
    (unledgered, first), (unledgered_v, first_v) = unledgered
    if unledgered:
        out.add(LedgerProblem(what="provenance", rule="unledgered", record_id=first, message=(
            f"{unledgered} provenance row(s) have no ledger entry (written behind the hub's back), first {first}")))
    if unledgered_v:
        out.add(LedgerProblem(what="education_verification", rule="unledgered", record_id=first_v, message=(
            f"{unledgered_v} ledgered verification row(s) have no ledger entry (written behind the hub's back), "
            f"first {first_v}")))
    problems = sorted(out.problems, key=lambda p: (p.seq is None, p.seq or 0))
    return LedgerReport(ok=not out.count, entries=entries, by_kind=dict(sorted(by_kind.items())),
                        checkpoints=len(checkpoints),
                        checkpointed_seq=checkpointed, unchecked_tail=max(0, last_seq - checkpointed),
                        unledgered=unledgered + unledgered_v, first_problem=problems[0] if problems else None,
                        problems=problems, seconds=round(time.perf_counter() - started, 3))


def _unledgered(session: Session) -> tuple[tuple[int, str | None], tuple[int, str | None]]:
    """Provenance rows and ledgered verification rows no entry names (the anti-joins: a full pass over each table
    against the entries' record id index)."""
    return repo.unledgered(session), repo.unledgered(session, repo.VERIFICATION)


def _split_at(checkpoints: list[Any], last: int) -> int | None:
    """The index of the checkpoint whose end is nearest the middle of the entries (None: no useful split)."""
    inner = [i for i, cp in enumerate(checkpoints) if 0 < cp.last_seq < last]
    if not inner:
        return None
    return min(inner, key=lambda i: abs(checkpoints[i].last_seq - last / 2))


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
