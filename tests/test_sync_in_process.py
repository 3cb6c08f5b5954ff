"""The hub against the three other real apps, in process: the typed clients against their servers
(contract), and the hub's own storage on SQLite and PostgreSQL (``db_url``).

Faster than the e2e tests (no processes), so it also covers the hub API's error paths.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette prefers httpx2 at import; the project pins httpx
    from fastapi.testclient import TestClient

from jembatan.evaluate import evaluate_world
from jembatan.stack import Stack
from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.main import create_app as hub_app
from services.sync_hub.sync.engine import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.contracts.common import Outcome
from shared.contracts.hub import RunStatus, SourceSystem, SyncRunCreate
from shared.http import Rejected
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
    shutil.copytree(template.workdir / "db", tmp_path / "db")  # each test syncs its own copy
    stack = Stack(tmp_path, creds=template.creds)
    c = stack.creds
    with ExitStack() as stack_ctx:
        def client(app):  # type: ignore[no-untyped-def]
            return stack_ctx.enter_context(TestClient(app, base_url=BASE))

        kemensos = client(kemensos_app(KemensosSettings(database_url=stack.database_url("kemensos_mock"),
                                                        api_tokens={"sync_hub": c.hub_to_kemensos},
                                                        admin_token=c.kemensos_admin)))
        emis = client(emis_app(EmisSettings(database_url=stack.database_url("emis_gateway"),
                                            api_tokens={"sync_hub": c.hub_to_emis})))
        dapodik = client(dapodik_app(DapodikSettings(database_url=stack.database_url("dapodik_gateway"),
                                                     api_tokens={"sync_hub": c.hub_to_dapodik,
                                                                 "operator": c.operator})))
        ups = Upstreams(KemensosClient(BASE, c.hub_to_kemensos, http=kemensos),
                        EmisClient(BASE, c.hub_to_emis, http=emis),
                        DapodikClient(BASE, c.hub_to_dapodik, http=dapodik))
        hub = client(hub_app(HubSettings(database_url=db_url, api_tokens={"operator": c.operator}), upstreams=ups))
        yield HubClient(BASE, c.operator, http=hub), ups, world, {"kemensos": kemensos, "dapodik": dapodik, "hub": hub}


def test_sync_through_the_hub_api_and_again(system) -> None:  # type: ignore[no-untyped-def]
    hub, ups, world = system
    run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    assert run.trigger == "operator" and run.students_read == sum(run.outcomes.values()) > 0
    assert run.values_written == run.provenance_records > 0
    ev = evaluate_world(world, ups.emis, ups.dapodik)
    assert ev.pkh_wrong == 0 and ev.correct_key_wrong == 0, ev.wrong_examples

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


def test_on_demand_check_decides_and_writes_in_one_step(system) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _ = system
    ids = [s.siswa_id for s in ups.emis.list_students(limit=5).items]
    answer = hub.check(SourceSystem.EMIS, ids)
    assert [r.student_id for r in answer.results] == ids
    for result in answer.results:
        siswa = ups.emis.get_student(result.student_id)
        assert siswa.pkh.status_pkh is result.outcome  # saved in the same step: no "Simpan" to forget
        assert {p.sync_run_id for p in siswa.provenance} == {answer.sync_run_id}
    run = hub.get_run(answer.sync_run_id)
    assert run.student_ids == ids and run.students_read == len(ids)
    # asking again changes nothing
    again = hub.check(SourceSystem.EMIS, ids)
    assert hub.get_run(again.sync_run_id).values_written == 0


def test_check_names_unknown_students_and_rejects_oversized_requests(system) -> None:  # type: ignore[no-untyped-def]
    hub, _, _ = system
    with pytest.raises(Rejected) as exc:
        hub.check(SourceSystem.DAPODIK, ["00000000-0000-4000-8000-000000000000"])
    assert exc.value.status == 404 and exc.value.errors[0].field == "student_ids"
    with pytest.raises(Rejected) as exc:
        hub.request(  # 101 ids: bounded
            "POST", "/api/v1/checks", type(hub.list_runs()), idempotent=False,
            json={"system": "emis", "student_ids": [str(i) for i in range(101)]})
    assert exc.value.status == 422 and exc.value.errors[0].field == "student_ids"
