"""Education verification: monthly attendance (VERKOM, 85% rule), idempotent per (child, period), facts
ordered by (observed_at, version), history kept; the family's PKH education commitment; NIKs never in URLs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from services.kemensos_mock.education import service
from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.tests.conftest import ADMIN_TOKEN
from services.kemensos_mock.tests.world import ANAK1, ANAK2, ANAK3, IBU1, KK1, KK2, KK3, STRANGER1
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import KomitmenPendidikanRequest, VerifikasiPendidikan, VerifikasiPendidikanBatch
from shared.db import make_engine, migrate, session_scope

PATH = "/api/v1/education-verification"
AT = "2026-07-01T03:15:00+00:00"
LATER = (datetime.fromisoformat(AT) + timedelta(days=30)).isoformat()
GOOD = [{"bulan": 4, "hari_efektif": 22, "alpa": 0, "izin": 1, "sakit": 1},
        {"bulan": 5, "hari_efektif": 20, "alpa": 1, "izin": 1, "sakit": 1},
        {"bulan": 6, "hari_efektif": 18, "alpa": 0, "izin": 0, "sakit": 0}]
PROVENANCE = {"provenance_id": "prov-1", "source_system": "DAPODIK", "source_record": "pd-1", "source_version": 3,
              "observed_seq": 77}


def item(**overrides: object) -> dict:
    return {"nik_anak": ANAK1, "periode": "2026-T2", "enrolled": True, "active": True, "npsn": "20212345",
            "sumber": "DAPODIK", "kehadiran": GOOD, "provenance": PROVENANCE, "observed_at": AT, "version": 1,
            **overrides}


def month(bulan: int = 5, **overrides: object) -> dict:
    return {"bulan": bulan, "hari_efektif": 20, "alpa": 0, "izin": 0, "sakit": 0, **overrides}


def put(client: TestClient, *items: dict) -> list[str]:
    response = client.put(PATH, json={"items": list(items)})
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def held(client: TestClient, nik: str = ANAK1) -> dict:
    response = client.post(f"{PATH}/search", json={"nik_anak": nik})
    assert response.status_code == 200, response.text
    return response.json()


def commitment(client: TestClient, *kks: str, periode: str = "2026-T2") -> list[dict]:
    response = client.post(f"{PATH}/family-commitment", json={"periode": periode, "no_kk": list(kks)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_applied_then_a_repeat_changes_nothing_and_says_so(client: TestClient) -> None:
    emis = item(nik_anak=ANAK2, nsm="111232180191", npsn=None, sumber="EMIS")
    assert put(client, item(), emis) == ["APPLIED", "APPLIED"]
    before = held(client)
    assert put(client, item(), emis) == ["UNCHANGED", "UNCHANGED"]
    assert held(client) == before
    (current,) = before["current"]
    assert (current["periode"], current["enrolled"], current["active"], current["npsn"], current["client"]) == \
        ("2026-T2", True, True, "20212345", "sync_hub")
    assert [(m["bulan"], m["persen_hadir"], m["memenuhi_85"]) for m in current["kehadiran"]] == [
        (4, 90.91, True), (5, 85.0, True), (6, 100.0, True)]
    assert current["provenance"] == PROVENANCE and current["version"] == 1
    assert len(before["history"]) == 1


def test_the_same_facts_observed_later_or_with_other_provenance_are_unchanged(client: TestClient) -> None:
    assert put(client, item()) == ["APPLIED"]
    again = item(observed_at=LATER, version=2, provenance={**PROVENANCE, "provenance_id": "prov-2"})
    assert put(client, again) == ["UNCHANGED"]
    assert len(held(client)["history"]) == 1 and held(client)["current"][0]["provenance"]["provenance_id"] == "prov-1"


def test_newer_facts_supersede_older_are_stale_history_kept(client: TestClient) -> None:
    assert put(client, item()) == ["APPLIED"]
    dropped = item(observed_at=LATER, active=False, kehadiran=[month(6, alpa=18, hari_efektif=18)],
                   keterangan="putus sekolah")
    assert put(client, dropped) == ["APPLIED"]
    assert put(client, item(keterangan="older")) == ["STALE"]  # observed before the stored facts
    assert put(client, item(observed_at=LATER, version=0, active=True)) == ["STALE"]  # same time, older version
    assert put(client, item(periode="2026-T3", kehadiran=[month(7)])) == ["APPLIED"]  # another period
    body = held(client)
    assert [(c["periode"], c["active"]) for c in body["current"]] == [("2026-T3", True), ("2026-T2", False)]
    assert [(h["periode"], h["active"], h["keterangan"]) for h in body["history"]] == [
        ("2026-T3", True, None), ("2026-T2", False, "putus sekolah"), ("2026-T2", True, None)]


def test_a_higher_version_at_the_same_instant_supersedes(client: TestClient) -> None:
    assert put(client, item()) == ["APPLIED"]
    assert put(client, item(version=2, kehadiran=[month(4, alpa=10)])) == ["APPLIED"]
    assert held(client)["current"][0]["kehadiran"][0]["memenuhi_85"] is False


def test_same_child_and_period_twice_in_one_batch_applies_in_order(client: TestClient) -> None:
    later = item(observed_at=LATER, enrolled=False, active=False, npsn=None, kehadiran=[])
    assert put(client, item(), item(), later, item()) == ["APPLIED", "UNCHANGED", "APPLIED", "STALE"]
    assert held(client)["current"][0]["enrolled"] is False


def test_a_nik_outside_the_registry_is_not_found_and_not_stored(client: TestClient) -> None:
    assert put(client, item(nik_anak=STRANGER1), item()) == ["NOT_FOUND", "APPLIED"]
    assert held(client, STRANGER1) == {"nik_anak": STRANGER1, "current": [], "history": []}


def test_the_single_item_route_follows_the_same_rules(client: TestClient) -> None:
    assert client.put(f"{PATH}/item", json=item()).json() == {"nik_anak": ANAK1, "periode": "2026-T2",
                                                             "status": "APPLIED"}
    assert client.put(f"{PATH}/item", json=item()).json()["status"] == "UNCHANGED"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = client.put(f"{PATH}/item", json=item(observed_at=future, version=9))
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("observed_at", "in_future")]
    response = client.put(f"{PATH}/item", json=item(kehadiran=[month(9)]))
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("kehadiran", "month_outside_period")]
    assert len(held(client)["history"]) == 1


@pytest.mark.parametrize(("items", "field", "rule"), [
    ([item(nik_anak="320101470512000")], "items[0].nik_anak", "string_pattern_mismatch"),
    ([item(nik_anak="32010147051200O1")], "items[0].nik_anak", "string_pattern_mismatch"),
    ([item(periode="2026-S1")], "items[0].periode", "string_pattern_mismatch"),
    ([item(periode="2026-T5")], "items[0].periode", "string_pattern_mismatch"),
    ([item(kehadiran=[month(5, alpa=10, izin=6, sakit=5)])], "items[0].kehadiran[0]",
     "absences_exceed_effective_days"),
    ([item(kehadiran=[month(4), month(5, sakit=-1)])], "items[0].kehadiran[1].sakit", "greater_than_equal"),
    ([item(kehadiran=[month(5, alpa=-2)])], "items[0].kehadiran[0].alpa", "greater_than_equal"),
    ([item(kehadiran=[month(5, hari_efektif=0)])], "items[0].kehadiran[0].hari_efektif", "greater_than_equal"),
    ([item(kehadiran=[month(7)])], "items[0].kehadiran", "month_outside_period"),
    ([item(kehadiran=[month(13)])], "items[0].kehadiran[0].bulan", "less_than_equal"),
    ([item(kehadiran=[month(5), month(5)])], "items[0].kehadiran", "duplicate_month"),
    ([item(kehadiran=[month(5, alpa=4, persen_hadir=100)])], "items[0].kehadiran[0]", "attendance_mismatch"),
    ([item(kehadiran=[month(5, alpa=4, memenuhi_85=True)])], "items[0].kehadiran[0]", "attendance_mismatch"),
    ([item(kehadiran=[month(4), month(5), month(6), month(4)])], "items[0].kehadiran", "too_long"),
    ([item(enrolled=False, npsn=None)], "items[0]", "active_without_enrolment"),
    ([item(npsn=None)], "items[0]", "school_required"),
    ([item(npsn="123")], "items[0].npsn", "string_pattern_mismatch"),
    ([item(nsm="12345678901X")], "items[0].nsm", "string_pattern_mismatch"),
    ([item(enrolled="ya")], "items[0].enrolled", "bool_parsing"),
    ([item(observed_at="2026-08-01T03:15:00")], "items[0].observed_at", "timezone_aware"),
    ([item(observed_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())], "items[0].observed_at", "in_future"),
    ([item(version=-1)], "items[0].version", "greater_than_equal"),
    # past BIGINT: refused by the contract (a driver's overflow, a 500, before; found by schemathesis)
    ([item(version=2**63)], "items[0].version", "less_than_equal"),
    ([item(provenance={**PROVENANCE, "observed_seq": 2**64 + 5})], "items[0].provenance.observed_seq",
     "less_than_equal"),
    ([item(provenance={**PROVENANCE, "source_version": 10**30})], "items[0].provenance.source_version",
     "less_than_equal"),
    ([item(provenance={**PROVENANCE, "source_system": "SIMPATIKA"})], "items[0].provenance.source_system", "enum"),
    ([item(provenance={k: v for k, v in PROVENANCE.items() if k != "provenance_id"})],
     "items[0].provenance.provenance_id", "missing"),
    ([item(keterangan="x" * 201)], "items[0].keterangan", "string_too_long"),
    ([item(sumber="SIMPATIKA")], "items[0].sumber", "enum"),
    ([item(kelas=3)], "items[0].kelas", "extra_forbidden"),
    ([item(nik_anak=ANAK2), item(kehadiran=[month(5, izin=21)])], "items[1].kehadiran[0]",
     "absences_exceed_effective_days"),  # all or nothing: the good first item is not stored either
    ([], "items", "too_short"),
    ([item()] * 1001, "items", "too_long"),
])
def test_bad_batches_are_422_and_nothing_is_stored(client: TestClient, items: list, field: str, rule: str) -> None:
    response = client.put(PATH, json={"items": items})
    assert response.status_code == 422
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]], response.json()
    assert held(client)["history"] == [] and held(client, ANAK2)["history"] == []


@pytest.mark.parametrize("overrides", [{"version": 2**63}, {"provenance": {**PROVENANCE, "observed_seq": 2**63}}])
def test_one_item_past_bigint_is_422_and_nothing_is_stored(client: TestClient, overrides: dict) -> None:
    response = client.put(f"{PATH}/item", json=item(**overrides))
    assert response.status_code == 422, response.text
    assert [e["rule"] for e in response.json()["errors"]] == ["less_than_equal"]
    assert held(client)["history"] == []
    assert client.put(f"{PATH}/item", json=item(version=2**63 - 1)).json()["status"] == "APPLIED"


def test_no_nik_in_a_url_the_search_takes_it_in_the_body(client: TestClient) -> None:
    assert client.get(f"{PATH}/{ANAK1}").status_code in (404, 405)
    response = client.post(f"{PATH}/search", json={"nik_anak": "1234"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "nik_anak"
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(PATH) and "{" in p]


# ---- the family's education commitment -------------------------------------------------------------


def test_family_commitment_follows_the_85_percent_rule(client: TestClient) -> None:
    # KK1: PKH 2026 tahap II with SD and SMP, no beneficiary named -> its children of school age count
    assert [r["status"] for r in commitment(client, KK1, KK2, KK3, "3201019999999999")] == [
        "NO_VERIFICATION", "NOT_APPLICABLE", "NOT_APPLICABLE", "NOT_FOUND"]
    (kk1,) = commitment(client, KK1)
    assert {(a["nik_anak"], a["status"], tuple(a["reasons"])) for a in kk1["anak"]} == {
        (ANAK1, "NO_VERIFICATION", ("NO_VERIFICATION",)), (ANAK2, "NO_VERIFICATION", ("NO_VERIFICATION",))}
    assert put(client, item(), item(nik_anak=ANAK2)) == ["APPLIED", "APPLIED"]
    assert commitment(client, KK1)[0]["status"] == "MET"
    assert commitment(client, KK1, periode="2026-T1")[0]["status"] == "NO_VERIFICATION"  # another period
    below = item(observed_at=LATER, kehadiran=[*GOOD[:1], month(5, alpa=3, izin=1), GOOD[2]])  # 80% in May
    assert put(client, below) == ["APPLIED"]
    (kk1,) = commitment(client, KK1)
    by_child = {a["nik_anak"]: a for a in kk1["anak"]}
    assert kk1["status"] == "NOT_MET"
    assert (by_child[ANAK1]["status"], by_child[ANAK1]["reasons"], by_child[ANAK1]["bulan_di_bawah_85"]) == \
        ("NOT_MET", ["ATTENDANCE_BELOW_85"], [5])
    assert by_child[ANAK2]["status"] == "MET"


def test_a_child_out_of_school_or_without_months_is_said_so(client: TestClient) -> None:
    left = item(nik_anak=ANAK2, enrolled=False, active=False, npsn=None, kehadiran=[])
    assert put(client, item(kehadiran=[]), left) == ["APPLIED", "APPLIED"]
    (kk1,) = commitment(client, KK1)
    by_child = {a["nik_anak"]: (a["status"], a["reasons"]) for a in kk1["anak"]}
    assert by_child == {ANAK1: ("NO_VERIFICATION", ["NO_ATTENDANCE"]), ANAK2: ("NOT_MET", ["NOT_ENROLLED"])}
    assert kk1["status"] == "NOT_MET"


def test_named_beneficiaries_are_the_children_counted(client: TestClient) -> None:
    response = client.put("/api/v1/admin/pkh", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={
        "no_kk": KK1, "status": "AKTIF", "tahun": 2026, "tahap": 2,
        "penerima": [{"nik": ANAK1, "komponen": "SD"}, {"nik": IBU1, "komponen": "IBU_HAMIL"}]})
    assert response.status_code == 200, response.text
    assert put(client, item()) == ["APPLIED"]
    (kk1,) = commitment(client, KK1)
    assert (kk1["status"], [(a["nik_anak"], a["komponen"], a["status"]) for a in kk1["anak"]]) == \
        ("MET", [(ANAK1, "SD", "MET")])


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"periode": "2026-T2", "no_kk": ["123"]}, "no_kk[0]", "string_pattern_mismatch"),
    ({"periode": "2026-S1", "no_kk": [KK1]}, "periode", "string_pattern_mismatch"),
    ({"periode": "2026-T2", "no_kk": []}, "no_kk", "too_short"),
    ({"periode": "2026-T2", "no_kk": [KK1] * 1001}, "no_kk", "too_long"),
    ({"no_kk": [KK1]}, "periode", "missing"),
])
def test_bad_family_searches_are_422(client: TestClient, body: dict, field: str, rule: str) -> None:
    response = client.post(f"{PATH}/family-commitment", json=body)
    assert response.status_code == 422
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]]


# ---- storage: both databases -------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def test_idempotence_history_and_commitment_on_both_databases(engine: Engine) -> None:
    batch = VerifikasiPendidikanBatch(items=[VerifikasiPendidikan.model_validate(item()),
                                             VerifikasiPendidikan.model_validate(item(nik_anak=ANAK2))])
    statuses = []
    for _ in range(3):  # the same batch three times, e.g. retried by the hub
        with session_scope(engine) as s:
            statuses.append([r.status.value for r in service.put_batch(s, batch, "sync_hub").results])
    assert statuses == [["APPLIED", "APPLIED"], ["UNCHANGED", "UNCHANGED"], ["UNCHANGED", "UNCHANGED"]]
    older = VerifikasiPendidikanBatch(items=[VerifikasiPendidikan.model_validate(
        item(observed_at="2026-06-01T00:00:00+00:00", active=False))])
    with session_scope(engine) as s:
        assert [r.status.value for r in service.put_batch(s, older, "sync_hub").results] == ["STALE"]
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(VerifikasiRow)).scalar() == 2
        assert s.execute(select(func.count()).select_from(VerifikasiRiwayatRow)).scalar() == 2
        back = service.of_child(s, ANAK1).current[0]
        family = service.family_commitment(s, KomitmenPendidikanRequest(periode="2026-T2", no_kk=[KK1, KK2]))
    assert back.observed_at == datetime.fromisoformat(AT) and back.observed_at.tzinfo is not None
    assert [m.persen_hadir for m in back.kehadiran] == [90.91, 85.0, 100.0]
    assert back.provenance.source_version == 3 and back.provenance.observed_seq == 77
    assert [r.status.value for r in family.results] == ["MET", "NOT_APPLICABLE"]


def test_migration_0006_keeps_verifications_received_before(db_url: str) -> None:
    migrate(MIGRATIONS, db_url, "0005_programmes_and_kk_history")
    engine = make_engine(db_url)
    try:
        at = datetime(2026, 8, 1, tzinfo=UTC)
        with engine.begin() as conn:
            for table in ("verifikasi_pendidikan", "verifikasi_pendidikan_riwayat"):
                conn.execute(text(f"INSERT INTO {table} (nik_anak, periode, enrolled, active, npsn, verified_at, "
                                  "received_at, client) VALUES (:nik, '2026-S1', true, true, '20212345', :at, :at, "
                                  "'sync_hub')"), {"nik": ANAK3, "at": at})
        migrate(MIGRATIONS, db_url)
        with session_scope(engine) as s:
            body = service.of_child(s, ANAK3)
        (current,) = body.current
        assert (current.periode, current.observed_at, current.version, current.kehadiran) == ("2026-S1", at, 0, [])
        assert current.provenance.provenance_id is None and len(body.history) == 1
    finally:
        engine.dispose()
