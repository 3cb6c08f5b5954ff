"""The provenance ledger: verifying a large ledger, and what appending costs the hub's push.

    .venv/bin/python bench/bench_ledger.py verify [--records 1000000] [--db sqlite|postgres|URL] [--key PEM]
    .venv/bin/python bench/bench_ledger.py push [--batches 40] [--batch 500] [--pairs 2] [--db sqlite|postgres|URL]

``verify``: fills a fresh hub database with N synthetic provenance rows (3 fields per item, as a PKH item), appended
to the ledger in batches of 1,500 with a signed checkpoint every 10,000 entries (the real code:
``ledger.service.append_provenance`` / ``checkpoint``), then times ``ledger.verify.verify`` (every record
recomputed from its provenance row, the chain, every checkpoint's Merkle root and signature, the head, unledgered
rows) and, apart, the chain and Merkle roots alone over the stored hashes.

``push``: the hub side of a push, per batch of ``--batch`` items of 3 values each, in the transactions the pusher
uses (``sync/push.py``): the outbox rows written, then the answer settled (outbox updated, provenance rows
inserted) — without the ledger, and with it (record hashes stamped on the items, the entries appended in the
settling transaction under the head lock, with the stamped hashes as the pusher passes them). Figures: items/s
over all batches (wall), median batch; ``--pairs`` alternating runs without/with, and the median of the pairs'
ratios. The gateway's
side (``bench_gateway_push.py``) and the network are not included. Load average before and after. No test asserts
any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from services.sync_hub.ledger import keys
from services.sync_hub.ledger import repository as repo
from services.sync_hub.ledger import service as ledger
from services.sync_hub.ledger.verify import verify
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.runs.models import SyncRunRow
from shared import ledger_hash as lh
from shared.contracts.common import HubResultItem, MatchKey, Outcome, Provenance
from shared.db import SQLITE_IMMEDIATE, make_engine, migrate, session_scope

AT = datetime(2026, 5, 1, 3, 4, 5, 678901, tzinfo=UTC)
FIELDS = (("status_pkh", "PKH_RECIPIENT"), ("penerima_pkh", True), ("periode_pkh", "2026-T2"))


def items(n: int) -> list[HubResultItem]:
    return [HubResultItem(student_id=f"S-{uuid.uuid4().hex[:12]}", outcome=Outcome.PKH_RECIPIENT,
                          outcome_detail="family found by nik; PKH AKTIF", values={"penerima_pkh": True,
                                                                                    "periode_pkh": "2026-T2"},
                          provenance=Provenance(provenance_id=str(uuid.uuid4()), sync_run_id="run-bench",
                                                source_system="kemensos.dtsen", source_record=f"keluarga/{i}",
                                                source_version=i, observed_seq=99, retrieved_at=AT,
                                                matched_by=MatchKey.NIK)) for i in range(n)]


def rows_of(batch: list[HubResultItem], written_at: datetime) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for item in batch:
        p = item.provenance
        values = {**item.values, "status_pkh": item.outcome.value if item.outcome else None}
        out += [{"id": str(uuid.uuid4()), "provenance_id": p.provenance_id, "sync_run_id": p.sync_run_id,
                 "target_system": "emis", "target_record": item.student_id, "field": name,
                 "value_json": json.dumps(value), "source_system": p.source_system, "source_record": p.source_record,
                 "source_version": p.source_version, "observed_seq": p.observed_seq, "retrieved_at": p.retrieved_at,
                 "matched_by": p.matched_by.value, "written_at": written_at} for name, value in values.items()]
    return out


def database(spec: str):  # type: ignore[no-untyped-def]
    if spec == "postgres":
        from shared.testing import fresh_postgres_database
        return fresh_postgres_database()
    if spec == "sqlite":
        from contextlib import contextmanager

        @contextmanager
        def tmp():  # type: ignore[no-untyped-def]
            with tempfile.TemporaryDirectory() as d:
                yield f"sqlite:///{Path(d) / 'hub.db'}"
        return tmp()
    from contextlib import nullcontext
    return nullcontext(spec)


def _migrations():  # type: ignore[no-untyped-def]
    """Imported here, not at the top: verification's second process imports this script again (spawn), and the
    hub app this pulls in would delay its start by more than a second, which the hub itself does not pay."""
    from services.sync_hub.main import MIGRATIONS

    return MIGRATIONS


def bench_verify(url: str, records: int, key_file: Path | None = None) -> dict[str, object]:
    """With ``key_file`` (kept across runs) and a database already holding ``records`` entries, the fill is
    skipped: the same ledger is verified again."""
    migrate(_migrations(), url)
    with tempfile.TemporaryDirectory() as d:
        key = key_file or Path(d) / "k.pem"
        if not key.exists():
            keys.generate(key)
        signer = keys.signer(key, url)
    engine = make_engine(url).execution_options(**{SQLITE_IMMEDIATE: True})
    with session_scope(engine) as session:
        present = int(session.execute(sa.select(sa.func.count()).select_from(repo.ENTRY)).scalar_one())
    t = time.perf_counter()
    per_batch = 500
    written = present if present == records and key_file is not None else 0
    while written < records:
        batch = items(min(per_batch, (records - written + 2) // 3))
        rows = rows_of(batch, AT)[: records - written]
        with session_scope(engine) as session:
            prov_repo.add_provenance(session, rows)
            ledger.append_provenance(session, rows)
        written += len(rows)
        ledger.maybe_checkpoint(engine, signer, 10_000)
    ledger.checkpoint(engine, signer)
    fill = time.perf_counter() - t
    load = os.getloadavg()
    with session_scope(engine) as session:
        report = verify(session, {signer.key_id: keys.public_key(signer.public.public_key)})
    assert report.ok and report.entries == records, report.problems[:3]
    # the chain and the roots alone, over the stored hashes (what an auditor with an export of the ledger does)
    t = time.perf_counter()
    with session_scope(engine) as session:
        hashes = [bytes.fromhex(h) for h in session.execute(sa.select(repo.ENTRY.c.record_hash)
                                                             .order_by(repo.ENTRY.c.seq)).scalars()]
        read = time.perf_counter() - t
        chain = lh.ZERO
        for h in hashes:
            chain = lh.chain_step(chain, h)
        for cp in repo.checkpoints(session):
            lh.merkle_root(hashes[cp.first_seq - 1:cp.last_seq])
    chain_only = time.perf_counter() - t
    engine.dispose()
    return {"records": records, "fill_s": round(fill, 1), "verify_s": report.seconds, "checkpoints": report.checkpoints,
            "hashes_read_s": round(read, 2), "chain_and_roots_s": round(chain_only, 2),
            "load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in os.getloadavg()]}


def bench_push(url: str, batches: int, size: int, with_ledger: bool) -> dict[str, object]:
    migrate(_migrations(), url)
    with tempfile.TemporaryDirectory() as d:
        keys.generate(Path(d) / "k.pem")
        signer = keys.signer(Path(d) / "k.pem", url)
    engine = make_engine(url).execution_options(**{SQLITE_IMMEDIATE: True})
    with session_scope(engine) as session:  # a run row for the outbox's foreign key
        session.add(SyncRunRow(id="run-bench", status="RUNNING", trigger="bench", systems=[], created_at=AT))
    load = os.getloadavg()[0]
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(batches):
        t = time.perf_counter()
        batch = items(size)
        if with_ledger:
            for item in batch:
                values = {**item.values, "status_pkh": item.outcome.value if item.outcome else None}
                ledger.stamp(item, "emis", values)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            prov_repo.add_outbox(session, [
                {"id": i.provenance.provenance_id, "sync_run_id": "run-bench", "unit_id": None,
                 "target_system": "emis", "student_id": i.student_id, "payload": i.model_dump_json(),
                 "status": "PENDING", "created_at": now} for i in batch])
        rows = rows_of(batch, now)
        with session_scope(engine) as session:
            prov_repo.settle_outbox(session, [{"b_id": i.provenance.provenance_id, "status": "APPLIED",
                                               "detail": None, "sent_at": now} for i in batch])
            prov_repo.add_provenance(session, rows)
            if with_ledger:  # the hashes stamped on the items, as the pusher passes them
                stamped = {i.provenance.provenance_id: i.provenance.record_hashes for i in batch}
                ledger.append_provenance(session, rows, [stamped[str(r["provenance_id"])].get(str(r["field"]))
                                                         for r in rows])
                uncovered = ledger.appended_pending(session)
        if with_ledger:
            ledger.maybe_checkpoint(engine, signer, 10_000, uncovered)
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - start
    engine.dispose()
    return {"ledger": with_ledger, "items_per_s": round(batches * size / wall),
            "values_per_s": round(batches * size * 3 / wall),
            "median_batch_ms": round(statistics.median(times) * 1000, 1),
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("verify", "push"))
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=2, help="push: runs without then with the ledger")
    parser.add_argument("--key", type=Path, default=None,
                        help="verify: the signing key file, kept (with --db URL of a filled database: no refill)")
    args = parser.parse_args()
    if args.what == "verify":
        with database(args.db) as url:
            print(json.dumps({"db": args.db, **bench_verify(url, args.records, args.key)}))
        return
    rates: dict[bool, list[int]] = {False: [], True: []}
    ratios: list[float] = []
    for _ in range(args.pairs):  # alternating, so a load change on the shared machine hits both alike
        for with_ledger in (False, True):
            with database(args.db) as url:
                result = bench_push(url, args.batches, args.batch, with_ledger)
            rates[with_ledger].append(int(result["items_per_s"]))  # type: ignore[call-overload]
            print(json.dumps({"db": args.db, **result}), flush=True)
        ratios.append(rates[True][-1] / rates[False][-1])
    print(json.dumps({"db": args.db, "summary": True, "pairs": args.pairs,
                      "median_items_per_s_without": statistics.median(rates[False]),
                      "median_items_per_s_with": statistics.median(rates[True]),
                      "median_ratio_with_over_without": round(statistics.median(ratios), 2),
                      "ratios": [round(r, 2) for r in ratios]}), flush=True)


if __name__ == "__main__":
    main()
