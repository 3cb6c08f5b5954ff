"""The whole system on real sockets: four service processes, a generated world, two sync runs.

The oracle is the world's ground truth: for every student whose own or a parent's NIK is correct and
present in the registry, the PKH value written must equal the truth (zero wrong values), every written
value must carry provenance naming its source, and a second run over unchanged data writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jembatan.changes import edit_peserta_didik, graduate_family, pkh_family_of_an_emis_recipient
from jembatan.evaluate import evaluate_world, observe
from jembatan.ledger_audit import check_gateways, check_proof
from jembatan.stack import SERVICES, Stack
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.contracts.common import MatchKey
from shared.contracts.hub import RunStatus, SourceSystem, SyncRunCreate
from worldgen.config import ErrorRates, WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    # The default error model, but with NIKs missing more often so that a world this small still holds
    # students with no NIK at all (5% x 8% x 12% would leave a 600-family world with none).
    rates = ErrorRates(child_nik_missing=0.25, mother_nik_missing=0.3, father_nik_missing=0.4)
    generate_world(WorldConfig(seed=20261122, n_families=600, error_rates=rates), out)
    return out


@pytest.fixture(scope="module")
def stack(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack.on_free_ports(tmp_path_factory.mktemp("stack"), log_level="INFO").serving(world, clean_stop=True) as s:
        yield s


@pytest.fixture(scope="module")
def clients(stack: Stack) -> Iterator[tuple[HubClient, EmisClient, DapodikClient]]:
    hub = HubClient(stack.url("sync_hub"), stack.hub_operator)
    emis = EmisClient(stack.url("emis_gateway"), stack.creds.hub_to_emis)
    dapodik = DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik)
    yield hub, emis, dapodik
    for c in (hub, emis, dapodik):
        c.close()


@pytest.fixture(scope="module")
def first_run(clients: tuple[HubClient, EmisClient, DapodikClient]):  # type: ignore[no-untyped-def]
    hub, _, _ = clients
    return hub.wait(hub.start_run().id, timeout=600)


def test_every_service_refuses_calls_without_a_credential(stack: Stack) -> None:
    paths = {"kemensos_mock": "/api/v1/kip", "emis_gateway": "/api/v1/siswa",
             "dapodik_gateway": "/api/v1/peserta-didik", "sync_hub": "/api/v1/sync-runs"}
    with httpx.Client(timeout=60) as http:  # the first /openapi.json builds the schema: slow on a busy machine
        for service, path in paths.items():
            assert http.get(stack.url(service) + path).status_code == 401
            assert http.get(stack.url(service) + path, headers={"Authorization": "Bearer nope-nope-nope-nope"}
                            ).status_code == 401
            assert http.get(stack.url(service) + "/health").status_code == 200
            assert http.get(stack.url(service) + "/openapi.json").status_code == 200


def test_first_sync_writes_the_true_pkh_status(first_run, world: Path, clients) -> None:  # type: ignore[no-untyped-def]
    _, emis, dapodik = clients
    assert first_run.status is RunStatus.SUCCEEDED, first_run.errors
    ev = evaluate_world(world, emis, dapodik)
    assert ev.students == first_run.students_read
    # every student record of both gateways ends the run with an outcome, those Dapodik holds back too
    assert ev.without_outcome == 0 and ev.not_listed == 0, ev.without_outcome_examples
    assert sum(ev.held_back.values()) > 0 and ev.held_back_linked_right == ev.held_back_linkable > 0
    assert sum(first_run.outcomes.values()) == first_run.students_read
    assert ev.with_correct_key > 100
    assert ev.correct_key_wrong == 0, ev.wrong_examples
    assert ev.pkh_wrong == 0, ev.wrong_examples
    assert ev.coverage >= 0.97, f"only {ev.coverage:.2%} of students with a correct NIK got their status"
    assert ev.kip_right > 0 and ev.kip_wrong == 0
    for outcome in ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT", "NOT_REGISTERED", "NIK_INVALID", "NO_NIK"):
        assert first_run.outcomes.get(outcome, 0) > 0, f"no student ended with {outcome}"


def test_every_written_value_has_provenance_naming_its_source(first_run, clients) -> None:  # type: ignore[no-untyped-def]
    hub, emis, dapodik = clients
    observed = observe(emis, dapodik)
    at_gateways = 0
    sample: list[tuple[str, str]] = []
    for (system, student_id), o in observed.items():
        for name, p in o.provenance.items():
            at_gateways += 1
            assert p.source_system.startswith(("kemensos.", "jembatan.")) and p.source_record
            assert p.sync_run_id == first_run.id and p.field == name
        if o.provenance and len(sample) < 25:
            sample.append((system, student_id))
        if o.outcome is not None:
            assert o.provenance, f"{system}/{student_id} has an outcome but no provenance"
    assert at_gateways == first_run.provenance_records == first_run.values_written > 0
    for system, student_id in sample:  # the hub keeps the same records the gateway shows
        at_hub = {(r.field, r.source_record) for r in hub.provenance(SourceSystem(system), student_id)}
        shown = {(f, p.source_record) for f, p in observed[(system, student_id)].provenance.items()}
        assert shown <= at_hub


def test_the_ledger_verifies_after_the_run_and_every_gateway_value_is_in_it(first_run, clients) -> None:  # type: ignore[no-untyped-def]
    """The hub's provenance ledger after the run: chain, records and signed checkpoints verify; every value the
    gateways hold with a record hash is the value ledgered; one value's inclusion proof checks out independently."""
    hub, emis, dapodik = clients
    report = hub.ledger_verify()
    assert report.ok, report.problems
    # besides the values, the run's education verifications (and the access log's head, if anyone read personal data)
    assert report.by_kind["provenance"] == first_run.provenance_records > 0 and report.unchecked_tail == 0
    assert report.entries == sum(report.by_kind.values())
    answers = ("APPLIED", "UNCHANGED", "STALE", "NOT_FOUND", "REJECTED")  # each answer recorded is one entry
    answered = sum(first_run.verifications.get(k, 0) for k in answers)
    assert report.by_kind.get("education_verification", 0) == answered
    audit = check_gateways(hub, emis, dapodik)
    assert audit.ok and audit.values == report.by_kind["provenance"] and audit.without_hash == 0, (audit.changed[:3],
                                                                                      audit.not_in_ledger[:3])
    siswa = next(s for s in emis.iter_students(500) if s.provenance)
    proof = hub.ledger_proof(siswa.provenance[0].provenance_id, siswa.provenance[0].field)
    assert check_proof(proof, hub.ledger_public_key().public_key) == []


