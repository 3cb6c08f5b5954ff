"""The hashing rules of the hub's provenance ledger: the only code the writer and any verifier share.

Standard library only, no storage, no service: a gateway, an auditor or ``jembatan verify`` import it to check what
the hub wrote without trusting the hub's code or database. Rules (docs/ledger.md):

- **canonical JSON**: keys sorted, no whitespace, UTF-8 (not ``\\u`` escapes); values are strings, integers,
  booleans or null (no floats); times are UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
- **record hash** = RFC 6962 leaf hash of the canonical record: ``SHA-256(0x00 || canonical)``.
- **chain**: ``chain[0]`` = 32 zero bytes; ``chain[n] = SHA-256(chain[n-1] || record_hash[n])``.
- **checkpoint root**: RFC 6962 Merkle tree hash over the record hashes (the leaves) of the entries it covers;
  interior nodes ``SHA-256(0x01 || left || right)``, split at the largest power of two below n.
- **checkpoint message** (what Ed25519 signs) = canonical JSON of the checkpoint's fields.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring as _encode  # type: ignore[attr-defined]

VERSION = 1
LOG_NAME = "jembatan-hub-ledger"
ZERO = bytes(32)
KIND_PROVENANCE = "provenance"
# a provenance row written before the ledger existed, appended afterwards by the backfill: the hash proves the row
# has not changed since the backfill, not when the hub wrote it (docs/ledger.md)
KIND_PROVENANCE_BACKFILL = "provenance_backfill"
FIELD_KINDS = (KIND_PROVENANCE, KIND_PROVENANCE_BACKFILL)
# what the hub sent to the welfare registry about a child's schooling, and the registry's answer
KIND_EDUCATION_VERIFICATION = "education_verification"
# the access log's chain head (seq and hash of its last entry), anchored when a checkpoint is signed
KIND_ACCESS_LOG_HEAD = "access_log_head"

FieldValue = str | bool | int | None


def canonical(obj: Mapping[str, object]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def utc_text(at: datetime) -> str:
    """A time as the rules write it. A naive time is taken as UTC (how SQLite hands stored UTC times back)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def field_record(*, provenance_id: str, sync_run_id: str, target_system: str, target_record: str, field: str,
                 value: FieldValue, source_system: str, source_record: str, source_version: int,
                 observed_seq: int, retrieved_at: datetime, matched_by: str, kind: str = KIND_PROVENANCE
                 ) -> dict[str, object]:
    """The ledger record of one value the hub wrote into one gateway record: everything the gateway receives
    with it, so the gateway can recompute the hash of the value it holds. ``kind`` is ``provenance``, or
    ``provenance_backfill`` for a row written before the ledger existed and appended later."""
    if isinstance(value, float):
        raise TypeError("the ledger's records hold no floats")
    if kind not in FIELD_KINDS:
        raise ValueError(kind)
    return {"v": VERSION, "kind": kind, "provenance_id": provenance_id, "sync_run_id": sync_run_id,
            "target_system": target_system, "target_record": target_record, "field": field, "value": value,
            "source_system": source_system, "source_record": source_record, "source_version": int(source_version),
            "observed_seq": int(observed_seq), "retrieved_at": utc_text(retrieved_at), "matched_by": matched_by}


_TEMPLATE = ('\x00{"field":%s,"kind":"%s","matched_by":%s,"observed_seq":%d,"provenance_id":%s,'
             '"retrieved_at":"%s","source_record":%s,"source_system":%s,"source_version":%d,"sync_run_id":%s,'
             '"target_record":%s,"target_system":%s,"v":1,"value":%s}')  # 0x00: the leaf prefix
_CONSTANTS = {None: "null", True: "true", False: "false"}


def value_text(value: FieldValue) -> str:
    """The canonical JSON of one record value."""
    if value is None or value is True or value is False:
        return _CONSTANTS[value]
    if isinstance(value, str):
        return _encode(value)  # type: ignore[no-any-return]
    if isinstance(value, int):
        return str(int(value))
    raise TypeError("the ledger's records hold strings, integers, booleans or null")


