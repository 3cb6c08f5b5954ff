"""The hub against the three other real apps, in process: the typed clients against their servers
(contract), and the hub's own storage on SQLite and PostgreSQL (``db_url``).

Faster than the e2e tests (no processes), so it also covers the hub API's error paths.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette prefers httpx2 at import; the project pins httpx
    from fastapi.testclient import TestClient

from jembatan.evaluate import evaluate_world
from jembatan.stack import Stack
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.sync import planner as planner_module
from services.sync_hub.sync import unit as unit_module
from services.sync_hub.upstreams import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.contracts.common import HubResultBatch, MatchKey, Outcome
from shared.contracts.hub import CheckRequest, CheckResponse, RunStatus, SourceSystem, SyncRun, SyncRunCreate
from shared.errors import ErrorBody
from shared.http import Rejected
from shared.oidc import LocalIssuer
from shared.testing import NIK_PROBE, path_probes
from tests.inprocess import four_apps
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

BASE = "http://testserver"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stack]:
    """A small world loaded into SQLite files for the three upstream services (via their CLIs)."""
    root = tmp_path_factory.mktemp("inproc")
    generate_world(WorldConfig(seed=5, n_families=150), root / "world")
    stack = Stack(root)
    stack.load_world(root / "world")
    return root / "world", stack


@pytest.fixture
def system(apps: tuple[HubClient, Upstreams, Path, dict[str, TestClient]]) -> tuple[HubClient, Upstreams, Path]:
    return apps[:3]


@pytest.fixture
def apps(loaded: tuple[Path, Stack], db_url: str, tmp_path: Path
         ) -> Iterator[tuple[HubClient, Upstreams, Path, dict[str, TestClient]]]:
    """The four apps in process; also the upstream apps' test clients (registry admin, school operator)."""
    world, template = loaded
    with four_apps(template, tmp_path, db_url) as (hub, ups, _, clients):
        yield hub, ups, world, clients


def test_sync_through_the_hub_api_and_again(system) -> None:  # type: ignore[no-untyped-def]
    hub, ups, world = system
    run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    assert run.trigger == "person:operator" and run.students_read == sum(run.outcomes.values()) > 0
    assert run.values_written == run.provenance_records > 0
    ev = evaluate_world(world, ups.emis, ups.dapodik)
    assert ev.pkh_wrong == 0 and ev.correct_key_wrong == 0, ev.wrong_examples
    # every student record of both gateways has an outcome, held back by Dapodik's validation or not
    assert ev.not_listed == 0 and ev.without_outcome == 0, ev.without_outcome_examples
    assert set(ev.outcomes_by_system) == {"emis", "dapodik"}
    # KIP cards reach their students by NIK or, without a usable NIK, by who the card names (the fallback model's
    # m, fitted on students with their schools' regions): nearly all of them, none wrong
    assert ev.kip_wrong == 0 and ev.kip_right >= 0.9 * ev.kip_truth > 0, (ev.kip_right, ev.kip_truth)

    # outcomes are listed per student, paged, with the key that decided them and a masked KK
    seen, cursor = 0, None
    while True:
        page = hub.outcomes(run.id, cursor=cursor, limit=50)
        seen += len(page.items)
        for o in page.items:
            assert o.no_kk is None or "******" in o.no_kk
            if o.outcome is Outcome.PKH_RECIPIENT:
                assert o.matched_by.value in ("nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk")  # a verified key
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == run.students_read

    again = hub.wait(hub.start_run(SyncRunCreate(systems=[SourceSystem.EMIS])).id, timeout=300, poll=0.05)
    assert again.status is RunStatus.SUCCEEDED and again.values_written == 0 and again.provenance_records == 0
    assert again.systems == [SourceSystem.EMIS]
    assert [r.id for r in hub.list_runs().items] == [again.id, run.id]


def test_hub_api_rejects_bad_input_with_field_and_rule(system) -> None:  # type: ignore[no-untyped-def]
    hub, _, _ = system
    with pytest.raises(Rejected) as exc:
        hub.request("POST", "/api/v1/sync-runs", type(hub.list_runs()), idempotent=False,
                    json={"systems": ["simpatika"]})
    assert exc.value.status == 422 and exc.value.errors[0].field.startswith("systems")
    with pytest.raises(Rejected) as exc:
        hub.request("POST", "/api/v1/sync-runs", type(hub.list_runs()), idempotent=False, json={"sistem": []})
    assert exc.value.status == 422 and exc.value.errors[0].rule == "extra_forbidden"
    with pytest.raises(Rejected) as exc:
        hub.get_run("no-such-run")
    assert exc.value.status == 404 and exc.value.body.error == "NotFound"
    with pytest.raises(Rejected) as exc:
        hub.outcomes("no-such-run")
    assert exc.value.status == 404
    with pytest.raises(Rejected) as exc:
        hub.request("GET", "/api/v1/sync-runs", type(hub.list_runs()), idempotent=True, params={"cursor": "%%%"})
    assert exc.value.status == 422 and exc.value.errors[0].field == "cursor"
    assert hub.list_runs().items == []  # nothing was started by any of it


def test_hub_refuses_unknown_credentials(system) -> None:  # type: ignore[no-untyped-def]
    hub, _, _ = system
    intruder = HubClient(BASE, "not-the-operator-token", http=hub._http.__class__(hub._http.app, base_url=BASE))
    with pytest.raises(Rejected) as exc:
        intruder.start_run()
    assert exc.value.status == 401
    assert hub.list_runs().items == []


def as_gateway(hub: HubClient, client: str = "emis_gateway") -> HubClient:
    """The hub as a gateway (a machine client) calls it, with its own credential."""
    app = hub._http.app  # type: ignore[attr-defined]
    token = app.state.settings.api_tokens[client].get_secret_value()
    return HubClient(BASE, token, http=hub._http.__class__(app, base_url=BASE))


def check_emis(hub, ups, ids: list[str]) -> CheckResponse:  # type: ignore[no-untyped-def]
    """What the EMIS gateway does on "Request Data PKH": send the records, apply the items the hub returns."""
    records = [ups.emis.get_student(i) for i in ids]
    regions = {m.nsm: m.kode_wilayah for m in ups.emis.list_madrasah(None, 1000).items}
    answer = as_gateway(hub).check(CheckRequest(system=SourceSystem.EMIS, siswa=records,
                                    kode_wilayah={r.siswa_id: regions[r.nsm] for r in records if r.nsm in regions}))
    if answer.items:
        ups.emis.post_results(HubResultBatch(sync_run_id=answer.check_id, items=answer.items))
    return answer