def test_second_sync_over_unchanged_data_writes_nothing(first_run, clients) -> None:  # type: ignore[no-untyped-def]
    hub, _, _ = clients
    second = hub.wait(hub.start_run().id, timeout=600)
    assert second.status is RunStatus.SUCCEEDED, second.errors
    assert second.values_written == 0 and second.provenance_records == 0
    # incremental: nothing changed at the gateways or the registry, so nothing is read and no work unit planned
    assert second.students_from_feed == 0 and second.students_removed == 0 and not second.full
    assert second.progress is not None and second.progress.units_total == 0 and second.students_read == 0
    # a forced full run decides every student again: the same outcomes, nothing to write
    full = hub.wait(hub.start_run(SyncRunCreate(full=True)).id, timeout=600)
    assert full.status is RunStatus.SUCCEEDED, full.errors
    assert full.outcomes == first_run.outcomes and full.values_written == 0 and full.values_unchanged > 0


def test_logs_never_hold_a_full_nik_or_kk(stack: Stack, first_run, world: Path) -> None:  # type: ignore[no-untyped-def]
    """UU PDP: every service logs through the masking formatter; no 16-digit number leaves unmasked."""
    import re

    from worldgen.truth import read_ground_truth

    secrets = {t.true_nik for t in read_ground_truth(world / "ground_truth.jsonl")}
    logs = {p.name: p.read_text() for p in (stack.workdir / "logs").glob("*.log")}
    assert set(logs) == {f"{s}.log" for s in SERVICES} and all(logs.values())
    for name, text in logs.items():
        assert not re.search(r"(?<!\d)\d{16}(?!\d)", text), f"{name} holds an unmasked 16-digit number"
        assert not any(nik in text for nik in secrets)


def test_kip_numbers_replace_kps_numbers_with_history_kept(first_run, stack: Stack, clients) -> None:  # type: ignore[no-untyped-def]
    """Issue 4: on sync the KIP number replaces the KPS number, and the replaced value stays in history."""
    _, _, dapodik = clients
    with_kip = [p for p in dapodik.iter_students(1000) if p.no_kip and any(x.field == "no_kip" for x in p.provenance)]
    assert with_kip, "no KIP number was written"
    for p in with_kip[:40]:
        assert p.penerima_kip and p.no_kps == p.no_kip
        riwayat = httpx.get(f"{stack.url('dapodik_gateway')}/api/v1/peserta-didik/{p.peserta_didik_id}/riwayat",
                            headers={"Authorization": f"Bearer {stack.creds.operator}"})
        assert riwayat.status_code == 200, riwayat.text
        changes = [r for r in riwayat.json() if r["field"] == "no_kps" and r["new_value"] == p.no_kip]
        assert changes and changes[-1]["provenance_id"], "the replaced KPS number is not in the history"


