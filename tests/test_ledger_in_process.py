"""The provenance ledger after a real sync and a check, in process, on SQLite and PostgreSQL: it verifies; a value's
inclusion proof checks out with the independent checker; a value edited in a gateway's database behind the hub's
back is found; the checker shares no code with the hub."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from jembatan.ledger_audit import check_gateways, check_proof
from shared.contracts.hub import RunStatus, SourceSystem
from tests.test_sync_in_process import apps, check_emis, loaded  # noqa: F401  (fixtures)


def test_ledger_verifies_after_a_sync_and_a_check_and_a_value_edited_at_a_gateway_is_found(apps) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    hub, ups, _, _ = apps
    run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    ids = [s.siswa_id for s in ups.emis.list_students(limit=20).items]
    check_emis(hub, ups, ids)  # on-demand checks ledger their provenance too (nothing new to write, maybe)
    hub.ledger_checkpoint()

    report = hub.ledger_verify()
    assert report.ok, report.problems
    assert report.entries >= run.provenance_records > 0 and report.unledgered == 0 and report.unchecked_tail == 0

    audit = check_gateways(hub, ups.emis, ups.dapodik)
    assert audit.ok, (audit.changed[:3], audit.not_in_ledger[:3])
    assert 0 < audit.values <= report.entries and audit.without_hash == 0

    # one value's inclusion proof, checked by the independent checker with the key the hub shows
    siswa = next(s for s in ups.emis.iter_students(1000) if any(p.field == "status_pkh" for p in s.provenance))
    held = next(p for p in siswa.provenance if p.field == "status_pkh")
    key = hub.ledger_public_key()
    proof = hub.ledger_proof(held.provenance_id, "status_pkh")
    assert proof.record_hash == held.record_hash and proof.record["value"] == siswa.pkh.status_pkh.value  # type: ignore[union-attr]
    assert check_proof(proof, key.public_key) == []
    forged = proof.model_copy(update={"record": {**proof.record, "value": "NOT_PKH_RECIPIENT"}})
    assert "the record does not hash to the record hash the ledger holds" in check_proof(forged, key.public_key)
    assert check_proof(proof, "00" * 32)  # another key: refused
    hub_record = next(p for p in hub.provenance(SourceSystem.EMIS, siswa.siswa_id)
                      if p.field == "status_pkh" and p.sync_run_id == held.sync_run_id)
    assert hub_record.record_hash == held.record_hash and hub_record.ledger_seq == proof.seq

    # a value changed in the gateway's database directly, behind the hub's back
    emis_db = ups.emis._http.app.state.engine  # type: ignore[attr-defined]
    flipped = "NOT_PKH_RECIPIENT" if siswa.pkh.status_pkh.value == "PKH_RECIPIENT" else "PKH_RECIPIENT"  # type: ignore[union-attr]
    with emis_db.begin() as conn:
        conn.execute(sa.text("UPDATE siswa SET status_pkh = :v WHERE siswa_id = :id"),
                     {"v": flipped, "id": siswa.siswa_id})
    audit = check_gateways(hub, ups.emis, ups.dapodik)
    assert audit.changed == [f"emis {siswa.siswa_id} status_pkh: the value held is not the value the hub wrote "
                             "and ledgered"] and audit.not_in_ledger == []
    assert hub.ledger_verify().ok  # the hub's own ledger is intact: the change is the gateway's


def test_the_independent_checker_imports_nothing_of_the_hub() -> None:
    code = ("import sys, jembatan.ledger_audit; "
            "print(sorted(m for m in sys.modules if m.startswith(('services', 'sqlmodel'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
