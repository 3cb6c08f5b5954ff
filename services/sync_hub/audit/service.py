"""Who read whose personal data: the access log's rules.

Every response of the hub that shows a full NIK, KK number or name appends one entry, in the same transaction
as the read: who (person or client, with roles), when, the route, why (the purpose of the role that grants
the read) and which records, with the NIKs and KK numbers shown (``access_log_subject``, the index of the
who-read-my-data query). Entries are chained: each ``hash`` is SHA-256 over the previous entry's hash and
the entry's canonical content, so editing, removing or reordering an entry breaks the chain at that entry
(``verify`` names it). Truncating the tail is detected only against a head kept elsewhere (``ChainReport.head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import Session

from services.sync_hub.audit import repository as repo
from services.sync_hub.audit.models import AccessLogRow
from services.sync_hub.audit.schemas import AccessEntry, ChainReport, WhoRead
from shared.auth import Principal
from shared.clock import as_utc, utcnow
from shared.nik import mask
from shared.nik import normalise as normalise_nik

GENESIS = "0" * 64


@dataclass
class Access:
    """What one response shows: records (kind, id), and the NIKs and KK numbers in it."""

    records: list[tuple[str, str]] = field(default_factory=list)
    niks: set[str] = field(default_factory=set)
    kks: set[str] = field(default_factory=set)

    def nik(self, *values: str | None) -> None:
        self.niks |= {n for v in values if (n := normalise_nik(v)) and len(n) == 16}

    def kk(self, *values: str | None) -> None:
        self.kks |= {n for v in values if (n := normalise_nik(v)) and len(n) == 16}


def canonical(row: AccessLogRow) -> str:
    """The content an entry's hash covers (everything but the hashes), as canonical JSON."""
    return json.dumps({
        "seq": row.seq, "at": as_utc(row.at).isoformat(), "actor_kind": row.actor_kind, "actor": row.actor,
        "actor_name": row.actor_name, "roles": row.roles, "route": row.route, "purpose": row.purpose,
        "records": json.loads(row.records_json), "subjects": json.loads(row.subjects_json),
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, row: AccessLogRow) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()


def record(session: Session, principal: Principal, route: str, purpose: str, access: Access) -> AccessLogRow:
    """Append one entry (in the caller's transaction: the read and its entry commit together or not at all)."""
    repo.lock_head(session)
    last = repo.head(session)
    prev = last.hash if last is not None else GENESIS
    subjects = {"nik": sorted(access.niks), "no_kk": sorted(access.kks)}
    row = AccessLogRow(
        seq=(last.seq + 1) if last is not None else 1, at=utcnow(), actor_kind=principal.kind,
        actor=principal.name[:200], actor_name=(principal.display or principal.name)[:200],
        roles=",".join(sorted(principal.roles))[:200], route=route[:200], purpose=purpose[:300],
        records_json=json.dumps([{"kind": k, "id": i} for k, i in access.records], sort_keys=True),
        subjects_json=json.dumps(subjects, sort_keys=True), prev_hash=prev, hash="")
    row.hash = entry_hash(prev, row)
    repo.add(session, row, [("nik", n) for n in subjects["nik"]] + [("no_kk", k) for k in subjects["no_kk"]])
    return row


def _entry(row: AccessLogRow) -> AccessEntry:
    return AccessEntry(seq=row.seq, at=as_utc(row.at), actor_kind=row.actor_kind, actor=row.actor,
                       actor_name=row.actor_name, roles=[r for r in row.roles.split(",") if r], route=row.route,
                       purpose=row.purpose, records=json.loads(row.records_json))


def who_read(session: Session, nik: str) -> WhoRead:
    """Every entry whose response showed this NIK in full, oldest first."""
    return WhoRead(nik=mask(nik), reads=[_entry(r) for r in repo.for_subject(session, "nik", nik)])


def verify_rows(rows: Iterable[AccessLogRow]) -> ChainReport:
    """Walk the chain; the first entry whose place, link or hash is wrong is named."""
    prev, expected, n = GENESIS, 1, 0
    for row in rows:
        n += 1
        if row.seq != expected:
            return ChainReport(ok=False, entries=n, first_broken=expected,
                               reason=f"entry {expected} is missing (the next one is {row.seq})")
        if row.prev_hash != prev:
            return ChainReport(ok=False, entries=n, first_broken=row.seq,
                               reason="its prev_hash is not the previous entry's hash")
        if entry_hash(prev, row) != row.hash:
            return ChainReport(ok=False, entries=n, first_broken=row.seq,
                               reason="its content does not hash to its hash (edited)")
        prev, expected = row.hash, expected + 1
    return ChainReport(ok=True, entries=n, head=prev if n else None)


def verify(session: Session) -> ChainReport:
    return verify_rows(repo.in_order(session))