def test_emis_reasons_match_the_ground_truth(first_run, world: Path, clients) -> None:  # type: ignore[no-untyped-def]
    """Issue 4: the reason EMIS shows for each student agrees with the world's truth."""
    from worldgen.truth import read_ground_truth

    _, emis, _ = clients
    truth = {t.student_id: t for t in read_ground_truth(world / "ground_truth.jsonl") if t.system == "emis"}
    checked = 0
    for s in emis.iter_students(1000):
        t, reason = truth[s.siswa_id], s.pkh.status_pkh
        assert reason is not None, f"{s.siswa_id} has no reason"
        if reason.value == "PKH_RECIPIENT":
            assert t.in_registry and t.pkh_active
        elif reason.value == "NOT_PKH_RECIPIENT":
            assert t.in_registry and not t.pkh_active
        elif reason.value == "NO_NIK":
            assert not (s.nik or s.nik_ibu or s.nik_ayah or s.nik_wali)
        checked += 1
    assert checked == len(truth) > 0


def test_after_small_changes_the_next_run_reads_only_them_and_writes_only_what_follows(  # type: ignore[no-untyped-def]
        first_run, stack: Stack, clients) -> None:
    """Issue 4: a change feed with a resume cursor. One family leaves PKH in the registry, one Dapodik record is
    edited, another is held back by validation: the next run reads the two records (the held-back one with its
    findings, decided on its other keys) and writes exactly the values the registry change implies, each with
    provenance naming the family at its new version, and the held-back record's outcome naming its rule.
    (Last in this module: it changes the world the tests above check against its ground truth.)"""
    hub, emis, dapodik = clients
    quiet = hub.wait(hub.start_run().id, timeout=600)
    assert quiet.status is RunStatus.SUCCEEDED and quiet.students_from_feed == 0 and quiet.values_written == 0

    siswa_id, no_kk = pkh_family_of_an_emis_recipient(emis)
    family_students = {(o_sys, sid) for (o_sys, sid), o in observe(emis, dapodik).items()
                       if any(p.source_record == f"keluarga/{no_kk}" for p in o.provenance.values())}
    version = graduate_family(stack, no_kk)
    others = [p for p in dapodik.iter_students(1000)
              if p.nik and (SourceSystem.DAPODIK.value, p.peserta_didik_id) not in family_students][:2]
    edited, held = others[0], others[1]
    edit_peserta_didik(stack, edited.peserta_didik_id, {"tempat_lahir": "Bogor Barat"})
    edit_peserta_didik(stack, held.peserta_didik_id, {"nik": "1234567890123456"})  # INVALID: held back

    run = hub.wait(hub.start_run().id, timeout=600)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    assert run.students_from_feed == 2 and run.students_removed == 0
    # only the regions of what changed are decided again, the student held back among them
    decided = {(o.system.value, o.student_id): o for o in hub.outcomes(run.id, limit=1000).items}
    assert 0 < run.students_read == len(decided)
    assert {("dapodik", edited.peserta_didik_id), ("dapodik", held.peserta_didik_id), *family_students} <= set(decided)
    held_outcome = decided[("dapodik", held.peserta_didik_id)]
    assert "nik: placeholder" in (held_outcome.detail or "") and held_outcome.matched_by is not MatchKey.NIK
    assert run.values_written == run.provenance_records > 0
    after = observe(emis, dapodik)
    written = {(system, sid): {f: p for f, p in o.provenance.items() if p.sync_run_id == run.id}
               for (system, sid), o in after.items()}
    written = {k: v for k, v in written.items() if v}
    held_key = (SourceSystem.DAPODIK.value, held.peserta_didik_id)
    held_written = written.pop(held_key, {})
    # the held-back record: its outcome now names the NIK not used (its family, found by another key, is unchanged)
    assert set(held_written) <= {"status_padan", "keterangan_padan", "penerima_kps", "no_kps"}
    assert after[held_key].outcome == held_outcome.outcome.value
    assert set(written) <= family_students and (SourceSystem.EMIS.value, siswa_id) in written
    assert sum(len(v) for v in written.values()) + len(held_written) == run.values_written
    for fields in written.values():
        for p in fields.values():
            assert p.source_record == f"keluarga/{no_kk}" and p.source_version == version
    siswa = emis.get_student(siswa_id)
    assert siswa.pkh.penerima_pkh is False and siswa.pkh.status_pkh is not None
    assert siswa.pkh.status_pkh.value == "NOT_PKH_RECIPIENT"
    for sid_at_hub in hub.provenance(SourceSystem.EMIS, siswa_id):  # the hub keeps the same records
        if sid_at_hub.sync_run_id == run.id:
            assert sid_at_hub.source_version == version

    again = hub.wait(hub.start_run().id, timeout=600)
    assert again.students_from_feed == 0 and again.values_written == 0