def test_on_demand_check_decides_and_the_gateway_writes_in_one_step(system) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _ = system
    run(hub)  # the replica is filled (and a fallback model stored)
    ids = [s.siswa_id for s in ups.emis.list_students(limit=5).items]
    before = {r.id for r in hub.list_runs().items}
    answer = check_emis(hub, ups, ids)
    assert [r.student_id for r in answer.results] == ids and {r.sync_run_id for r in answer.results} == {
        answer.check_id}
    assert {r.id for r in hub.list_runs().items} == before  # a check is not a sync run
    for result in answer.results:
        siswa = ups.emis.get_student(result.student_id)
        assert siswa.pkh.status_pkh is result.outcome
    for item in answer.items:  # the hub holds the provenance of every value it returned
        held = {p.field for p in hub.provenance(SourceSystem.EMIS, item.student_id) if p.sync_run_id == answer.check_id}
        assert set(item.values) <= held and ("status_pkh" in held) == (item.outcome is not None)
    # asking again returns nothing to write
    assert check_emis(hub, ups, ids).items == []


def test_a_checks_values_are_ledgered_with_the_record_hashes_it_returned(apps, db_url: str,  # type: ignore[no-untyped-def]
                                                                       tmp_path: Path) -> None:
    """A check writes its provenance and ledger entries straight through the driver and hashes each value once (the
    hash stamped on the item is the one appended): every entry holds the record hash the gateway keeps with the
    value, and the ledger verifies (chain, record hashes against the stored rows)."""
    from services.sync_hub.ledger import repository as ledger_repo
    from services.sync_hub.ledger.verify import verify
    from services.sync_hub.provenance.models import ProvenanceRow
    from services.sync_hub.replica import service as replica
    from shared.db import session_scope

    hub, ups, _, clients = apps
    engine = clients["hub"].app.state.engine
    replica.refresh(engine, ups.kemensos)  # the replica only: the gateway holds no value yet, the check writes some
    ids = [s.siswa_id for s in ups.emis.list_students(limit=5).items]
    answer = check_emis(hub, ups, ids)
    stamped = {(i.provenance.provenance_id, name): h for i in answer.items
               for name, h in i.provenance.record_hashes.items()}
    assert stamped
    signer = ledger_keys.signer(tmp_path / "ledger.pem", db_url)
    p = ProvenanceRow.__table__.c  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        rows = session.execute(sa.select(p.id, p.provenance_id, p.field).where(p.sync_run_id == answer.check_id)).all()
        entries = ledger_repo.entries_for(session, [r.id for r in rows])
        report = verify(session, {signer.key_id: ledger_keys.public_key(signer.public.public_key)})
    assert {(r.provenance_id, r.field): entries[r.id][1] for r in rows} == stamped
    assert report.ok, report.problems


def test_a_check_of_many_students_answers_each_as_a_check_of_it_alone(apps) -> None:  # type: ignore[no-untyped-def]
    """The gateways send the presses that arrive together as one check (``shared.batching``): the hub must
    decide a student in a check of many exactly as in a check of it alone (outcome, key, detail, family, the values
    to write). Before any sync (the replica only), so the checks have values to write; every student of both
    systems, so deterministic keys, the fallback and refusals are all among them."""
    from services.sync_hub.replica import service as replica

    hub, ups, _, clients = apps
    replica.refresh(clients["hub"].app.state.engine, ups.kemensos)
    gateways = {SourceSystem.EMIS: as_gateway(hub), SourceSystem.DAPODIK: as_gateway(hub, "dapodik_gateway")}
    emis_regions = {m.nsm: m.kode_wilayah for m in ups.emis.list_madrasah(None, 1000).items}
    school_regions = {s.sekolah_id: s.kode_wilayah for s in ups.dapodik.list_sekolah(limit=1000).items}
    siswa = ups.emis.list_students(limit=100).items
    peserta = ups.dapodik.list_peserta_didik(limit=100).items
    bodies = {
        SourceSystem.EMIS: [CheckRequest(system=SourceSystem.EMIS, siswa=[r], kode_wilayah={
            r.siswa_id: emis_regions[r.nsm]} if r.nsm in emis_regions else {}) for r in siswa],
        SourceSystem.DAPODIK: [CheckRequest(system=SourceSystem.DAPODIK, peserta_didik=[r], kode_wilayah={
            r.peserta_didik_id: school_regions[r.sekolah_id]} if r.sekolah_id in school_regions else {})
            for r in peserta]}

    def answers(response: CheckResponse) -> dict[str, tuple[object, ...]]:
        items = {i.student_id: (i.outcome, i.outcome_detail, i.values, i.provenance.source_record,
                                i.provenance.matched_by) for i in response.items}
        return {r.student_id: (r.outcome, r.matched_by, r.detail, r.no_kk, items.get(r.student_id))
                for r in response.results}

    for system, alone in bodies.items():
        together = gateways[system].check(CheckRequest(
            system=system, siswa=[s for b in alone for s in b.siswa],
            peserta_didik=[p for b in alone for p in b.peserta_didik],
            kode_wilayah={k: v for b in alone for k, v in b.kode_wilayah.items()}))
        one_by_one: dict[str, tuple[object, ...]] = {}
        for body in alone:
            one_by_one.update(answers(gateways[system].check(body)))
        assert answers(together) == one_by_one
        assert len(one_by_one) == len(alone) > 20 and together.items  # values to write among them
        assert len({o[0] for o in one_by_one.values()}) >= 3, {o[0] for o in one_by_one.values()}


def test_a_gateway_may_check_only_its_own_systems_students(system) -> None:  # type: ignore[no-untyped-def]
    """The finding: the Dapodik gateway's credential could check EMIS students. Now a 403 naming the field, and
    nothing is decided or recorded; the EMIS gateway's own check of the same records goes through."""
    hub, ups, _ = system
    run(hub)
    records = [ups.emis.get_student(s.siswa_id) for s in ups.emis.list_students(limit=2).items]
    held = {r.siswa_id: hub.provenance(SourceSystem.EMIS, r.siswa_id) for r in records}
    with pytest.raises(Rejected) as exc:
        as_gateway(hub, "dapodik_gateway").check(CheckRequest(system=SourceSystem.EMIS, siswa=records))
    assert exc.value.status == 403 and [(e.field, e.rule) for e in exc.value.errors] == [("system", "own_system")]
    assert {r.siswa_id: hub.provenance(SourceSystem.EMIS, r.siswa_id) for r in records} == held
    assert as_gateway(hub, "emis_gateway").check(CheckRequest(system=SourceSystem.EMIS, siswa=records)).results
    with pytest.raises(Rejected) as exc:  # a person, even an admin, does not ask checks: the gateways do
        hub.check(CheckRequest(system=SourceSystem.EMIS, siswa=records))
    assert exc.value.status == 403


