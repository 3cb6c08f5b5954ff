"""PUT /api/v1/education-verification: idempotent per (child, period), newest wins, history kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from services.kemensos_mock.education import service
from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.tests.world import ANAK1, ANAK2, STRANGER1
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import VerifikasiPendidikan, VerifikasiPendidikanBatch
from shared.db import make_engine, migrate, session_scope

PATH = "/api/v1/education-verification"
AT = "2026-08-01T03:15:00+00:00"


def item(**overrides: object) -> dict:
    return {"nik_anak": ANAK1, "periode": "2026-S1", "enrolled": True, "active": True, "npsn": "20212345",
            "sumber": "DAPODIK", "verified_at": AT, **overrides}


def put(client: TestClient, *items: dict) -> list[str]:
    response = client.put(PATH, json={"items": list(items)})
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def test_created_then_a_repeat_changes_nothing_and_says_so(client: TestClient) -> None:
    assert put(client, item(), item(nik_anak=ANAK2, nsm="111232180191", npsn=None, sumber="EMIS")) == \
        ["CREATED", "CREATED"]
    before = client.get(f"{PATH}/{ANAK1}").json()
    assert put(client, item(), item(nik_anak=ANAK2, nsm="111232180191", npsn=None, sumber="EMIS")) == \
        ["UNCHANGED", "UNCHANGED"]
    assert client.get(f"{PATH}/{ANAK1}").json() == before
    (current,) = before["current"]
    assert (current["periode"], current["enrolled"], current["active"], current["npsn"], current["client"]) == \
        ("2026-S1", True, True, "20212345", "sync_hub")
    assert len(before["history"]) == 1


def test_newer_verification_updates_and_older_is_stale_history_kept(client: TestClient) -> None:
    later = (datetime.fromisoformat(AT) + timedelta(days=30)).isoformat()
    assert put(client, item()) == ["CREATED"]
    assert put(client, item(verified_at=later, active=False)) == ["UPDATED"]
    assert put(client, item(active=True)) == ["STALE"]  # verified before the stored one
    assert put(client, item(periode="2026-T3")) == ["CREATED"]  # another period of the same child
    body = client.get(f"{PATH}/{ANAK1}").json()
    assert [(c["periode"], c["active"]) for c in body["current"]] == [("2026-T3", True), ("2026-S1", False)]
    assert [(h["periode"], h["active"]) for h in body["history"]] == [
        ("2026-T3", True), ("2026-S1", False), ("2026-S1", True)]


def test_same_child_and_period_twice_in_one_batch_applies_in_order(client: TestClient) -> None:
    later = (datetime.fromisoformat(AT) + timedelta(hours=1)).isoformat()
    assert put(client, item(), item(), item(verified_at=later, enrolled=False, active=False, npsn=None)) == \
        ["CREATED", "UNCHANGED", "UPDATED"]
    assert client.get(f"{PATH}/{ANAK1}").json()["current"][0]["enrolled"] is False


def test_a_nik_outside_the_registry_is_not_found_and_not_stored(client: TestClient) -> None:
    assert put(client, item(nik_anak=STRANGER1), item()) == ["NOT_FOUND", "CREATED"]
    assert client.get(f"{PATH}/{STRANGER1}").json() == {"nik_anak": STRANGER1, "current": [], "history": []}


@pytest.mark.parametrize(("items", "field", "rule"), [
    ([item(nik_anak="320101470512000")], "items[0].nik_anak", "string_pattern_mismatch"),
    ([item(periode="2026-S3")], "items[0].periode", "string_pattern_mismatch"),
    ([item(periode="2026")], "items[0].periode", "string_pattern_mismatch"),
    ([item(enrolled=False, npsn=None)], "items[0]", "active_without_enrolment"),
    ([item(npsn=None)], "items[0]", "school_required"),
    ([item(npsn="123")], "items[0].npsn", "string_pattern_mismatch"),
    ([item(nsm="12345678901X")], "items[0].nsm", "string_pattern_mismatch"),
    ([item(enrolled="ya")], "items[0].enrolled", "bool_parsing"),
    ([item(verified_at="2026-08-01T03:15:00")], "items[0].verified_at", "timezone_aware"),
    ([item(verified_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())], "items[0].verified_at", "in_future"),
    ([item(sumber="SIMPATIKA")], "items[0].sumber", "enum"),
    ([item(kelas=3)], "items[0].kelas", "extra_forbidden"),
    ([item(), item(nik_anak="x")], "items[1].nik_anak", "string_pattern_mismatch"),
    ([], "items", "too_short"),
    ([item()] * 1001, "items", "too_long"),
])
def test_bad_batches_are_422_and_nothing_is_stored(client: TestClient, items: list, field: str, rule: str) -> None:
    response = client.put(PATH, json={"items": items})
    assert response.status_code == 422
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]]
    assert client.get(f"{PATH}/{ANAK1}").json()["history"] == []


def test_malformed_nik_in_the_path_is_422(client: TestClient) -> None:
    response = client.get(f"{PATH}/1234")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "nik_anak"


# ---- storage: both databases -------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def test_idempotence_and_history_on_both_databases(engine: Engine) -> None:
    batch = VerifikasiPendidikanBatch(items=[VerifikasiPendidikan.model_validate(item()),
                                             VerifikasiPendidikan.model_validate(item(nik_anak=ANAK2))])
    statuses = []
    for _ in range(3):  # the same batch three times, e.g. retried by the hub
        with session_scope(engine) as s:
            statuses.append([r.status.value for r in service.put_batch(s, batch, "sync_hub").results])
    assert statuses == [["CREATED", "CREATED"], ["UNCHANGED", "UNCHANGED"], ["UNCHANGED", "UNCHANGED"]]
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(VerifikasiRow)).scalar() == 2
        assert s.execute(select(func.count()).select_from(VerifikasiRiwayatRow)).scalar() == 2
        back = service.of_child(s, ANAK1).current[0]
    assert back.verified_at == datetime.fromisoformat(AT) and back.verified_at.tzinfo is not None