def field_record_hash(provenance_id: str, sync_run_id: str, target_system: str, target_record: str, field: str,
                      value: FieldValue, source_system: str, source_record: str, source_version: int,
                      observed_seq: int, retrieved_at_text: str, matched_by: str, kind: str = KIND_PROVENANCE
                      ) -> bytes:
    """``record_hash(field_record(...))`` without building the dict: the same bytes, written directly (for
    verifying millions of records; ``retrieved_at_text`` is ``utc_text(retrieved_at)``). Tested equal."""
    if kind not in FIELD_KINDS:
        raise ValueError(kind)
    enc = _encode
    text = _TEMPLATE % (enc(field), kind, enc(matched_by), observed_seq, enc(provenance_id), retrieved_at_text,
                        enc(source_record), enc(source_system), source_version, enc(sync_run_id), enc(target_record),
                        enc(target_system), value_text(value))
    return hashlib.sha256(text.encode("utf-8")).digest()


def item_record_hasher(provenance_id: str, sync_run_id: str, target_system: str, target_record: str,
                       source_system: str, source_record: str, source_version: int, observed_seq: int,
                       retrieved_at_text: str, matched_by: str, kind: str = KIND_PROVENANCE
                       ) -> Callable[[str, FieldValue], bytes]:
    """``field_record_hash`` for the values of one result item, which share everything but the field and the value:
    the shared part of the canonical text is written once, each value's hash then joins five strings. The same
    bytes (tested equal)."""
    if kind not in FIELD_KINDS:
        raise ValueError(kind)
    enc = _encode
    # the template with marks where the field and the value go (encode_basestring escapes control characters, so
    # no encoded string holds a raw \x02 or \x03)
    text = _TEMPLATE % ("\x02", kind, enc(matched_by), observed_seq, enc(provenance_id), retrieved_at_text,
                        enc(source_record), enc(source_system), source_version, enc(sync_run_id), enc(target_record),
                        enc(target_system), "\x03")
    head, rest = text.split("\x02")
    middle, tail = rest.split("\x03")
    sha, value_text_ = hashlib.sha256, value_text

    def field_hash(field: str, value: FieldValue) -> bytes:
        return sha((head + enc(field) + middle + value_text_(value) + tail).encode("utf-8")).digest()

    return field_hash


# ``_TEMPLATE`` after the field, the batch's parts as %-marks, the item's as %%-marks (filled in a second step)
_BATCH_TEMPLATE = (',"kind":"%s","matched_by":%%s,"observed_seq":%d,"provenance_id":%%s,"retrieved_at":"%s",'
                   '"source_record":%%s,"source_system":%%s,"source_version":%%d,"sync_run_id":%s,'
                   '"target_record":%%s,"target_system":%s,"v":1,"value":')
BatchHashes = Callable[[str, str, str, str, int, str, Mapping[str, FieldValue]], dict[str, str]]


def batch_record_hasher(sync_run_id: str, target_system: str, observed_seq: int, retrieved_at_text: str,
                        kind: str = KIND_PROVENANCE) -> BatchHashes:
    """``field_record_hash`` (hex) of every value of the items of one result batch, which share their run, target
    system, sequence and retrieval time: those parts of the canonical text are written once per batch, each item's
    once per item (its strings that repeat, the source system and the match key, once per batch too), and each
    value's hash then joins five strings. Returns ``hashes(provenance_id, target_record, source_system,
    source_record, source_version, matched_by, values) -> {field: hex record hash}``. The same bytes (tested
    equal)."""
    if kind not in FIELD_KINDS:
        raise ValueError(kind)
    enc, sha, value_text_ = _encode, hashlib.sha256, value_text
    # the template with the item's parts left as %-marks and the batch's filled in (literal % doubled)
    batch_template = _BATCH_TEMPLATE
    item_template = batch_template % (kind, observed_seq, retrieved_at_text.replace("%", "%%"),
                                      enc(sync_run_id).replace("%", "%%"), enc(target_system).replace("%", "%%"))
    texts: dict[str, str] = {}  # JSON text of the strings that repeat (source systems, match keys, field names)
    get, keep = texts.get, texts.setdefault

    def hashes(provenance_id: str, target_record: str, source_system: str, source_record: str, source_version: int,
               matched_by: str, values: Mapping[str, FieldValue]) -> dict[str, str]:
        middle = item_template % (get(matched_by) or keep(matched_by, enc(matched_by)), enc(provenance_id),
                                  enc(source_record), get(source_system) or keep(source_system, enc(source_system)),
                                  source_version, enc(target_record))
        return {field: sha(('\x00{"field":' + (get(field) or keep(field, enc(field))) + middle
                            + value_text_(value) + "}").encode("utf-8")).hexdigest()
                for field, value in values.items()}

    return hashes