def test_check_rejects_records_of_another_system_and_oversized_requests(system) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _ = system
    gateway = as_gateway(hub)
    record = ups.emis.get_student(ups.emis.list_students(limit=1).items[0].siswa_id).model_dump(mode="json")
    for body, field in (({"system": "dapodik", "siswa": [record]}, "siswa"),
                        ({"system": "emis", "siswa": [record] * 101}, "siswa"),
                        ({"system": "emis", "siswa": [record] * 2}, "siswa"),
                        ({"system": "emis"}, "siswa"),
                        ({"system": "emis", "student_ids": ["x"]}, "student_ids"),
                        ({"system": "emis", "siswa": [record], "kode_wilayah": {record["siswa_id"]: "x"}},
                         "kode_wilayah")):
        with pytest.raises(Rejected) as exc:
            gateway.request("POST", "/api/v1/checks", type(hub.list_runs()), idempotent=False, json=body)
        assert exc.value.status == 422 and any(e.field.startswith(field) for e in exc.value.errors), exc.value.errors


# -- incremental sync: each run reads only what changed at the gateways since the stored feed position, decides
# every student of the hub's copy again (a registry change reaches students whose record did not change) and
# writes only differences.

def run(hub, body: SyncRunCreate | None = None) -> SyncRun:  # type: ignore[no-untyped-def]
    return hub.wait(hub.start_run(body).id, timeout=300, poll=0.05)


def positions(hub_app) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    engine = hub_app.app.state.engine
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT system, cursor FROM feed_state")).all())  # type: ignore[arg-type]


def as_operator(clients: dict[str, TestClient]) -> dict[str, str]:
    """The school operator at the Dapodik gateway (a static credential there)."""
    token = clients["dapodik"].app.state.settings.api_tokens["operator"].get_secret_value()  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


def as_hub_admin(clients: dict[str, TestClient]) -> dict[str, str]:
    """The operator at the hub: a person with the admin role, with a token from the hub's local issuer."""
    keys = clients["hub"].app.state.settings.local_key_dir  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {LocalIssuer(keys).issue('operator', ['admin'])}"}


def recipient_family(ups) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(siswa_id, no_kk) of an EMIS student written as a PKH recipient, and the family it came from."""
    for page in ups.emis.iter_changes(limit=1000):
        for s in page.items:
            source = {p.field: p.source_record for p in s.provenance}.get("penerima_pkh", "")
            if s.pkh.penerima_pkh and source.startswith("keluarga/"):
                return s.siswa_id, source.removeprefix("keluarga/")
    raise AssertionError("no PKH recipient in EMIS")


def test_second_run_reads_nothing_and_a_registry_change_reaches_unchanged_students(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    first = run(hub)
    assert first.status is RunStatus.SUCCEEDED, first.errors
    assert first.full and first.students_from_feed >= first.students_read > 0
    stored = positions(clients["hub"])
    assert set(stored) == {"emis", "dapodik", "kip"} and all(stored.values())  # kip: the registry's KIP listing

    second = run(hub)
    assert second.status is RunStatus.SUCCEEDED, second.errors
    assert not second.full and second.students_from_feed == 0 and second.students_removed == 0
    # nothing changed anywhere: no work unit, no student decided again (cost in proportion to what changed)
    assert second.progress is not None and second.progress.units_total == 0
    assert second.students_read == 0 and second.outcomes == {} and second.values_written == 0

    # the registry changes one family (it leaves PKH); no student record changes
    siswa_id, no_kk = recipient_family(ups)
    admin = clients["kemensos"].app.state.settings.admin_token.get_secret_value()  # type: ignore[attr-defined]
    r = clients["kemensos"].put("/api/v1/admin/pkh", json={"no_kk": no_kk, "status": "GRADUASI", "komponen": [],
                                                           "tahun": 2099, "tahap": 1},
                                headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    third = run(hub)
    assert third.status is RunStatus.SUCCEEDED, third.errors
    assert third.students_from_feed == 0 and third.values_written > 0
    siswa = ups.emis.get_student(siswa_id)
    assert siswa.pkh.penerima_pkh is False and siswa.pkh.status_pkh.value == "NOT_PKH_RECIPIENT"
    written = [p for p in hub.provenance(SourceSystem.EMIS, siswa_id) if p.sync_run_id == third.id]
    assert {p.field for p in written} >= {"penerima_pkh", "status_pkh"}
    assert all(p.source_record == f"keluarga/{no_kk}" and p.source_version == version for p in written)
    assert run(hub).values_written == 0  # and then nothing again


def test_every_student_ends_a_run_with_an_outcome_held_back_ones_decided_on_their_usable_keys(apps) -> None:  # type: ignore[no-untyped-def]
    """Part 4 of "every child accounted for", on the small world (its error model plants records Dapodik holds
    back: a placeholder NIK for the child and both parents, the KK number typed as the child's NIK) and one record
    whose child NIK is made its mother's here (``nik_sama_orang_tua``): after a run every student of both gateways
    has an outcome; a held-back record with its true KK number is given its family's true PKH status; none wrong."""
    hub, ups, world, clients = apps
    shared = next(p for p in ups.dapodik.iter_peserta_didik(1000) if p.nik and p.nik_ibu and p.status_validasi == 0)
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{shared.peserta_didik_id}", json={"nik": shared.nik_ibu},
                                 headers=as_operator(clients))
    assert r.status_code == 200 and r.json()["status_validasi"] == 2, r.text
    held_ids = {p.peserta_didik_id for p in ups.dapodik.iter_peserta_didik(1000) if p.status_validasi == 2}
    assert len(held_ids) >= 5  # the world plants them (and the one above)

    first = run(hub)
    assert first.status is RunStatus.SUCCEEDED, first.errors
    ev = evaluate_world(world, ups.emis, ups.dapodik)
    assert ev.not_listed == 0 and ev.without_outcome == 0, ev.without_outcome_examples
    assert sum(ev.held_back.values()) == len(held_ids)
    assert ev.pkh_wrong == 0 and ev.correct_key_wrong == 0, ev.wrong_examples
    assert ev.held_back_linked_right == ev.held_back_linkable >= 4, ev.held_back
    decided = {o.student_id: o for o in hub.outcomes(first.id, limit=1000).items}
    assert held_ids <= set(decided)
    for pid in held_ids:  # a held-back record's outcome names what was not used, or links without it
        o, record = decided[pid], ups.dapodik.get_student(pid)
        assert record.status_padan is o.outcome and record.keterangan_padan == o.detail
        assert record.status_validasi == 2 and any(t.status_validasi == 2 for t in record.temuan_validasi)
        assert o.detail is not None and ("invalid: nik: " in o.detail or o.detail.startswith("nik: ")), o.detail
        if o.outcome in (Outcome.PKH_RECIPIENT, Outcome.NOT_PKH_RECIPIENT):
            assert o.matched_by is not MatchKey.NIK  # never by the NIK the validation found broken
            assert {p.field for p in record.provenance} >= {"penerima_kps", "status_padan"}
    o = decided[shared.peserta_didik_id]
    assert "nik: shared_with_family_member" in (o.detail or "")
    assert [(t.kode, t.field_error) for t in ups.dapodik.get_student(shared.peserta_didik_id).temuan_validasi
            if t.status_validasi == 2] == [("nik_sama_orang_tua", "nik")]


