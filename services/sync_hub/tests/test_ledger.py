"""The provenance ledger on both databases: appends, checkpoints, verification, and tampering of every kind named
(a value's byte flipped, a row deleted, two rows reordered, a checkpoint replaced); concurrent appenders from two
processes keep one valid chain."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.ledger import keys
from services.sync_hub.ledger import repository as ledger_repo
from services.sync_hub.ledger import service as ledger
from services.sync_hub.ledger.verify import verify
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.provenance import repository as prov_repo
from shared import ledger_hash as lh
from shared.contracts.ledger import LedgerReport
from shared.db import SQLITE_IMMEDIATE, make_engine, migrate, session_scope


def provenance_rows(n: int, tag: str = "") -> list[dict[str, object]]:
    at = datetime(2026, 5, 1, 3, 4, 5, 678901, tzinfo=UTC)
    return [{"id": str(uuid.uuid4()), "provenance_id": str(uuid.uuid4()), "sync_run_id": "run-1",
             "target_system": "emis", "target_record": f"S-{tag}{i}", "field": "status_pkh",
             "value_json": json.dumps("PKH_RECIPIENT" if i % 2 else "NOT_PKH_RECIPIENT"),
             "source_system": "kemensos.dtsen", "source_record": f"keluarga/{i}", "source_version": i,
             "observed_seq": 10, "retrieved_at": at, "matched_by": "nik", "written_at": at} for i in range(n)]


def write(engine: Engine, rows: list[dict[str, object]]) -> None:
    with session_scope(engine) as session:
        prov_repo.add_provenance(session, rows)
        ledger.append_provenance(session, rows)


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[tuple[Engine, keys.Signer]]:
    migrate(MIGRATIONS, db_url)
    keys.generate(tmp_path / "k.pem")
    engine = make_engine(db_url).execution_options(**{SQLITE_IMMEDIATE: True})
    yield engine, keys.signer(tmp_path / "k.pem", db_url)
    engine.dispose()


def check(engine: Engine, signer: keys.Signer) -> LedgerReport:
    with session_scope(engine) as session:
        return verify(session, {signer.key_id: keys.public_key(signer.public.public_key)})


def exec_(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.fixture
def ledgered(hub: tuple[Engine, keys.Signer]) -> tuple[Engine, keys.Signer, list[dict[str, object]]]:
    """25 provenance rows in three batches, checkpoints over 1..10 and 11..20, a tail of 5."""
    engine, signer = hub
    rows = provenance_rows(25)
    write(engine, rows[:10])
    ledger.checkpoint(engine, signer)
    write(engine, rows[10:17])
    write(engine, rows[17:20])
    ledger.checkpoint(engine, signer)
    write(engine, rows[20:])
    return engine, signer, rows


def test_an_untouched_ledger_verifies(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, rows = ledgered
    report = check(engine, signer)
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.checkpointed_seq, report.unchecked_tail) == (25, 2, 20, 5)
    assert ledger.checkpoint(engine, signer, min_entries=6) is None  # 5 pending: not yet
    assert ledger.checkpoint(engine, signer) is not None
    assert check(engine, signer).unchecked_tail == 0
    with session_scope(engine) as session:  # a checkpoint's root is the RFC 6962 root of its entries' records
        proof = ledger.proof(session, signer, str(rows[13]["provenance_id"]), "status_pkh")
    assert (proof.seq, proof.checkpoint.first_seq, proof.tree_size) == (14, 11, 10)
    assert lh.record_hash(proof.record).hex() == proof.record_hash
    assert lh.verify_inclusion(bytes.fromhex(proof.record_hash), proof.leaf_index, proof.tree_size,
                               [bytes.fromhex(h) for h in proof.audit_path], bytes.fromhex(proof.checkpoint.root))


def test_a_checkpoint_read_back_and_its_proof_carry_their_time_zone(ledgered) -> None:  # type: ignore[no-untyped-def]
    # SQLite hands a stored time back naive: the checkpoint answered again (POST /ledger/checkpoints with nothing
    # new to sign) and the one in a proof said "2026-12-05T13:40:24.787482", not RFC 3339 (found by schemathesis)
    engine, signer, rows = ledgered
    with session_scope(engine) as session:
        answered = [ledger.to_contract(r) for r in ledger_repo.checkpoints(session)]
        proof = ledger.proof(session, signer, str(rows[0]["provenance_id"]), "status_pkh")
    assert len(answered) == 2
    for checkpoint in [*answered, proof.checkpoint]:
        assert checkpoint.created_at.utcoffset() == timedelta(0)
        assert checkpoint.model_dump(mode="json")["created_at"].endswith("Z")


def test_a_flipped_byte_of_a_value_is_named(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, rows = ledgered
    exec_(engine, "UPDATE provenance SET value_json = :v WHERE id = :id", v='"PKH_RECIPIENS"', id=rows[6]["id"])
    report = check(engine, signer)
    assert not report.ok and report.first_problem is not None
    p = report.first_problem
    assert (p.seq, p.rule, p.record_id, p.provenance_id, p.field) == (7, "record_hash", rows[6]["id"],
                                                                      rows[6]["provenance_id"], "status_pkh")
    assert "PKH" not in p.message  # problems name records, never values


def test_values_of_every_type_and_text_that_needs_escaping_verify_and_one_changed_field_is_named(hub) -> None:  # type: ignore[no-untyped-def]
    """Verification writes each record as the appender did, whatever the value's type and however the strings
    escape (the JSON text of repeated strings is kept from record to record), then a field that repeats in every
    row changed in one row is named there and only there."""
    engine, signer = hub
    values = [None, True, False, 0, -7, "", 'é "kutip" \\ \n\t ☃', "a\u2028b", "PKH_RECIPIENT"]
    rows = provenance_rows(2 * len(values), tag='é"')
    for i, row in enumerate(rows):
        row.update(value_json=json.dumps(values[i % len(values)]), sync_run_id=f"run-{i % 2}",
                   source_system=("kemensos.dtsen", 'x"\t')[i % 2], matched_by=("nik", "no_kk")[i % 2],
                   field=("status_pkh", "no_kip", "ü")[i % 3])
    rows[3]["value_json"] = ' true '  # stored as written by hand: its canonical text is what is ledgered
    write(engine, rows[:10])
    ledger.checkpoint(engine, signer)
    write(engine, rows[10:])
    report = check(engine, signer)
    assert report.ok and report.entries == len(rows), report.problems
    exec_(engine, "UPDATE provenance SET source_system = 'kemensos.dtsen ' WHERE id = :id", id=rows[12]["id"])
    report = check(engine, signer)
    assert report.first_problem is not None and len(report.problems) == 1
    assert (report.first_problem.seq, report.first_problem.rule) == (13, "record_hash")


def test_a_deleted_entry_a_deleted_provenance_row_and_a_deleted_tail_are_named(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, rows = ledgered
    exec_(engine, "DELETE FROM ledger_entry WHERE seq = 12")
    report = check(engine, signer)
    assert report.first_problem is not None and (report.first_problem.seq, report.first_problem.rule) == (12,
                                                                                                           "seq_gap")
    assert {p.rule for p in report.problems} >= {"seq_gap", "chain_hash", "root"}
    assert any(p.rule == "unledgered" and p.record_id == rows[11]["id"] for p in report.problems)

    exec_(engine, "DELETE FROM provenance WHERE id = :id", id=rows[2]["id"])
    p = check(engine, signer).first_problem
    assert p is not None and (p.seq, p.rule, p.record_id) == (3, "record_missing", rows[2]["id"])


def test_the_last_entries_deleted_are_named_by_the_head(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, _ = ledgered
    exec_(engine, "DELETE FROM ledger_entry WHERE seq > 23")
    report = check(engine, signer)
    assert not report.ok and any(p.rule == "head" and p.seq == 25 for p in report.problems)


def test_two_reordered_entries_are_named(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, _ = ledgered
    exec_(engine, "UPDATE ledger_entry SET seq = -1 WHERE seq = 4")
    exec_(engine, "UPDATE ledger_entry SET seq = 4 WHERE seq = 8")
    exec_(engine, "UPDATE ledger_entry SET seq = 8 WHERE seq = -1")
    p = check(engine, signer).first_problem
    assert p is not None and (p.seq, p.rule) == (4, "chain_hash")


def test_a_replaced_checkpoint_is_named(ledgered, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, signer, rows = ledgered
    # rewrite a value, its entry, the chain after it and the checkpoint's root: only the signature is left to fail
    exec_(engine, "UPDATE provenance SET value_json = :v WHERE id = :id", v='"NOT_PKH_RECIPIENT"', id=rows[1]["id"])
    with session_scope(engine) as session:
        chain, leaves = lh.ZERO, []
        for seq, rid, rh in session.execute(sa.text("SELECT seq, record_id, record_hash FROM ledger_entry "
                                                    "WHERE seq <= 10 ORDER BY seq")).all():
            if rid == rows[1]["id"]:
                rh = ledger.record_hash_of_row(session, rid)
            chain = lh.chain_step(chain, bytes.fromhex(rh))
            leaves.append(bytes.fromhex(rh))
            session.execute(sa.text("UPDATE ledger_entry SET record_hash = :h, chain_hash = :c WHERE seq = :s"),
                            {"h": rh, "c": chain.hex(), "s": seq})
        session.execute(sa.text("UPDATE ledger_checkpoint SET root = :r, chain_hash = :c WHERE last_seq = 10"),
                        {"r": lh.merkle_root(leaves).hex(), "c": chain.hex()})
    report = check(engine, signer)
    assert report.first_problem is not None
    assert (report.first_problem.seq, report.first_problem.what, report.first_problem.rule) == (
        10, "checkpoint", "signature")

    # re-signed with another key: named too (the key is not the hub's)
    keys.generate(tmp_path / "other.pem")
    other = keys.signer(tmp_path / "other.pem", "sqlite://")
    with session_scope(engine) as session:
        cp = session.execute(sa.text("SELECT first_seq, last_seq, root, chain_hash, previous, created_at "
                                     "FROM ledger_checkpoint WHERE last_seq = 10")).one()
        body = lh.checkpoint_body(first_seq=cp[0], last_seq=cp[1], root=cp[2], chain_hash=cp[3], previous=cp[4],
                                  created_at=cp[5] if isinstance(cp[5], datetime) else datetime.fromisoformat(cp[5]),
                                  key_id=other.key_id)
        session.execute(sa.text("UPDATE ledger_checkpoint SET key_id = :k, signature = :s WHERE last_seq = 10"),
                        {"k": other.key_id, "s": other.sign(lh.checkpoint_message(body))})
    p = check(engine, signer).first_problem
    assert p is not None and (p.seq, p.rule) == (10, "key_id")


def test_a_deleted_checkpoint_is_named(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, _ = ledgered
    exec_(engine, "DELETE FROM ledger_checkpoint WHERE last_seq = 10")
    rules = {p.rule for p in check(engine, signer).problems}
    assert "range" in rules and "previous" in rules


def _append_many(url: str, tag: str, batches: int) -> None:
    engine = make_engine(url).execution_options(**{SQLITE_IMMEDIATE: True})
    try:
        for b in range(batches):
            write(engine, provenance_rows(7, f"{tag}{b}-"))
    finally:
        engine.dispose()


def at_once(procs: list[multiprocessing.process.BaseProcess]) -> None:
    """Start the processes together and wait for each to end well."""
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


def test_two_processes_appending_at_once_keep_one_valid_chain(hub, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine, signer = hub
    ctx = multiprocessing.get_context("spawn")
    at_once([ctx.Process(target=_append_many, args=(db_url, tag, 15)) for tag in ("a", "b")])
    ledger.checkpoint(engine, signer)
    report = check(engine, signer)
    assert report.ok, report.problems
    assert report.entries == 2 * 15 * 7 and report.unledgered == 0 and report.unchecked_tail == 0


def _sent(n: int) -> list[dict[str, object]]:
    at = datetime(2026, 6, 1, 2, 0, 0, 1, tzinfo=UTC)
    return [{"provenance_id": str(uuid.uuid4()), "sync_run_id": "run-2", "nik_anak": f"31720655118700{i:02d}",
             "periode": "2026-T2", "version": 1, "observed_at": at, "facts_hash": f"{i:064x}",
             "payload": json.dumps({"nik_anak": f"31720655118700{i:02d}", "enrolled": True}),
             "status": "APPLIED" if i else "STALE", "detail": None} for i in range(n)]


def test_education_verifications_are_ledgered_and_a_changed_answer_or_deleted_row_is_named(ledgered) -> None:  # type: ignore[no-untyped-def]
    engine, signer, _ = ledgered
    sent = _sent(3)
    with session_scope(engine) as session:
        written = ledger.append_verifications(session, sent, datetime(2026, 6, 1, 2, 0, 5, tzinfo=UTC))
    ledger.checkpoint(engine, signer)
    report = check(engine, signer)
    assert report.ok, report.problems
    assert (report.entries, report.checkpointed_seq, report.unchecked_tail) == (28, 28, 0)
    with session_scope(engine) as session:
        kinds = dict(session.execute(sa.text("SELECT seq, kind FROM ledger_entry WHERE seq > 25")).all())
        entry = session.execute(sa.text("SELECT record_hash FROM ledger_entry WHERE seq = 26")).scalar_one()
        assert ledger.repo.seqs_of_hashes(session, [entry.upper()]) == {entry: 26}  # the prefix index lookup
    assert set(kinds.values()) == {lh.KIND_EDUCATION_VERIFICATION}
    # the record holds the payload's SHA-256, not the payload: an auditor re-hashes what the registry stored
    record = ledger.verification_record(written[0])
    assert record["payload_hash"] == hashlib.sha256(str(sent[0]["payload"]).encode()).hexdigest()
    assert lh.record_hash(record).hex() == entry

    exec_(engine, "UPDATE ledger_verification SET status = 'APPLIED' WHERE id = :id", id=written[0]["id"])
    p = check(engine, signer).first_problem
    assert p is not None and (p.seq, p.rule, p.record_id, p.provenance_id) == (
        26, "record_hash", written[0]["id"], sent[0]["provenance_id"])
    assert "3172" not in p.message  # named by provenance id, never by NIK

    exec_(engine, "DELETE FROM ledger_verification WHERE id = :id", id=written[1]["id"])
    problems = {(p.seq, p.rule) for p in check(engine, signer).problems}
    assert (27, "record_missing") in problems


def test_provenance_written_before_the_ledger_is_backfilled_and_marked(db_url: str, tmp_path: Path) -> None:
    migrate(MIGRATIONS, db_url, "0012")  # the ledger exists (0011) but these rows were never appended
    engine = make_engine(db_url).execution_options(**{SQLITE_IMMEDIATE: True})
    try:
        old = provenance_rows(4, "old")
        with session_scope(engine) as session:
            prov_repo.add_provenance(session, old)
        migrate(MIGRATIONS, db_url)  # 0014 backfills them
        keys.generate(tmp_path / "k.pem")
        signer = keys.signer(tmp_path / "k.pem", db_url)
        write(engine, provenance_rows(2, "new"))
        ledger.checkpoint(engine, signer)
        report = check(engine, signer)
        assert report.ok and (report.entries, report.unledgered) == (6, 0), report.problems
        with session_scope(engine) as session:
            kinds = [k for (k,) in session.execute(sa.text("SELECT kind FROM ledger_entry ORDER BY seq"))]
            proof = ledger.proof(session, signer, str(old[2]["provenance_id"]), "status_pkh")
        assert kinds == [lh.KIND_PROVENANCE_BACKFILL] * 4 + [lh.KIND_PROVENANCE] * 2
        assert proof.record["kind"] == lh.KIND_PROVENANCE_BACKFILL  # the mark is inside the hashed record
        assert lh.record_hash(proof.record).hex() == proof.record_hash
        # relabelling a backfilled entry as an original write breaks its record hash
        exec_(engine, "UPDATE ledger_entry SET kind = 'provenance' WHERE seq = 2")
        p = check(engine, signer).first_problem
        assert p is not None and (p.seq, p.rule) == (2, "record_hash")
    finally:
        engine.dispose()


def test_the_access_logs_head_is_anchored_at_each_checkpoint_and_a_rewrite_named(hub) -> None:  # type: ignore[no-untyped-def]
    from services.sync_hub.audit import service as audit
    from shared.auth import Principal

    engine, signer = hub
    reviewer = Principal(kind="person", name="sub-1", roles=frozenset({"reviewer"}), display="Rina")
    with session_scope(engine) as session:
        for _ in range(2):
            audit.record(session, reviewer, "GET /api/v1/reviews/{case_id}", "review", audit.Access(
                records=[("review_case", "c1")], niks={"3172065511870016"}))
    write(engine, provenance_rows(3))
    ledger.checkpoint(engine, signer)  # anchors access log entry 2, after the 3 provenance entries
    write(engine, provenance_rows(2, "b"))
    ledger.checkpoint(engine, signer)  # the access log has not moved: nothing anchored again
    report = check(engine, signer)
    assert report.ok and (report.entries, report.checkpointed_seq) == (6, 6), report.problems
    with session_scope(engine) as session:
        anchored = session.execute(sa.text(
            "SELECT seq, record_id FROM ledger_entry WHERE kind = 'access_log_head'")).all()
    assert [tuple(a) for a in anchored] == [(4, "2")]
    # the access log rewritten consistently up to its head (its own chain still verifies): the anchor names it
    exec_(engine, "UPDATE access_log SET hash = :h WHERE seq = 2", h="ab" * 32)
    p = check(engine, signer).first_problem
    assert p is not None and (p.seq, p.rule, p.record_id) == (4, "record_hash", "2")


@pytest.mark.parametrize("tamper", [
    None,
    "UPDATE provenance SET value_json = '\"PKH_RECIPIENS\"' WHERE target_record = 'S-16'",  # entry 17
    "DELETE FROM ledger_entry WHERE seq = 10",  # the first half's last entry
    "DELETE FROM ledger_entry WHERE seq = 11",  # the second half's first entry
    "UPDATE ledger_checkpoint SET signature = '00' || substr(signature, 3) WHERE last_seq = 20",
    "DELETE FROM provenance WHERE target_record = 'S-21'",  # entry 22
])
def test_two_processes_verify_as_one_does(ledgered, tamper: str | None) -> None:  # type: ignore[no-untyped-def]
    """Split at the checkpoint nearest the middle (10: entries 1..10 here, 11..25 in a second process), the report
    names the same first problem as one pass."""
    engine, signer, _ = ledgered
    if tamper:
        exec_(engine, tamper)
    keyset = {signer.key_id: keys.public_key(signer.public.public_key)}
    with session_scope(engine) as session:
        one = verify(session, keyset, workers=1)
    with session_scope(engine) as session:
        two = verify(session, keyset, workers=2, parallel_from=0)
    assert (two.ok, two.entries, two.checkpoints, two.unchecked_tail) == (one.ok, one.entries, one.checkpoints,
                                                                          one.unchecked_tail)
    assert one.ok is (tamper is None), one.problems
    assert two.first_problem is not None or tamper is None
    if tamper:
        assert one.first_problem is not None and two.first_problem is not None
        assert (two.first_problem.seq, two.first_problem.rule) == (one.first_problem.seq, one.first_problem.rule)
