"""Appending to the ledger, signing checkpoints, inclusion proofs.

Appends happen inside the transaction that writes the provenance rows (so a row and its entry commit together or
not at all), as that transaction's last statements: the head row's lock is held only from the append to the
commit. One head update per batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.ledger import repository as repo
from services.sync_hub.ledger.keys import Signer
from services.sync_hub.ledger.models import LedgerCheckpointRow
from shared import ledger_hash as lh
from shared.clock import as_utc, utcnow
from shared.contracts.common import HubResultItem
from shared.contracts.ledger import LedgerCheckpoint, LedgerProof
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.errors import Conflict, NotFound
from shared.ids import new_id

log = logging.getLogger("jembatan.hub.ledger")

FieldValue = str | bool | int | None
PENDING = "ledger_pending"  # session.info key: uncovered entries after this session's last append


def record_of(row: Mapping[str, object], value: FieldValue | None = None, *, parsed: bool = False,
              kind: str = lh.KIND_PROVENANCE) -> dict[str, object]:
    """The ledger record of a provenance row (a dict with the ``provenance`` table's columns); ``kind``: the
    entry's (``provenance``, or ``provenance_backfill`` for a row backfilled after it was written)."""
    return lh.field_record(kind=kind,
        provenance_id=str(row["provenance_id"]), sync_run_id=str(row["sync_run_id"]),
        target_system=str(row["target_system"]), target_record=str(row["target_record"]), field=str(row["field"]),
        value=value if parsed else json.loads(str(row["value_json"])), source_system=str(row["source_system"]),
        source_record=str(row["source_record"]), source_version=int(row["source_version"]),  # type: ignore[call-overload]
        observed_seq=int(row["observed_seq"]), retrieved_at=row["retrieved_at"],  # type: ignore[call-overload, arg-type]
        matched_by=str(row["matched_by"]))


def row_hash(row: Mapping[str, object], kind: str = lh.KIND_PROVENANCE) -> bytes:
    """The record hash of a provenance row (a dict or row mapping with the ``provenance`` table's columns): the
    direct canonical writer (``lh.field_record_hash``), one SHA-256, no intermediate dict."""
    return lh.field_record_hash(
        str(row["provenance_id"]), str(row["sync_run_id"]), str(row["target_system"]), str(row["target_record"]),
        str(row["field"]), json.loads(str(row["value_json"])), str(row["source_system"]), str(row["source_record"]),
        int(row["source_version"]), int(row["observed_seq"]),  # type: ignore[call-overload]
        lh.utc_text(row["retrieved_at"]), str(row["matched_by"]), kind)  # type: ignore[arg-type]


def stamp(item: HubResultItem, target_system: str, values: Mapping[str, FieldValue],
          retrieved_at_text: str | None = None) -> HubResultItem:
    """Set the item's ``provenance.record_hashes``: the record hash of each value it carries, as the ledger will
    hold it (the gateway keeps it with the value). The parts the values share are written once per item
    (``lh.item_record_hasher``), each value hashed once; ``retrieved_at_text``: ``lh.utc_text`` of the item's
    ``retrieved_at`` when the caller has it (items of one batch share it)."""
    p = item.provenance
    field_hash = lh.item_record_hasher(
        p.provenance_id, p.sync_run_id, target_system, item.student_id, p.source_system, p.source_record,
        p.source_version, p.observed_seq, retrieved_at_text or lh.utc_text(p.retrieved_at), p.matched_by.value)
    p.record_hashes = {name: field_hash(name, value).hex() for name, value in values.items()}
    return item


def append_provenance(session: Session, rows: Sequence[Mapping[str, object]],
                      hashes: Sequence[str | None] | None = None, locked: repo.Head | None = None) -> int:
    """Append the provenance rows just written in this transaction; returns the last seq (0: nothing).

    ``hashes``: the record hash (hex) of each row when the caller already has it (the pusher: the hash stamped on
    the item the row was made from, ``stamp``), None where it has not: those are computed here. A wrong hash
    passed here is not caught at append time but by verification (``record_hash``), like any other mismatch.
    ``locked``: the head as this transaction already locked and read it (a check's write took the lock in its
    own statement, ``repo.lock_head_after``); None: locked here."""
    if not rows:
        return 0
    if hashes is None:
        hashes = [None] * len(rows)
    # hashed before the lock is taken: the lock is held for the chain and the inserts only
    return _append(session, lh.KIND_PROVENANCE, [(str(row["id"]), bytes.fromhex(known) if known else row_hash(row))
                                                 for row, known in zip(rows, hashes, strict=True)], locked)


def append_provenance_records(session: Session, records: Sequence[tuple[str, bytes]]) -> int:
    """``append_provenance`` of rows whose record hashes the caller has made: (the row's id, its record hash) each,
    in the order they are chained. Returns the last seq (0: nothing)."""
    return _append(session, lh.KIND_PROVENANCE, records)


def _append(session: Session, kind: str, records: Sequence[tuple[str, bytes]], locked: repo.Head | None = None
            ) -> int:
    """Chain ``records`` (record id, record hash) after the head, under its lock, in one pass and one insert."""
    if not records:
        return 0
    head = repo.lock_head(session) if locked is None else locked
    seq, chain = int(head.seq), bytes.fromhex(head.chain_hash)
    now = utcnow()
    sha = hashlib.sha256
    entries: list[tuple[object, ...]] = []
    append = entries.append
    for record_id, rh in records:
        seq += 1
        chain = sha(chain + rh).digest()
        append((seq, kind, record_id, rh.hex(), chain.hex(), now))
    repo.add_entries(session, entries, seq, chain.hex())
    session.info[PENDING] = seq - int(head.checkpoint_seq)  # for maybe_checkpoint, without reading the head again
    return seq


def verification_record(row: Mapping[str, object]) -> dict[str, object]:
    """The ledger record of a ``ledger_verification`` row."""
    return lh.education_verification_record(**{c: row[c] for c in repo.VERIFICATION_COLUMNS if c != "id"})  # type: ignore[arg-type]


def append_verifications(session: Session, sent: Sequence[Mapping[str, object]], answered_at: datetime
                         ) -> list[dict[str, object]]:
    """Ledger what the hub sent to the welfare registry and what it answered, in the transaction that records the
    answers (last: the ledger's lock until the commit). ``sent``: dicts of ``provenance_id``, ``sync_run_id``,
    ``nik_anak``, ``periode``, ``version``, ``observed_at``, ``facts_hash``, ``payload`` (the verification as
    serialised and sent), ``status``, ``detail``. Returns the ``ledger_verification`` rows written."""
    rows: list[dict[str, object]] = []
    for s in sent:
        row = {c: s[c] for c in repo.VERIFICATION_COLUMNS if c not in ("id", "payload_hash", "answered_at")}
        row.update(id=new_id(), answered_at=answered_at,
                   payload_hash=hashlib.sha256(str(s["payload"]).encode("utf-8")).hexdigest())
        rows.append(row)
    if not rows:
        return rows
    repo.add_verifications(session, rows)
    _append(session, lh.KIND_EDUCATION_VERIFICATION,
            [(str(r["id"]), lh.record_hash(verification_record(r))) for r in rows])
    return rows


def record_hash_of_row(session: Session, record_id: str) -> str:
    """The record hash of the provenance row as it is stored now (hex)."""
    row = session.execute(sa.select(*(repo.PROVENANCE.c[c] for c in repo.RECORD_COLUMNS)).where(
        repo.PROVENANCE.c.id == record_id)).one()
    return row_hash(row._mapping).hex()


def _anchor_access_log(session: Session) -> bool:
    """Append the access log's chain head when it moved since it was last anchored (True: appended)."""
    at = repo.access_log_head(session)
    if at is None or at[0] <= repo.last_anchored_access_seq(session):
        return False
    _append(session, lh.KIND_ACCESS_LOG_HEAD, [(str(at[0]), lh.record_hash(lh.access_log_head_record(
        seq=at[0], hash=at[1])))])
    return True


def pending(engine: Engine) -> int:
    """Entries not covered by a checkpoint yet."""
    with session_scope(engine) as session:
        head = repo.head(session)
        return int(head.seq) - int(head.checkpoint_seq)


def checkpoint(engine: Engine, signer: Signer, min_entries: int = 1) -> LedgerCheckpointRow | None:
    """Sign a checkpoint over the entries since the last one, when there are at least ``min_entries``."""
    with session_scope(engine) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        head = repo.lock_head(session)
        first, last = int(head.checkpoint_seq) + 1, int(head.seq)
        if last - first + 1 < max(1, min_entries):
            return None
        if _anchor_access_log(session):  # the access log's head, covered by this checkpoint
            head = repo.lock_head(session)
            last = int(head.seq)
        leaves = [bytes.fromhex(h) for h in repo.record_hashes(session, first, last)]
        created_at = utcnow()
        body = lh.checkpoint_body(first_seq=first, last_seq=last, root=lh.merkle_root(leaves).hex(),
                                  chain_hash=head.chain_hash, previous=head.checkpoint_hash, created_at=created_at,
                                  key_id=signer.key_id)
        row = {**body, "created_at": created_at, "signature": signer.sign(lh.checkpoint_message(body))}
        del row["v"], row["log"]
        repo.add_checkpoint(session, row, lh.checkpoint_hash(body))
    log.info("ledger checkpoint %d..%d signed (key %s)", first, last, signer.key_id)
    return LedgerCheckpointRow(**row)


def maybe_checkpoint(engine: Engine, signer: Signer | None, every: int, pending_now: int | None = None) -> None:
    """Sign a checkpoint when ``every`` entries are not covered. ``pending_now``: how many the caller's append
    left uncovered (``appended_pending``), so the head need not be read again (None: it is read)."""
    if signer is None or every <= 0:
        return
    if (pending(engine) if pending_now is None else pending_now) >= every:
        checkpoint(engine, signer, every)


def appended_pending(session: Session) -> int | None:
    """After an append in ``session``: the entries not covered by a checkpoint (None: nothing appended)."""
    value = session.info.get(PENDING)
    return int(value) if value is not None else None


def to_contract(row: LedgerCheckpointRow) -> LedgerCheckpoint:
    return LedgerCheckpoint(first_seq=row.first_seq, last_seq=row.last_seq, root=row.root, chain_hash=row.chain_hash,
                            previous=row.previous, created_at=as_utc(row.created_at), key_id=row.key_id,
                            signature=row.signature)


def proof(session: Session, signer: Signer, provenance_id: str, field: str) -> LedgerProof:
    row = repo.provenance_row(session, provenance_id, field)
    if row is None:
        raise NotFound.field("provenance_id", "not_found", "no provenance with this id for this field")
    entry = repo.entry_for(session, row.id)
    if entry is None:
        raise NotFound.field("provenance_id", "not_in_ledger",
                             "this provenance is not in the ledger (written before it?)")
    cp = repo.checkpoint_covering(session, entry.seq)
    if cp is None:
        raise Conflict(f"ledger entry {entry.seq} is not covered by a signed checkpoint yet; "
                       "POST /api/v1/ledger/checkpoints signs one")
    leaves = [bytes.fromhex(h) for h in repo.record_hashes(session, cp.first_seq, cp.last_seq)]
    index = int(entry.seq) - cp.first_seq
    record = record_of(row._mapping, kind=entry.kind)
    return LedgerProof(record=record, record_hash=entry.record_hash, seq=entry.seq, leaf_index=index,  # type: ignore[arg-type]
                       tree_size=len(leaves), audit_path=[h.hex() for h in lh.inclusion_path(leaves, index)],
                       checkpoint=to_contract(cp), public_key=signer.public)