def test_a_record_held_back_stays_in_the_working_set_and_is_decided_on_its_other_keys(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    first = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert first.status is RunStatus.SUCCEEDED, first.errors
    before = {o.student_id: o for o in hub.outcomes(first.id, limit=1000).items}
    student = next(p for p in ups.dapodik.iter_peserta_didik(1000)
                   if p.nik_ibu and before[p.peserta_didik_id].matched_by is MatchKey.NIK)
    operator = as_operator(clients)
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}", json={"nik": "1234567890123456"},
                                 headers=operator)
    assert r.status_code == 200 and r.json()["status_validasi"] == 2, r.text
    held = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert held.status is RunStatus.SUCCEEDED, held.errors
    assert held.students_removed == 0 and held.students_from_feed == 1  # read like any change, with its findings
    # the student's region is decided again, the student too: the same family, found by another key
    decided = {o.student_id: o for o in hub.outcomes(held.id, limit=1000).items}
    assert len(decided) == held.students_read and student.peserta_didik_id in decided
    was, now = before[student.peserta_didik_id], decided[student.peserta_didik_id]
    assert (now.outcome, now.no_kk) == (was.outcome, was.no_kk) and now.matched_by in (MatchKey.NIK_IBU, MatchKey.NO_KK)
    assert "invalid: nik: placeholder" in (now.detail or "")
    assert ups.dapodik.get_student(student.peserta_didik_id).keterangan_padan == now.detail
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}", json={"nik": student.nik},
                                 headers=operator)
    assert r.status_code == 200, r.text
    back = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert back.students_from_feed == 1 and back.students_removed == 0 and back.students_read == held.students_read
    assert {o.student_id: (o.outcome, o.detail, o.matched_by) for o in hub.outcomes(back.id, limit=1000).items}[
        student.peserta_didik_id] == (was.outcome, was.detail, was.matched_by)


def test_a_unit_that_fails_is_planned_again_by_the_next_run(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The feed position moves as soon as a change is in the hub's copy; the work unit that should decide it
    fails: the next run reads nothing new, yet plans that unit's region again and decides the student."""
    hub, ups, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    before = positions(clients["hub"])
    student = next(iter(ups.dapodik.iter_students(1000)))
    operator = as_operator(clients)
    assert clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}",
                                    json={"tempat_lahir": "Sukabumi"}, headers=operator).status_code == 200

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the unit stopped here")

    monkeypatch.setattr(unit_module.Pusher, "push", crash)
    failed = run(hub)
    assert failed.status is RunStatus.FAILED and failed.students_from_feed == 1
    assert failed.progress is not None and failed.progress.units_failed == 1
    assert any("the unit stopped here" in e for e in failed.errors)
    assert positions(clients["hub"])["dapodik"] != before["dapodik"]  # the change is in the copy
    monkeypatch.undo()
    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED and again.students_from_feed == 0 and again.values_written == 0
    assert student.peserta_didik_id in {o.student_id for o in hub.outcomes(again.id, limit=1000).items}
    assert run(hub).students_read == 0