def field_record_hasher() -> Callable[[str, str, str, str, str, str, str, str, int, int, str, str, str], bytes]:
    """``field_record_hash`` for a long run of records, taking the value as its ``value_text``: the JSON text of
    the strings that repeat from record to record (run, systems, field names, match key) is kept, not written
    again for each. The same bytes (tested equal); ``kind`` must be one of ``FIELD_KINDS`` (not checked here)."""
    texts: dict[str, str] = {}
    get, keep, enc, template, sha = texts.get, texts.setdefault, _encode, _TEMPLATE, hashlib.sha256

    def field_hash(provenance_id: str, sync_run_id: str, target_system: str, target_record: str, field: str,
                   value_text: str, source_system: str, source_record: str, source_version: int, observed_seq: int,
                   retrieved_at_text: str, matched_by: str, kind: str) -> bytes:
        return sha((template % (
            get(field) or keep(field, enc(field)), kind, get(matched_by) or keep(matched_by, enc(matched_by)),
            observed_seq, enc(provenance_id), retrieved_at_text, enc(source_record),
            get(source_system) or keep(source_system, enc(source_system)), source_version,
            get(sync_run_id) or keep(sync_run_id, enc(sync_run_id)), enc(target_record),
            get(target_system) or keep(target_system, enc(target_system)), value_text)).encode("utf-8")).digest()

    return field_hash


def education_verification_record(*, provenance_id: str, sync_run_id: str, nik_anak: str, periode: str,
                                  version: int, observed_at: datetime, facts_hash: str, payload_hash: str,
                                  status: str, detail: str | None, answered_at: datetime) -> dict[str, object]:
    """The ledger record of one education verification the hub sent to the welfare registry and the registry's
    answer: the child, the period, the version and provenance id sent, the digest of the facts decided
    (``facts_hash``) and SHA-256 of the verification as serialised and sent (``payload_hash``), the answer
    (``status``, ``detail``) and when the hub recorded it."""
    return {"v": VERSION, "kind": KIND_EDUCATION_VERIFICATION, "provenance_id": provenance_id,
            "sync_run_id": sync_run_id, "nik_anak": nik_anak, "periode": periode, "version": int(version),
            "observed_at": utc_text(observed_at), "facts_hash": facts_hash, "payload_hash": payload_hash,
            "status": status, "detail": detail, "answered_at": utc_text(answered_at)}


def access_log_head_record(*, seq: int, hash: str) -> dict[str, object]:
    """The ledger record anchoring the access log's chain at its entry ``seq`` (whose chain hash is ``hash``)."""
    return {"v": VERSION, "kind": KIND_ACCESS_LOG_HEAD, "seq": int(seq), "hash": hash}


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def record_hash(record: Mapping[str, object]) -> bytes:
    return leaf_hash(canonical(record))


def chain_step(previous: bytes, record: bytes) -> bytes:
    return hashlib.sha256(previous + record).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed leaves. Level by level, an odd last node carried up unchanged: the same
    tree as the RFC's split at the largest power of two below n. The empty tree is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]): the audit path of leaf ``index``, leaf side first."""
    if not 0 <= index < len(leaves):
        raise IndexError(index)
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_path(leaves[:k], index), merkle_root(leaves[k:])]
    return [*inclusion_path(leaves[k:], index - k), merkle_root(leaves[:k])]


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or None when the proof's shape is wrong."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion(leaf, index, size, path) == root


def checkpoint_body(*, first_seq: int, last_seq: int, root: str, chain_hash: str, previous: str,
                    created_at: datetime, key_id: str) -> dict[str, object]:
    """The fields a checkpoint signs (hex hashes). ``previous``: the hash of the previous checkpoint's message
    (zeros for the first), so checkpoints form a chain of their own."""
    return {"v": VERSION, "log": LOG_NAME, "first_seq": int(first_seq), "last_seq": int(last_seq), "root": root,
            "chain_hash": chain_hash, "previous": previous, "created_at": utc_text(created_at), "key_id": key_id}


def checkpoint_message(body: Mapping[str, object]) -> bytes:
    return canonical(body)


def checkpoint_hash(body: Mapping[str, object]) -> str:
    return hashlib.sha256(checkpoint_message(body)).hexdigest()


def key_id(raw_public_key: bytes) -> str:
    """A short name of an Ed25519 public key: the first 16 hex digits of SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]
