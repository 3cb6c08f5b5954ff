"""Education verification on real processes: the hub tells Kemensos, for every PKH child it linked, whether the
child is enrolled and attending, from the record that is current, once per period.

The oracle is the world's ground truth (``jembatan.verifications``): the registry must hold, for each PKH child
the world enrolled whose records the hub linked, a verification agreeing in every fact (school record, enrolled,
active, the months' attendance); children who dropped out mid-quarter are reported enrolled and not active, and
not enrolled the next period; a second run sends nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jembatan.stack import Stack
from jembatan.verifications import check_world, expected_children
from shared.clients import HubClient, KemensosClient
from shared.contracts.hub import RunStatus, SyncRunCreate
from worldgen.config import WorldConfig
from worldgen.generate import generate_world
from worldgen.truth import read_ground_truth

pytestmark = pytest.mark.e2e
PERIODE, NEXT = "2026-T3", "2026-T4"  # the world's period (reference date 2026-07-15) and the one after


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(seed=20261203, n_families=1500), out)
    return out


@pytest.fixture(scope="module")
def stack(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack.on_free_ports(tmp_path_factory.mktemp("stack"), log_level="INFO").serving(world) as s:
        yield s


@pytest.fixture(scope="module")
def hub(stack: Stack) -> Iterator[HubClient]:
    with HubClient(stack.url("sync_hub"), stack.hub_operator) as client:
        yield client


@pytest.fixture(scope="module")
def kemensos(stack: Stack) -> Iterator[KemensosClient]:
    with KemensosClient(stack.url("kemensos_mock"), stack.creds.hub_to_kemensos) as client:
        yield client


@pytest.fixture(scope="module")
def first_run(hub: HubClient):  # type: ignore[no-untyped-def]
    return hub.wait(hub.start_run().id, timeout=600)


def test_a_run_verifies_every_linked_pkh_child_as_the_truth_says(first_run, world: Path,  # type: ignore[no-untyped-def]
                                                                  kemensos: KemensosClient) -> None:
    assert first_run.status is RunStatus.SUCCEEDED, first_run.errors
    assert first_run.periode == PERIODE  # the period of the attendance the schools reported
    vc = check_world(world, kemensos, PERIODE)
    assert vc.children > 100
    assert vc.disagreeing == 0, (dict(vc.disagreements), vc.examples)
    assert vc.agreeing == vc.verified
    assert vc.verified >= 0.9 * vc.children  # the rest did not link (wrong NIKs): the families-at-risk report
    assert first_run.verifications.get("APPLIED") == vc.verified
    assert vc.dropped_out > 0 and vc.dropped_out_reported == vc.dropped_out
    assert first_run.progress is not None and first_run.progress.verification_units_done > 0


def test_the_hub_lists_what_it_sent_with_provenance_and_masked_identities(first_run, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    url = stack.url("sync_hub") + "/api/v1/education-verifications"
    auth = {"Authorization": f"Bearer {stack.hub_token('vic', 'viewer')}"}
    seen, cursor = [], None
    while True:
        page = httpx.get(url, params={"periode": PERIODE, "limit": 300, **({"cursor": cursor} if cursor else {})},
                         headers=auth).json()
        seen.extend(page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == first_run.verifications["APPLIED"] == len({v["provenance_id"] for v in seen})
    assert all("******" in v["nik_anak"] and v["status"] == "APPLIED" and v["source_record"] for v in seen)
    assert any(v["months_below_85"] for v in seen) and any(not v["active"] for v in seen)
    bad = httpx.get(url, params={"periode": "2026-Q3"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("periode")
    assert httpx.get(url, params={"periode": PERIODE}).status_code == 401


def test_a_child_in_both_systems_is_verified_once_from_its_current_record(first_run, world: Path,  # type: ignore[no-untyped-def]
                                                                         kemensos: KemensosClient) -> None:
    truth = read_ground_truth(world)
    records: dict[str, list[str]] = {}
    for t in truth:
        records.setdefault(t.true_nik, []).append(f"{t.system} {t.student_id}")
    expected = expected_children(truth)
    moved = [nik for nik, active in expected.items() if len(records[nik]) > len(active)]  # a record left behind
    assert moved, "the world should hold PKH children who moved between a madrasah and a school"
    named = 0
    for nik in moved:
        held = kemensos.get_education_verification(nik)
        current = [v for v in held.current if v.periode == PERIODE]
        if not current:
            continue  # not linked
        assert len(held.history) == 1  # once, not once per record
        v = current[0]
        assert f"{v.provenance.source_system.lower()} {v.provenance.source_record}" in {  # type: ignore[union-attr]
            f"{t.system} {t.student_id}" for t in expected[nik]}
        others = set(records[nik]) - {f"{t.system} {t.student_id}" for t in expected[nik]}
        named += any(o in (v.keterangan or "") for o in others)
    assert named > 0  # the record left behind is named in the evidence (when the hub linked it too)


def test_a_second_run_sends_nothing_new(first_run, hub: HubClient) -> None:  # type: ignore[no-untyped-def]
    second = hub.wait(hub.start_run().id, timeout=600)
    assert second.status is RunStatus.SUCCEEDED, second.errors
    assert second.periode == PERIODE
    assert not {"APPLIED", "STALE", "REJECTED"} & set(second.verifications), second.verifications
    full = hub.wait(hub.start_run(SyncRunCreate(full=True)).id, timeout=600)  # every record read and decided again
    assert full.status is RunStatus.SUCCEEDED, full.errors
    assert set(full.verifications) <= {"not_sent_unchanged"}, full.verifications
    assert full.verifications["not_sent_unchanged"] == first_run.verifications["APPLIED"]


def test_the_next_period_reports_who_dropped_out_as_not_enrolled(first_run, hub: HubClient, world: Path,  # type: ignore[no-untyped-def]
                                                                 kemensos: KemensosClient) -> None:
    nxt = hub.wait(hub.start_run(SyncRunCreate(periode=NEXT)).id, timeout=600)
    assert nxt.status is RunStatus.SUCCEEDED, nxt.errors
    assert nxt.periode == NEXT and nxt.verifications.get("APPLIED") == first_run.verifications["APPLIED"]
    dropped = [nik for nik, records in expected_children(read_ground_truth(world)).items()
               if all(r.dropped_out_on is not None for r in records)]
    seen = 0
    for nik in dropped:
        held = kemensos.get_education_verification(nik)
        by_period = {v.periode: v for v in held.current}
        if PERIODE not in by_period:
            continue  # not linked
        seen += 1
        assert by_period[PERIODE].enrolled and not by_period[PERIODE].active
        assert not by_period[NEXT].enrolled and not by_period[NEXT].active
        assert "left" in (by_period[NEXT].keterangan or "")
    assert seen > 0