def test_two_attempts_of_one_plan_at_once_leave_one_set_of_units(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two attempts of one run's plan overlap (an embedded hub with several API processes: one starting up resumes
    the plan another has just queued): the one that finishes second finds the run planned and stops; the run
    succeeds with one unit per region, as without the race (it ended FAILED on the units' uniqueness before)."""
    hub, _, _, clients = apps
    original_plan = planner_module.Planner.plan
    raced: list[str] = []

    def plan_overtaken(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
        ensure = self._ensure_model

        def other_attempt_first() -> str | None:
            raced.append(run_id)
            original_plan(planner_module.Planner(self.ctx, self.defer_units), run_id)
            return ensure()

        self._ensure_model = other_attempt_first
        original_plan(self, run_id)

    monkeypatch.setattr(planner_module.Planner, "plan", plan_overtaken)
    done = run(hub)
    assert raced == [done.id]
    assert done.status is RunStatus.SUCCEEDED, done.errors
    with clients["hub"].app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        units = conn.execute(sa.text("SELECT system, region FROM sync_unit WHERE sync_run_id = :r"),
                             {"r": done.id}).all()
    assert units and len(units) == len(set(units))
    p = done.progress
    assert p is not None and p.units_done + p.verification_units_done == len(units) and not p.units_failed


def test_an_incremental_run_reads_no_school_list_and_only_the_kip_issuances_put_since(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 9: an incremental run costs what changed. With nothing changed it reads no school list and no KIP
    issuance (one empty page from the stored position); one issuance put since is the only one read, and marks its
    region; a full run reads every issuance again."""
    hub, ups, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    cards = [card for card, _ in ups.kemensos.iter_kip(limit=1000)]
    assert cards
    read = {"schools": 0, "kip": 0}
    list_kip = KemensosClient.list_kip

    def counting_kip(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        page = list_kip(self, *args, **kwargs)
        read["kip"] += len(page.items)
        return page

    monkeypatch.setattr(KemensosClient, "list_kip", counting_kip)
    for cls, name in ((EmisClient, "list_madrasah"), (DapodikClient, "list_sekolah")):
        def counting(self, *args, _original=getattr(cls, name), **kwargs):  # type: ignore[no-untyped-def]
            read["schools"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counting)
    quiet = run(hub)
    assert quiet.status is RunStatus.SUCCEEDED and quiet.students_from_feed == 0
    assert read == {"schools": 0, "kip": 0}
    assert quiet.progress is not None and quiet.progress.units_total == 0
    card = cards[0]
    admin = clients["kemensos"].app.state.settings.admin_token.get_secret_value()  # type: ignore[attr-defined]
    body = {**card.model_dump(mode="json", exclude={"version", "updated_at"}), "tahun": card.tahun + 1}
    assert clients["kemensos"].put("/api/v1/admin/kip", json=body,
                                   headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED, again.errors
    assert read == {"schools": 0, "kip": 1}
    assert again.progress is not None and again.progress.units_total >= 1  # the card's region is decided again
    full = run(hub, SyncRunCreate(full=True))
    assert full.status is RunStatus.SUCCEEDED and read["kip"] == 1 + len(cards) and read["schools"] == 2


def test_a_changed_student_at_the_same_school_needs_no_school_list_a_moved_one_does(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 9: a run costs what changed. A student edited at the school the hub's copy holds for it keeps that
    school's region from the copy: no school list is read (nationally ~530,000 schools). A student the copy holds at
    another school (one that moved school) makes the run read the list, and the copy gets the new school's region."""
    hub, ups, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    engine = clients["hub"].app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:  # the first run read both lists into the hub's copy of them, a page at a time
        listed = dict(conn.execute(sa.text("SELECT system, count(*) FROM school_copy GROUP BY system")).all())
        placed = conn.execute(sa.text(
            "SELECT count(*), sum(CASE WHEN s.kode_wilayah = m.region THEN 1 ELSE 0 END) FROM student_mirror m"
            " JOIN school_copy s ON s.system = m.system AND s.school = m.school")).one()
    assert listed == {"emis": sum(len(p.items) for p in _school_pages(ups.emis.list_madrasah)),
                      "dapodik": sum(len(p.items) for p in _school_pages(ups.dapodik.list_sekolah))}
    assert placed[0] > 0 and placed[1] == placed[0]  # a student's region is its school's
    read = {"schools": 0}
    for cls, name in ((EmisClient, "list_madrasah"), (DapodikClient, "list_sekolah")):
        def counting(self, *args, _original=getattr(cls, name), **kwargs):  # type: ignore[no-untyped-def]
            read["schools"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counting)
    mirror_table = StudentMirrorRow.__table__  # type: ignore[attr-defined]

    def held(student_id: str) -> tuple[str, str, str | None, str | None]:
        with engine.connect() as conn:
            row = conn.execute(sa.select(mirror_table.c.school, mirror_table.c.region, mirror_table.c.bentuk,
                                         mirror_table.c.npsn).where(mirror_table.c.system == "dapodik",
                                                                    mirror_table.c.student_id == student_id)).one()
        return tuple(row)  # type: ignore[return-value]

    edited, moved = [p for p in ups.dapodik.iter_students(1000) if p.nik][:2]
    before = held(edited.peserta_didik_id), held(moved.peserta_didik_id)
    assert before[0][1] and before[1][1]
    for student, place in ((edited, "Bogor Barat"), (moved, "Depok")):
        r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}",
                                     json={"tempat_lahir": place}, headers=as_operator(clients))
        assert r.status_code == 200, r.text
    with engine.begin() as conn:  # the copy last saw this student at another school, in another region
        conn.execute(mirror_table.update().where(mirror_table.c.system == "dapodik",
                                                 mirror_table.c.student_id == moved.peserta_didik_id)
                     .values(school="another-school", region="9999", npsn=None))
    first = run(hub)
    assert first.status is RunStatus.SUCCEEDED and first.students_from_feed == 2, first.errors
    assert read["schools"] >= 1 and "plan.read_schools" in first.timings  # the moved student's new school
    assert held(moved.peserta_didik_id) == before[1]
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{edited.peserta_didik_id}", json={"tempat_lahir": "Bogor"},
                                 headers=as_operator(clients))
    assert r.status_code == 200, r.text
    read["schools"] = 0
    second = run(hub)
    assert second.status is RunStatus.SUCCEEDED and second.students_from_feed == 1, second.errors
    assert read["schools"] == 0 and "plan.read_schools" not in second.timings
    assert held(edited.peserta_didik_id) == before[0]


