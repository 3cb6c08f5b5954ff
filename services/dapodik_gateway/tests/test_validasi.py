"""Validation before sync: findings classed warning/invalid per record, listed per school and per student;
invalid records held back: listed for the operator, and in the hub's feed with their findings (rule and field,
never the value), so that the hub decides them on the keys that remain usable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from shared.clients import DapodikClient
from shared.contracts.common import HubResultItem, Outcome
from shared.http import RetryPolicy
from shared.nik import Sex, encode

NPSN = f.sekolah(1)["npsn"]

# n -> (changes to the record, expected {(field, kode, status)})
CASES: dict[int, tuple[dict[str, Any], set[tuple[str, str, int]]]] = {
    1: ({}, set()),
    2: ({"nik": "320101420214000"}, {("nik", "nik_format", 2)}),
    3: ({"nik": "1234567890123456"}, {("nik", "nik_placeholder", 2)}),
    4: ({"nik": f.peserta_didik(4)["no_kk"]}, {("nik", "nik_sama_no_kk", 2)}),
    5: ({"nik": f.peserta_didik(5)["nik_ibu"]}, {("nik", "nik_sama_orang_tua", 2),
                                                 ("nik", "nik_tanggal_lahir_beda", 1)}),
    6: ({"nisn": "012345678"}, {("nisn", "nisn_format", 2)}),
    7: ({"nama": "Siswa_Tujuh 7"}, {("nama", "nama_karakter", 2)}),
    8: ({"nama_ibu_kandung": ""}, {("nama_ibu_kandung", "nama_ibu_kosong", 2)}),
    9: ({"nik": None}, {("nik", "nik_kosong", 1)}),
    10: ({"nik_ibu": None}, {("nik_ibu", "nik_ibu_kosong", 1)}),
    11: ({"nik": encode("320101", Sex.P, date(2013, 1, 1), 77)}, {("nik", "nik_tanggal_lahir_beda", 1)}),
    12: ({"nik": "9999014202140002"}, {("nik", "nik_tidak_terbaca", 1)}),
    13: ({"nik_ayah": "123"}, {("nik_ayah", "nik_orang_tua_tidak_valid", 1)}),
    14: ({"nik_ayah": f.peserta_didik(14)["nik_ibu"]}, {("nik_ayah", "nik_ayah_sama_nik_ibu", 1)}),
    15: ({"no_kk": None}, {("no_kk", "no_kk_kosong", 1)}),
    16: ({"nama_ayah": "Ayah (Alm)"}, {("nama_ayah", "nama_ayah_karakter", 1)}),
    17: ({"nik": " ".join(f.peserta_didik(17)["nik"][i:i + 4] for i in range(0, 16, 4))}, set()),  # spaced
}
INVALID = {n for n, (_, expected) in CASES.items() if any(s == 2 for *_, s in expected)}


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    students = [f.peserta_didik(n, **changes) for n, (changes, _) in CASES.items()]
    return make_client([f.sekolah(1), f.sekolah(2)], [*students, f.peserta_didik(40, 2, nik="1")])


def _findings(client: TestClient, n: int) -> set[tuple[str, str, int]]:
    r = client.get(f"/api/v1/peserta-didik/{f.uid(n)}/validasi")
    assert r.status_code == 200, r.text
    return {(t["field_error"], t["kode"], t["status_validasi"]) for t in r.json()["temuan"]}


def test_each_record_gets_its_findings_with_field_rule_and_class(client: TestClient) -> None:
    for n, (_, expected) in CASES.items():
        assert _findings(client, n) == expected, n
        body = client.get(f"/api/v1/peserta-didik/{f.uid(n)}/validasi").json()
        assert body["status_validasi"] == max((s for *_, s in expected), default=0)
        assert all(t["error_message"] and t["idtype"] > 100 for t in body["temuan"])
    student = client.get(f"/api/v1/peserta-didik/{f.uid(2)}").json()
    assert student["status_validasi"] == 2


def test_a_school_lists_its_findings_and_the_records_held_back(client: TestClient) -> None:
    listed = client.get(f"/api/v1/sekolah/{NPSN}/validasi").json()["items"]
    assert {s["peserta_didik_id"] for s in listed} == {f.uid(n) for n, (_, e) in CASES.items() if e}
    held = client.get(f"/api/v1/sekolah/{NPSN}/validasi", params={"status_validasi": 2}).json()["items"]
    assert {s["peserta_didik_id"] for s in held} == {f.uid(n) for n in INVALID}
    assert all(s["status_validasi"] == 2 and s["nama"] and s["temuan"] for s in held)
    # paged
    first = client.get(f"/api/v1/sekolah/{NPSN}/validasi", params={"status_validasi": 2, "limit": 2}).json()
    second = client.get(f"/api/v1/sekolah/{NPSN}/validasi",
                        params={"status_validasi": 2, "limit": 50, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2 and {s["peserta_didik_id"] for s in first["items"] + second["items"]} == {
        f.uid(n) for n in INVALID}
    # the other school has its own list
    other = client.get(f"/api/v1/sekolah/{f.sekolah(2)['npsn']}/validasi").json()["items"]
    assert [s["peserta_didik_id"] for s in other] == [f.uid(40)]


def test_held_back_records_reach_the_hubs_feed_with_their_findings(client: TestClient) -> None:
    feed = {s["peserta_didik_id"]: s for s in
            client.get("/api/v1/hub/peserta-didik", params={"npsn": NPSN}).json()["items"]}
    assert set(feed) == {f.uid(n) for n in CASES}  # held back or not: every validated record
    for n, (_, expected) in CASES.items():
        s = feed[f.uid(n)]
        assert s["status_validasi"] == max((c for *_, c in expected), default=0), n
        assert {(t["field_error"], t["kode"], t["status_validasi"]) for t in s["temuan_validasi"]} == expected, n
    # the findings name the rule and the field, never the value (case 5: the mother's NIK typed as the child's)
    assert f.peserta_didik(5)["nik_ibu"] not in str(feed[f.uid(5)]["temuan_validasi"])
    assert any("nik_ibu" in t["error_message"] for t in feed[f.uid(5)]["temuan_validasi"])
    everyone = client.get("/api/v1/peserta-didik", params={"npsn": NPSN}).json()["items"]
    assert len(everyone) == len(CASES)  # the operator's list shows every record, with the same findings
    assert {s["peserta_didik_id"]: s["temuan_validasi"] for s in everyone} == {
        k: v["temuan_validasi"] for k, v in feed.items()}
    r = client.get(f"/api/v1/hub/peserta-didik/{f.uid(3)}")  # named: answered like any other record
    assert r.status_code == 200 and r.json()["status_validasi"] == 2
    assert [(t["kode"], t["field_error"]) for t in r.json()["temuan_validasi"]] == [("nik_placeholder", "nik")]
    assert client.get(f"/api/v1/hub/peserta-didik/{f.uid(9)}").json()["nik"] is None  # a warning is synced


def test_the_hubs_client_reads_the_feed(client: TestClient, token: str) -> None:
    dapodik = DapodikClient("http://testserver", token, http=client, retry=RetryPolicy(attempts=1))
    read = {s.peserta_didik_id: s for s in dapodik.iter_students(limit=4)}
    assert set(read) == {f.uid(n) for n in (*CASES, 40)}  # student 40 (school 2, an invalid NIK) too
    assert read[f.uid(40)].status_validasi == 2
    assert [(t.kode, t.field_error) for t in read[f.uid(40)].temuan_validasi] == [("nik_format", "nik")]
    listed = {s.peserta_didik_id for s in dapodik.iter_peserta_didik(limit=4)}  # the operators' list: the same
    assert listed == set(read)


def test_the_hubs_results_apply_to_a_held_back_record_with_provenance(client: TestClient) -> None:
    """A held-back record's outcome is applied like any other (linked by its KK number here, and one decided
    NIK_INVALID); the record then shows the outcome next to the findings that say what to fix."""
    linked = f.pkh_item(3, 10, outcome=Outcome.PKH_RECIPIENT)
    linked = linked.model_copy(update={"outcome_detail": "family found by no_kk; invalid: nik: placeholder"})
    invalid = HubResultItem(student_id=f.uid(2), outcome=Outcome.NIK_INVALID, outcome_detail="nik: length",
                            values={}, provenance=f.provenance(10, "prov-invalid"))
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(linked, invalid)))
    assert r.status_code == 200, r.text
    assert [(x["status"], sorted(x["fields_written"])) for x in r.json()["results"]] == [
        ("APPLIED", ["keterangan_padan", "penerima_kps", "status_padan"]),
        ("APPLIED", ["keterangan_padan", "status_padan"])]
    s = client.get(f"/api/v1/peserta-didik/{f.uid(3)}").json()
    assert (s["status_padan"], s["penerima_kps"], s["status_validasi"]) == ("PKH_RECIPIENT", True, 2)
    assert {p["field"]: p["provenance_id"] for p in s["provenance"]}["penerima_kps"] == "prov-pkh"
    assert [t["kode"] for t in s["temuan_validasi"]] == ["nik_placeholder"]
    s = client.get(f"/api/v1/peserta-didik/{f.uid(2)}").json()
    assert (s["status_padan"], s["keterangan_padan"], s["penerima_kps"]) == ("NIK_INVALID", "nik: length", False)


@pytest.mark.parametrize(("path", "params", "field", "rule"), [
    (f"/api/v1/sekolah/{NPSN}/validasi", {"status_validasi": 3}, "status_validasi", "enum"),
    (f"/api/v1/sekolah/{NPSN}/validasi", {"status_validasi": "invalid"}, "status_validasi", "enum"),
    (f"/api/v1/sekolah/{NPSN}/validasi", {"cursor": "x"}, "cursor", "opaque_cursor"),
    (f"/api/v1/sekolah/{NPSN}/validasi", {"limit": 0}, "limit", "greater_than_equal"),
    (f"/api/v1/sekolah/{NPSN}/validasi", {"status": 2}, "status", "unknown_parameter"),
    ("/api/v1/sekolah/1234/validasi", {}, "npsn", "string_pattern_mismatch"),
    ("/api/v1/peserta-didik/xyz/validasi", {}, "peserta_didik_id", "string_pattern_mismatch"),
    ("/api/v1/hub/peserta-didik", {"npsn": "12"}, "npsn", "string_pattern_mismatch"),
    ("/api/v1/hub/peserta-didik", {"limit": 1001}, "limit", "less_than_equal"),
    ("/api/v1/hub/peserta-didik/xyz", {}, "peserta_didik_id", "string_pattern_mismatch"),
])
def test_malformed_input_is_422_naming_field_and_rule(client: TestClient, path: str, params: dict[str, Any],
                                                     field: str, rule: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_unknown_school_or_student_is_404(client: TestClient) -> None:
    r = client.get("/api/v1/sekolah/99999999/validasi")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "npsn"
    r = client.get(f"/api/v1/peserta-didik/{f.uid(999)}/validasi")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "peserta_didik_id"
    r = client.get(f"/api/v1/hub/peserta-didik/{f.uid(999)}")
    assert r.status_code == 404 and r.json()["errors"][0]["rule"] == "not_found"


def test_records_loaded_before_validation_existed_are_validated_at_startup(client: TestClient, token: str) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM vld_peserta_didik"))
        conn.execute(sa.text("UPDATE peserta_didik SET status_validasi = NULL"))
    unvalidated = client.get("/api/v1/hub/peserta-didik", params={"removed": "true", "limit": 1000}).json()
    assert unvalidated["items"] == []  # not validated: not offered, tombstones for a reader keeping a copy
    assert {g["alasan"] for g in unvalidated["removed"]} == {"not_validated"}
    r = client.get(f"/api/v1/hub/peserta-didik/{f.uid(1)}")
    assert r.status_code == 404 and r.json()["errors"][0]["rule"] == "not_validated"
    url = client.app.state.settings.database_url  # type: ignore[attr-defined]
    with TestClient(create_app(Settings(database_url=url, api_tokens={"sync_hub": token}))) as again:
        again.headers["Authorization"] = f"Bearer {token}"
        assert _findings(again, 3) == CASES[3][1]
        feed = again.get("/api/v1/hub/peserta-didik", params={"npsn": NPSN}).json()["items"]
        assert {s["peserta_didik_id"] for s in feed} == {f.uid(n) for n in CASES}
        assert {s["peserta_didik_id"] for s in feed if s["status_validasi"] == 2} == {f.uid(n) for n in INVALID}


def test_records_validated_together_get_the_findings_each_gets_alone() -> None:
    """``validate_many`` (the loader's: NIK checks of a whole chunk at once) answers as ``validate`` does,
    including NIKs that are not plain digits, Unicode digits, placeholders and impossible dates."""
    from services.dapodik_gateway.validasi import rules

    odd = ["", " ", "1234567890123456", "32.0101.420214.0001", "３２０１０１４２０２１４０００１", "0000000000000000",
           "3201019999990001", "9901014202140001", "32010142021400001", "320101420214000", "abc", "3201010000000000",
           "1111222233334444", "3201012902000001", "3201012902010001", "3201016902000001", "3201014202140000",
           "3201017102000001", "3201010101990001", "2345678901234567"]
    records: list[dict[str, Any]] = []
    for n in range(1, 60):
        rec = f.peserta_didik(n)
        rec["tanggal_lahir"] = date.fromisoformat(rec["tanggal_lahir"])
        for k, name in enumerate(("nik", "no_kk", "nik_ayah", "nik_ibu", "nik_wali")):
            pick = (n * 7 + k * 3) % (len(odd) + 4)
            if pick < len(odd):
                rec[name] = odd[pick]
            elif pick == len(odd):
                rec[name] = rec["nik_ibu"]  # shared with the mother
        records.append(rec)
    together = rules.validate_many(records)
    assert together == [rules.validate(rec) for rec in records]
    assert {f.rule.kode for found in together for f in found} >= {
        "nik_format", "nik_placeholder", "nik_tidak_terbaca", "nik_orang_tua_tidak_valid", "no_kk_format"}