def test_full_run_rereads_everything_and_a_check_makes_the_next_run_read_its_students(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, _ = apps
    first = run(hub)
    full = run(hub, SyncRunCreate(full=True))
    assert full.status is RunStatus.SUCCEEDED and full.full
    assert full.students_from_feed == first.students_from_feed and full.values_written == 0
    assert full.outcomes == first.outcomes
    ids = [s.siswa_id for s in ups.emis.list_students(limit=3).items]
    checked = check_emis(hub, ups, ids)
    after = run(hub)  # the students whose values the check changed are read again
    assert after.students_from_feed == len({i.student_id for i in checked.items}) and after.values_written == 0
    assert run(hub).students_from_feed == 0


def test_a_family_member_registered_later_links_a_student_whose_record_did_not_change(apps) -> None:  # type: ignore[no-untyped-def]
    """The registry learns a child a run found NOT_REGISTERED (entered into an existing family, the same identity
    as the school record): the next run reads no student from the gateways, yet links the child through its
    NIK and writes its family's values, with provenance naming that family."""
    hub, ups, _, clients = apps
    first = run(hub)
    assert first.status is RunStatus.SUCCEEDED, first.errors
    outcomes = hub.outcomes(first.id, limit=1000).items  # the whole small world in one page
    lonely = next(o for o in outcomes if o.outcome is Outcome.NOT_REGISTERED and o.system is SourceSystem.EMIS
                  and ups.emis.get_student(o.student_id).nik)
    siswa = ups.emis.get_student(lonely.student_id)
    _, no_kk = recipient_family(ups)  # a PKH family: the child's new values are visible
    admin = clients["kemensos"].app.state.settings.admin_token.get_secret_value()  # type: ignore[attr-defined]
    r = clients["kemensos"].put("/api/v1/admin/anggota", headers={"Authorization": f"Bearer {admin}"}, json={
        "nik": siswa.nik, "no_kk": no_kk, "nama": siswa.nama, "jenis_kelamin": siswa.jenis_kelamin.value,
        "tanggal_lahir": siswa.tanggal_lahir.isoformat(), "nama_ibu_kandung": siswa.nama_ibu_kandung,
        "hubungan_keluarga": "ANAK"})
    assert r.status_code == 200, r.text
    version = r.json()["version"]

    after = run(hub)
    assert after.status is RunStatus.SUCCEEDED, after.errors
    assert after.students_from_feed == 0 and after.values_written > 0
    now = ups.emis.get_student(lonely.student_id)
    assert now.pkh.status_pkh is not None and now.pkh.status_pkh.value == "PKH_RECIPIENT"
    written = [p for p in hub.provenance(SourceSystem.EMIS, lonely.student_id) if p.sync_run_id == after.id]
    assert {p.field for p in written} >= {"penerima_pkh", "status_pkh"}
    assert all(p.source_record == f"keluarga/{no_kk}" and p.source_version == version for p in written)
    assert all(p.matched_by.value == "nik" for p in written)


def test_values_a_gateway_applied_before_the_hub_died_get_their_provenance_at_the_hub(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The hub sends a batch, the gateway applies it, the hub dies before it records the answer (here: the
    transaction that settles it fails). The next run sends the outbox rows again, the gateway answers UNCHANGED
    naming the provenance it holds, and the hub rebuilds the provenance rows it never wrote; nothing stays
    PENDING and every value the gateway holds has its provenance at the hub."""
    hub, ups, _, clients = apps
    from services.sync_hub.sync import push as push_module

    def died(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the hub died before recording the answer")

    monkeypatch.setattr(push_module.prov_repo, "settle_outbox", died)
    failed = run(hub, SyncRunCreate(systems=[SourceSystem.EMIS]))
    assert failed.status is RunStatus.FAILED and failed.provenance_records == 0
    engine = clients["hub"].app.state.engine
    with engine.connect() as conn:
        pending = conn.execute(sa.text("SELECT count(*) FROM outbox_item WHERE status = 'PENDING'")).scalar()
        assert pending and not conn.execute(sa.text("SELECT count(*) FROM provenance")).scalar()
    shown = {(s.siswa_id, p.field): p.provenance_id for s in ups.emis.iter_students(1000) for p in s.provenance}
    assert shown  # the gateway applied them
    monkeypatch.undo()
    again = run(hub, SyncRunCreate(systems=[SourceSystem.EMIS]))
    assert again.status is RunStatus.SUCCEEDED, again.errors
    assert again.values_written == 0 and again.provenance_records >= len(shown)  # rebuilt, not written again
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT count(*) FROM outbox_item WHERE status = 'PENDING'")).scalar()
        rows = {(r[0], r[1]): r[2] for r in conn.execute(sa.text(
            "SELECT target_record, field, provenance_id FROM provenance"))}
    assert {k: v for k, v in rows.items() if k in shown} == shown


def test_one_run_at_a_time_progress_per_unit_and_cancel(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """While a run works, a second is refused (409 naming it); the run shows its units' progress; a cancel
    drops the units not started and the run ends CANCELLED once the running unit has stopped."""
    import threading

    from services.sync_hub.jobs import tasks as job_tasks

    hub, _, _, clients = apps
    release, started = threading.Event(), threading.Event()
    real = job_tasks.unit._decide

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]  # a unit RUNNING, deciding its students
        started.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(job_tasks.unit, "_decide", held)
    operator = as_hub_admin(clients)
    run_id = hub.start_run(SyncRunCreate(full=True)).id
    assert started.wait(60)
    second = clients["hub"].post("/api/v1/sync-runs", json={}, headers=operator)
    assert second.status_code == 409, second.text
    assert second.json()["errors"][0]["field"] == "run_id" and run_id in second.json()["detail"]
    progress = hub.get_run(run_id).progress
    assert progress is not None and progress.units_total >= 2 and progress.units_running >= 1
    assert progress.units_waiting + progress.units_running == progress.units_total
    cancelled = clients["hub"].post(f"/api/v1/sync-runs/{run_id}/cancel", headers=operator)
    assert cancelled.status_code == 200, cancelled.text
    release.set()
    done = hub.wait(run_id, timeout=120, poll=0.05)
    assert done.status is RunStatus.CANCELLED and done.progress is not None
    assert done.progress.units_cancelled >= 1 and done.progress.units_waiting == 0
    units = clients["hub"].get(f"/api/v1/sync-runs/{run_id}/units", headers=operator).json()
    assert {u["status"] for u in units} <= {"SUCCEEDED", "CANCELLED"} and len(units) == done.progress.units_total
    again = clients["hub"].post(f"/api/v1/sync-runs/{run_id}/cancel", headers=operator)
    assert again.status_code == 409
    monkeypatch.undo()
    assert run(hub).status is RunStatus.SUCCEEDED  # the next run plans the cancelled units' regions again


def test_a_runs_progress_is_read_while_a_writer_holds_the_database(apps) -> None:  # type: ignore[no-untyped-def]
    """Polling a run (API and console) never waits for a writer: on SQLite a unit, the replica follower or a check
    holds the one write lock while it writes (its transaction begins IMMEDIATE); a read route begins deferred and
    reads the last committed state. Before, every hub transaction began IMMEDIATE and a poll waited the 30 s busy
    timeout behind a long writer, then answered 500."""
    import sqlalchemy as sa

    hub, _, _, clients = apps
    done = run(hub)
    operator = as_hub_admin(clients)
    engine = clients["hub"].app.state.engine
    with engine.connect() as writer:
        tx = writer.begin()  # SQLite: BEGIN IMMEDIATE (the hub's engine); PostgreSQL: the run's row locked below
        writer.execute(sa.text("UPDATE sync_run SET values_written = values_written WHERE id = :id"), {"id": done.id})
        try:
            for path in (f"/api/v1/sync-runs/{done.id}", f"/api/v1/sync-runs/{done.id}/units", "/api/v1/sync-runs",
                         f"/api/v1/sync-runs/{done.id}/outcomes"):
                r = clients["hub"].get(path, headers=operator)
                assert r.status_code == 200, (path, r.status_code)
        finally:
            tx.rollback()
    assert hub.get_run(done.id).status is RunStatus.SUCCEEDED


def test_a_system_named_twice_is_refused_and_changes_nothing(apps) -> None:  # type: ignore[no-untyped-def]
    hub, _, _, clients = apps
    operator = as_hub_admin(clients)
    r = clients["hub"].post("/api/v1/sync-runs", json={"systems": ["emis", "emis"]}, headers=operator)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"].endswith("systems")
    assert hub.list_runs().items == []


def test_a_gateway_holding_a_newer_fact_is_not_a_failure(apps) -> None:  # type: ignore[no-untyped-def]
    """A gateway answers STALE when it holds a value observed at a newer registry sequence than the hub's (an SK
    batch entered at the school, say): the run succeeds, counts the student as stale, and reads it again next
    run instead of failing every later run."""
    import uuid
    from datetime import UTC, datetime

    from shared.contracts.common import HubResultBatch, HubResultItem, MatchKey, Provenance

    hub, ups, _, _ = apps
    first = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert first.status is RunStatus.SUCCEEDED, first.errors
    student = next(p for p in ups.dapodik.iter_students(1000) if p.penerima_kps is not None)
    newer = HubResultItem(student_id=student.peserta_didik_id, values={"penerima_kps": not student.penerima_kps},
                          provenance=Provenance(provenance_id=str(uuid.uuid4()), sync_run_id="elsewhere",
                                                source_system="kemensos.dtsen", source_record="keluarga/newer",
                                                source_version=1, observed_seq=10**12,
                                                retrieved_at=datetime.now(UTC), matched_by=MatchKey.NIK))
    assert ups.dapodik.post_results(HubResultBatch(sync_run_id="elsewhere", items=[newer])).results[0].status.value \
        == "APPLIED"
    full = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK], full=True))
    assert full.status is RunStatus.SUCCEEDED, full.errors
    assert full.stale == 1 and not full.errors
    following = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert following.status is RunStatus.SUCCEEDED and following.students_from_feed >= 1  # read again
    assert following.stale == 1


def test_verifications_sent_before_the_hub_died_are_sent_again_and_settled_once(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A verification unit writes its verifications, sends them, and dies before it records the answers (here:
    the transaction that settles them fails). The registry holds them; the hub holds them PENDING. The next run
    sends the same ones again (same provenance, same version): the registry answers UNCHANGED, nothing stays
    PENDING, and the registry keeps one state per child, not two."""
    hub, ups, _, clients = apps
    from services.sync_hub.sync import verify as verify_module

    def died(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the hub died before recording the registry's answers")

    monkeypatch.setattr(verify_module.repo, "settle", died)
    failed = run(hub)
    assert failed.status is RunStatus.FAILED and failed.periode == "2026-T3"
    assert any("died before recording" in e for e in failed.errors)
    engine = clients["hub"].app.state.engine
    with engine.connect() as conn:
        pending = conn.execute(sa.text("SELECT nik_anak, provenance_id FROM education_verification "
                                       "WHERE status = 'PENDING'")).all()
    assert pending
    nik, provenance_id = pending[0]
    held = ups.kemensos.get_education_verification(nik)
    assert [v.provenance.provenance_id for v in held.history] == [provenance_id]  # the registry applied it
    monkeypatch.undo()

    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED, again.errors
    assert again.values_written == 0 and set(again.verifications) <= {"UNCHANGED", "not_sent_unchanged"}
    assert again.verifications["UNCHANGED"] == len(pending)
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT count(*) FROM education_verification "
                                        "WHERE status = 'PENDING'")).scalar()
    assert [v.provenance.provenance_id for v in ups.kemensos.get_education_verification(nik).history] == [
        provenance_id]
    assert set(run(hub).verifications) <= {"not_sent_unchanged"}  # and then nothing to send


def test_a_verification_unit_that_cannot_reach_the_registry_leaves_its_children_to_the_next_run(
        apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The registry is down for the verification stage of a run (every attempt): its units fail, the run fails
    saying why, and the next run verifies those children, although none of their records changed."""
    hub, ups, _, clients = apps
    from shared.http import Unavailable

    clients["hub"].app.state.settings.job_attempts = 1  # type: ignore[attr-defined]

    def down(*args: object, **kwargs: object) -> None:
        raise Unavailable("kemensos is down")

    monkeypatch.setattr(type(ups.kemensos), "put_education_verification", down)
    failed = run(hub)
    assert failed.status is RunStatus.FAILED and any("kemensos is down" in e for e in failed.errors)
    assert not failed.verifications.get("APPLIED")
    monkeypatch.undo()
    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED, again.errors
    assert again.students_from_feed == 0 and again.verifications.get("APPLIED", 0) > 0


def test_no_nik_a_caller_sent_comes_back_or_is_kept_in_a_run_error(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue "Trust": the hub never repeats a NIK it was sent, in a check's answer or an error body (a field,
    a path), and keeps none in full in a run's errors or anything else it stores."""
    hub, ups, _, clients = apps
    http = clients["hub"]  # as the operator (a person)
    gateway = as_gateway(hub)._http  # /checks: as the EMIS gateway
    run(hub)  # the replica is filled
    record = ups.emis.get_student(ups.emis.list_students(limit=1).items[0].siswa_id).model_dump(mode="json")
    for value, rule in ((int(NIK_PROBE), "string_type"), (NIK_PROBE * 5, "string_too_long")):
        r = gateway.post("/api/v1/checks", json={"system": "emis", "siswa": [{**record, "nik": value}]})
        assert r.status_code == 422 and NIK_PROBE not in r.text, r.text
        assert any(e["rule"] == rule for e in r.json()["errors"]), r.text
    r = gateway.post("/api/v1/checks", json={"system": "emis", "siswa": [record], NIK_PROBE: 1})
    assert r.status_code == 422 and NIK_PROBE not in r.text, r.text
    unknown = gateway.post("/api/v1/checks", json={"system": "emis", "siswa": [{**record, "nik": NIK_PROBE}]})
    assert unknown.status_code == 200 and NIK_PROBE not in unknown.text, unknown.text
    admin = as_hub_admin(clients)
    for method, url in path_probes(http.app.openapi()):
        r = http.request(method, url, json={}, headers=admin)
        assert r.status_code < 500 and NIK_PROBE not in r.text, (method, url, r.text)

    def refused(*args: object, **kwargs: object) -> None:  # the registry refuses, naming a NIK in its answer
        raise Rejected(422, ErrorBody(error="InvalidInput", detail=f"NIK {NIK_PROBE} is not valid"))

    monkeypatch.setattr(type(ups.kemensos), "list_changes", refused)
    monkeypatch.setattr(type(ups.kemensos), "lookup_niks", refused)
    failed = run(hub, SyncRunCreate(full=True))
    monkeypatch.undo()
    said = " ".join(failed.errors) + http.get(f"/api/v1/sync-runs/{failed.id}/units").text
    assert f"NIK {NIK_PROBE[:6]}******{NIK_PROBE[-4:]}" in said, said  # the error is kept, masked
    assert NIK_PROBE not in said
    engine = http.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            assert NIK_PROBE not in repr(rows), table


def test_what_a_failed_plan_stored_is_decided_by_the_next_run(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A plan that stops after it stored feed pages and KIP cards (here: the registry cannot be read, its last
    attempt) leaves the run FAILED with the gateways' feed positions moved on and the cards held. The next run reads
    neither again, yet decides the changed student and the card's region: it plans the regions of everything stored
    since the previous run was planned (the next run decided neither before)."""
    hub, ups, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    student = next(p for p in ups.dapodik.iter_students(1000) if p.nik)
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}",
                                 json={"tempat_lahir": "Cianjur"}, headers=as_operator(clients))
    assert r.status_code == 200, r.text
    card = next(c for c, _ in ups.kemensos.iter_kip(limit=1000))
    admin = clients["kemensos"].app.state.settings.admin_token.get_secret_value()  # type: ignore[attr-defined]
    body = {**card.model_dump(mode="json", exclude={"version", "updated_at"}), "tahun": card.tahun + 1}
    assert clients["kemensos"].put("/api/v1/admin/kip", json=body,
                                   headers={"Authorization": f"Bearer {admin}"}).status_code == 200

    def registry_down(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the plan stopped here")

    monkeypatch.setattr(planner_module.follower, "refresh", registry_down)
    failed = run(hub)
    assert failed.status is RunStatus.FAILED and any("the plan stopped here" in e for e in failed.errors)
    monkeypatch.undo()
    engine = clients["hub"].app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:  # the failed plan stored both
        held = conn.execute(sa.text("SELECT version FROM replica_kip WHERE no_kip = :k"), {"k": card.no_kip}).scalar()
    assert held is not None and held > card.version
    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED and again.students_from_feed == 0, again.errors
    with engine.connect() as conn:
        units = {r[1] for r in conn.execute(sa.text("SELECT system, region FROM sync_unit WHERE sync_run_id = :r"),
                                            {"r": again.id}) if r[0] == "dapodik"}
    assert any(card.kode_wilayah.startswith(u) for u in units)  # the card's region is decided again
    decided, cursor = set(), None
    while True:
        page = hub.outcomes(again.id, cursor=cursor, limit=1000)
        decided |= {o.student_id for o in page.items}
        if not (cursor := page.next_cursor):
            break
    assert student.peserta_didik_id in decided


def _school_pages(lister):  # type: ignore[no-untyped-def]
    cursor = None
    while True:
        page = lister(cursor, 1000)
        yield page
        if not (cursor := page.next_cursor):
            return


def test_while_a_plan_reads_the_run_shows_what_it_has_read_from_each_upstream(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A first national sync's plan reads for hours before its units exist: meanwhile the run shows, per upstream,
    the records read so far and whether that read has ended; once planned, the units' progress takes over."""
    import threading

    hub, ups, _, _ = apps
    release, holding = threading.Event(), threading.Event()
    real = planner_module.follower.refresh

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]  # the registry's round, after the feeds and KIP
        holding.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(planner_module.follower, "refresh", held)
    run_id = hub.start_run(SyncRunCreate(full=True)).id
    try:
        assert holding.wait(60)
        emis = sum(len(p.items) for p in ups.emis.iter_changes(None, 1000))
        dapodik = sum(len(p.items) + len(p.removed) for p in ups.dapodik.iter_changes(None, 1000, removed=True))
        kip = 0
        cursor = None
        while True:
            page = ups.kemensos.list_kip(cursor, 1000)
            kip, cursor = kip + len(page.items), page.next_cursor
            if not cursor:
                break
        deadline = time.monotonic() + 60  # on PostgreSQL the feeds are read beside the registry's round
        while True:
            seen = hub.get_run(run_id)
            reading = {r.source: r for r in seen.reading or []}
            if all(reading[s].done for s in ("emis", "dapodik", "kip")) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert seen.status is RunStatus.RUNNING and seen.progress is None
        assert set(reading) == {"emis", "dapodik", "kip", "registry"}
        assert (reading["emis"].records, reading["dapodik"].records, reading["kip"].records) == (emis, dapodik, kip)
        assert emis > 0 and dapodik > 0 and kip > 0
        assert all(reading[s].done for s in ("emis", "dapodik", "kip")) and not reading["registry"].done
    finally:
        release.set()
    done = hub.wait(run_id, timeout=300, poll=0.05)
    assert done.status is RunStatus.SUCCEEDED and done.reading is None and done.progress is not None


def test_a_student_to_read_again_under_an_id_no_url_holds_as_is_fails_no_run(apps) -> None:  # type: ignore[no-untyped-def]
    """The hub reads again each student a check or a push named (``mirror_refetch``), by its id in the URL. An id
    from data may hold anything: a ``/``, a ``?``, a control character, 64 characters of non-ASCII. Once a check
    left such an id, every run's plan failed ("InvalidURL", found by a concurrent fuzz). The id is now one
    percent-encoded path segment; the gateway answers it has no such student, and the run goes on."""
    hub, _, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    odd = ["a/b?c#d", "\x88U\xd8\x0c\xbbA*\xf1", "../../api/v1/hub/results", "%2F", "\U00107e7e" * 64]
    engine = clients["hub"].app.state.engine
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO mirror_refetch (system, student_id, requested_at) VALUES (:s, :i, :t)"),
                     [{"s": "emis", "i": i, "t": "2026-12-05 00:00:00+00:00"} for i in odd])
    after = run(hub)
    assert after.status is RunStatus.SUCCEEDED, after.errors
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mirror_refetch")).scalar_one() == 0
