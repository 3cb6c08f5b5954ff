"""KIP SK batches: applied to the students they name (KIP number replaces the KPS number, history kept,
provenance = the SK), idempotent, unmatched issuances listed for follow-up; malformed SKs are 4xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from shared.contracts.common import Outcome

NPSN = f.sekolah(1)["npsn"]
TABLES = ("field_provenance", "value_history", "field_observation", "kesejahteraan_pd", "kip_tidak_cocok",
          "sk_kip", "table_sync_log")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1) for n in range(1, 6)]
                       + [f.peserta_didik(6, 2)])


@pytest.fixture
def gw(make_client: Callable[..., TestClient], db_url: str) -> TestClient:
    """The same world on SQLite and on PostgreSQL (the refusals read provenance and the students' cards)."""
    return make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1) for n in range(1, 6)]
                       + [f.peserta_didik(6, 2)], url=db_url)


def sk(*items: dict[str, Any], nomor: str = "SK-0001/PIP/2026", tanggal: str = "2026-03-01",
       sumber: str = "puslapdik") -> dict[str, Any]:
    return {"sk": {"nomor_sk": nomor, "tanggal_sk": tanggal, "sumber": sumber}, "items": list(items)}


def issuance(n: int, no_kip: str, **extra: Any) -> dict[str, Any]:
    return {"peserta_didik_id": f.uid(n), "no_kip": no_kip, "nm_kip": f"SISWA {f.word(n)}", **extra}


def post_sk(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/kip/sk", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def counts(client: TestClient) -> dict[str, int]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def student(client: TestClient, n: int) -> dict[str, Any]:
    return client.get(f"/api/v1/peserta-didik/{f.uid(n)}").json()


def test_an_sk_sets_kip_replaces_the_kps_number_and_keeps_the_old_one(client: TestClient) -> None:
    hub = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10, no_kps="KKS-0001"))))
    assert hub.json()["results"][0]["status"] == "APPLIED"
    before = student(client, 1)
    out = post_sk(client, sk(issuance(1, "AB12CD"), issuance(2, "EF34GH"), issuance(77, "ZZ99ZZ")))
    assert [r["status"] for r in out["results"]] == ["APPLIED", "APPLIED", "UNMATCHED"]
    assert (out["n_applied"], out["n_unchanged"], out["n_unmatched"]) == (2, 0, 1)
    assert set(out["results"][0]["fields_written"]) == {"penerima_kip", "no_kip", "nm_kip", "no_kps"}
    s = student(client, 1)
    assert (s["penerima_kip"], s["no_kip"], s["nm_kip"], s["no_kps"]) == (True, "AB12CD", "SISWA B", "AB12CD")
    assert s["penerima_kps"] is True and s["status_padan"] == "PKH_RECIPIENT"  # the PKH values stay
    assert s["last_update"] > before["last_update"]  # an SK is a change of the record
    prov = {p["field"]: p for p in s["provenance"]}
    p = prov["no_kps"]
    assert (p["source_system"], p["source_record"], p["sync_run_id"], p["matched_by"]) == (
        "puslapdik.sk_kip", "sk/SK-0001/PIP/2026", "sk:SK-0001/PIP/2026", "none")
    assert prov["penerima_kps"]["source_system"] == "kemensos.dtsen"
    history = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/riwayat").json()
    kps = [(h["old_value"], h["new_value"], h["source"], h["provenance_id"]) for h in history if h["field"] == "no_kps"]
    assert kps == [(None, "KKS-0001", "hub", "prov-pkh"), ("KKS-0001", "AB12CD", "sk", p["provenance_id"])]
    programmes = {r["nama_jenis"]: r for r in client.get(f"/api/v1/peserta-didik/{f.uid(1)}/kesejahteraan").json()}
    assert (programmes["PIP"]["nomor"], programmes["PIP"]["asal_data"]) == ("AB12CD", "puslapdik.sk_kip")
    assert programmes["KPS"]["nomor"] == "AB12CD"
    [missing] = out["unmatched"]
    assert (missing["peserta_didik_id"], missing["no_kip"], missing["alasan"], missing["nomor_sk"]) == (
        f.uid(77), "ZZ99ZZ", "unknown_peserta_didik_id", "SK-0001/PIP/2026")
    screen = client.get(f"/api/v1/sekolah/{NPSN}/sinkronisasi").json()["last_run"]
    assert (screen["sync_run_id"], screen["n_create"], screen["n_update"]) == ("sk:SK-0001/PIP/2026", 1, 1)


def test_the_same_sk_again_changes_nothing(client: TestClient) -> None:
    body = sk(issuance(1, "AB12CD"), issuance(2, "EF34GH"), issuance(77, "ZZ99ZZ"))
    post_sk(client, body)
    state = counts(client), student(client, 1), student(client, 2)
    again = post_sk(client, body)
    assert [r["status"] for r in again["results"]] == ["UNCHANGED", "UNCHANGED", "UNMATCHED"]
    assert all(r["fields_written"] == [] for r in again["results"])
    assert len(again["unmatched"]) == 1
    assert (counts(client), student(client, 1), student(client, 2)) == state


def test_an_sk_number_with_another_date_is_a_conflict_and_changes_nothing(client: TestClient) -> None:
    post_sk(client, sk(issuance(1, "AB12CD")))
    state = counts(client), student(client, 2)
    r = client.post("/api/v1/kip/sk", json=sk(issuance(2, "EF34GH"), tanggal="2026-04-01"))
    assert r.status_code == 409
    error = r.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("sk.nomor_sk", "conflicts_with_stored_sk")
    assert (counts(client), student(client, 2)) == state


def test_a_later_sk_replaces_the_kip_number_and_keeps_the_previous(client: TestClient) -> None:
    post_sk(client, sk(issuance(3, "AAA111")))
    out = post_sk(client, sk(issuance(3, "BBB222"), nomor="SK-0002/PIP/2026", tanggal="2026-06-01"))
    assert out["results"][0]["status"] == "APPLIED"
    assert set(out["results"][0]["fields_written"]) == {"no_kip", "no_kps"}
    history = client.get(f"/api/v1/peserta-didik/{f.uid(3)}/riwayat").json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "no_kip"] == [
        (None, "AAA111"), ("AAA111", "BBB222")]


def test_hub_results_observed_before_the_sk_are_stale_later_ones_apply(client: TestClient) -> None:
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.kip_item(4, 10, "HUB001"))))
    post_sk(client, sk(issuance(4, "SKK001")))
    old = client.post("/api/v1/hub/results", json=f.body(f.batch(f.kip_item(4, 10, "HUB001", pid="again"))))
    assert old.json()["results"][0]["status"] == "STALE" and student(client, 4)["no_kip"] == "SKK001"
    newer = client.post("/api/v1/hub/results", json=f.body(f.batch(f.kip_item(4, 12, "HUB002", pid="newer"))))
    assert newer.json()["results"][0]["status"] == "APPLIED" and student(client, 4)["no_kip"] == "HUB002"


def test_an_sk_for_a_student_the_hub_already_linked_the_same_kip_to_is_unchanged(client: TestClient) -> None:
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.kip_item(5, 10, "SAME01"))))
    nm = student(client, 5)["nm_kip"]
    out = post_sk(client, sk({"peserta_didik_id": f.uid(5), "no_kip": "SAME01", "nm_kip": nm}))
    assert out["results"][0]["status"] == "UNCHANGED"


def test_the_sk_moves_the_student_in_the_hubs_feed(client: TestClient) -> None:
    feed = client.get("/api/v1/hub/peserta-didik", params={"limit": 1000}).json()
    last = feed["items"][-1]
    assert feed["next_cursor"] is None
    cursor = client.get("/api/v1/hub/peserta-didik", params={"limit": len(feed["items"]) - 1}).json()["next_cursor"]
    tail = client.get("/api/v1/hub/peserta-didik", params={"cursor": cursor}).json()["items"]
    assert [s["peserta_didik_id"] for s in tail] == [last["peserta_didik_id"]]
    post_sk(client, sk(issuance(2, "EF34GH")))
    tail = client.get("/api/v1/hub/peserta-didik", params={"cursor": cursor}).json()["items"]
    assert [s["peserta_didik_id"] for s in tail][-1] == f.uid(2)


def test_mismatched_nisn_or_school_is_unmatched_and_listed_until_a_later_sk_applies(client: TestClient) -> None:
    out = post_sk(client, sk(issuance(1, "AB12CD", nisn="0000000999"), issuance(2, "EF34GH", npsn="99999999"),
                             issuance(3, "IJ56KL", nisn=f.peserta_didik(3)["nisn"], npsn=NPSN)))
    assert [(r["status"], r["detail"]) for r in out["results"]] == [
        ("UNMATCHED", "nisn_mismatch"), ("UNMATCHED", "npsn_mismatch"), ("APPLIED", None)]
    assert student(client, 1)["penerima_kip"] is False
    listed = client.get("/api/v1/kip/unmatched").json()["items"]
    assert [(u["peserta_didik_id"], u["alasan"]) for u in listed] == [(f.uid(1), "nisn_mismatch"),
                                                                       (f.uid(2), "npsn_mismatch")]
    assert [u["peserta_didik_id"] for u in client.get("/api/v1/kip/unmatched", params={"npsn": "99999999"}
                                                      ).json()["items"]] == [f.uid(2)]
    post_sk(client, sk(issuance(1, "AB12CD"), nomor="SK-0003/PIP/2026"))  # the corrected issuance
    assert [u["peserta_didik_id"] for u in client.get("/api/v1/kip/unmatched").json()["items"]] == [f.uid(2)]
    everything = client.get("/api/v1/kip/unmatched", params={"include_resolved": True, "limit": 1}).json()
    assert everything["items"][0]["resolved_at"] is not None and everything["next_cursor"]
    by_sk = client.get("/api/v1/kip/unmatched", params={"nomor_sk": "SK-0001/PIP/2026"}).json()["items"]
    assert [u["peserta_didik_id"] for u in by_sk] == [f.uid(2)]


def nik_of(n: int) -> str:
    return str(f.peserta_didik(n, 1)["nik"])


def test_the_same_sk_with_another_card_for_a_student_is_a_conflict_and_changes_nothing(gw: TestClient) -> None:
    """The review's case: SK-0001 gave student 1 KIPAA1; a copy of the same number and date giving KIPAA9
    overwrote it."""
    post_sk(gw, sk(issuance(1, "KIPAA1"), issuance(2, "KIPBB2")))
    state = counts(gw), student(gw, 1), student(gw, 2)
    r = gw.post("/api/v1/kip/sk", json=sk(issuance(1, "KIPAA9"), issuance(2, "KIPBB2")))
    assert r.status_code == 409, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("items[0].no_kip", "sk_card_changed")
    assert "KIPAA1" in error["message"] and "KIPAA9" in error["message"] and f.uid(1) in error["message"]
    assert nik_of(1) not in r.text
    assert (counts(gw), student(gw, 1), student(gw, 2)) == state
    assert student(gw, 1)["no_kip"] == "KIPAA1"


def test_the_same_sk_with_another_card_for_an_unmatched_issuance_is_a_conflict(gw: TestClient) -> None:
    post_sk(gw, sk(issuance(77, "ZZ99ZZ")))
    state = counts(gw)
    r = gw.post("/api/v1/kip/sk", json=sk(issuance(77, "ZZ88ZZ")))
    assert r.status_code == 409, r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("items[0].no_kip", "sk_card_changed")]
    assert counts(gw) == state


def test_one_card_for_two_students_across_sks_is_a_conflict_and_changes_nothing(gw: TestClient) -> None:
    post_sk(gw, sk(issuance(1, "KIPAA1")))
    state = counts(gw), student(gw, 1), student(gw, 2)
    r = gw.post("/api/v1/kip/sk", json=sk(issuance(2, "KIPAA1"), nomor="SK-0002/PIP/2026", tanggal="2026-04-01"))
    assert r.status_code == 409, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("items[0].no_kip", "card_held_by_other_student")
    assert f.uid(1) in error["message"] and f.uid(2) in error["message"] and "KIPAA1" in error["message"]
    assert nik_of(1) not in r.text and nik_of(2) not in r.text
    assert (counts(gw), student(gw, 1), student(gw, 2)) == state
    # (the refused SK was not recorded: it may come again, corrected)
    assert post_sk(gw, sk(issuance(2, "KIPBB2"), nomor="SK-0002/PIP/2026", tanggal="2026-04-01"))["n_applied"] == 1


def test_one_card_for_two_students_within_an_sk_names_both(client: TestClient) -> None:
    state = counts(client)
    r = client.post("/api/v1/kip/sk", json=sk(issuance(1, "KIPAA1"), issuance(2, "KIPAA1")))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["rule"]) == ("items[1].no_kip", "card_for_two_students")
    assert f.uid(1) in error["message"] and f.uid(2) in error["message"]
    assert counts(client) == state


def test_a_card_may_move_when_the_sk_gives_its_holder_another(gw: TestClient) -> None:
    post_sk(gw, sk(issuance(1, "KIPAA1")))
    out = post_sk(gw, sk(issuance(1, "KIPCC3"), issuance(2, "KIPAA1"), nomor="SK-0002/PIP/2026",
                             tanggal="2026-04-01"))
    assert [r["status"] for r in out["results"]] == ["APPLIED", "APPLIED"]
    assert (student(gw, 1)["no_kip"], student(gw, 2)["no_kip"]) == ("KIPCC3", "KIPAA1")


@pytest.mark.parametrize(("change", "field", "rule"), [
    (lambda b: b["items"][0].update(no_kip="ab12cd"), "items[0].no_kip", "string_pattern_mismatch"),
    (lambda b: b["items"][0].update(no_kip="AB12CD9"), "items[0].no_kip", "string_pattern_mismatch"),
    (lambda b: b["items"][0].update(peserta_didik_id="123"), "items[0].peserta_didik_id", "string_pattern_mismatch"),
    (lambda b: b["items"][0].update(nm_kip=""), "items[0].nm_kip", "string_too_short"),
    (lambda b: b["items"][0].update(nm_kip="A\ud800B"), "items[0].nm_kip", "string_unicode"),
    (lambda b: b["items"][0].update(nisn="12"), "items[0].nisn", "string_pattern_mismatch"),
    (lambda b: b["items"][0].update(kelas=1), "items[0].kelas", "extra_forbidden"),
    (lambda b: b["items"].append(dict(b["items"][0], no_kip="ZZ11ZZ")), "items[1].peserta_didik_id", "duplicate"),
    (lambda b: b["items"].append(issuance(2, b["items"][0]["no_kip"])), "items[1].no_kip", "card_for_two_students"),
    (lambda b: b.update(items=[]), "items", "too_short"),
    (lambda b: b.update(items=b["items"] * 1001), "items", "too_long"),
    (lambda b: b["sk"].update(nomor_sk="N" * 61), "sk.nomor_sk", "string_too_long"),
    (lambda b: b["sk"].update(nomor_sk="SK\n1"), "sk.nomor_sk", "string_pattern_mismatch"),
    (lambda b: b["sk"].update(tanggal_sk="2026-13-01"), "sk.tanggal_sk", "date_from_datetime_parsing"),
    (lambda b: b["sk"].update(sumber="Pusat Layanan"), "sk.sumber", "string_pattern_mismatch"),
    (lambda b: b.pop("sk"), "sk", "missing"),
])
def test_a_malformed_sk_is_422_naming_field_and_rule_and_changes_nothing(client: TestClient, change: Any,
                                                                         field: str, rule: str) -> None:
    body = sk(issuance(1, "AB12CD"))
    change(body)
    state = counts(client)
    r = client.post("/api/v1/kip/sk", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}, r.json()["errors"]
    assert counts(client) == state


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"npsn": "1"}, "npsn", "string_pattern_mismatch"),
    ({"nomor_sk": ""}, "nomor_sk", "string_too_short"),
    ({"nomor_sk": "a\x00"}, "nomor_sk", "nul_character"),
    ({"include_resolved": "maybe"}, "include_resolved", "bool_parsing"),
    ({"cursor": "abc"}, "cursor", "opaque_cursor"),
    ({"status": "open"}, "status", "unknown_parameter"),
])
def test_the_unmatched_list_answers_bad_parameters_with_422(client: TestClient, params: dict[str, Any], field: str,
                                                           rule: str) -> None:
    r = client.get("/api/v1/kip/unmatched", params=params)
    assert r.status_code == 422 and (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_a_pkh_result_after_the_sk_leaves_the_kip_number(client: TestClient) -> None:
    post_sk(client, sk(issuance(1, "AB12CD")))
    item = f.pkh_item(1, 20, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT)
    assert client.post("/api/v1/hub/results", json=f.body(f.batch(item))).json()["results"][0]["status"] == "APPLIED"
    assert student(client, 1)["no_kps"] == "AB12CD" and student(client, 1)["no_kip"] == "AB12CD"


def test_an_older_sk_posted_after_a_newer_one_does_not_overwrite_it(client: TestClient) -> None:
    newer = post_sk(client, sk(issuance(3, "NEW222"), nomor="SK-0009/PIP/2026", tanggal="2026-06-01"))
    assert newer["results"][0]["status"] == "APPLIED"
    state = (counts(client), student(client, 3))
    # The older decree arrives late: student 3 keeps the newer KIP number; student 2 (no newer SK) takes it.
    older = post_sk(client, sk(issuance(3, "OLD111"), issuance(2, "OLD222"), nomor="SK-0001/PIP/2026",
                               tanggal="2026-03-01"))
    assert [r["status"] for r in older["results"]] == ["UNCHANGED", "APPLIED"]
    assert "2026-06-01" in older["results"][0]["detail"] and older["results"][0]["fields_written"] == []
    assert (older["n_applied"], older["n_unchanged"]) == (1, 1)
    assert student(client, 3) == state[1] and student(client, 2)["no_kip"] == "OLD222"
    history = client.get(f"/api/v1/peserta-didik/{f.uid(3)}/riwayat").json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "no_kip"] == [(None, "NEW222")]
    # Posting the older SK again changes nothing; an SK of the same date as the newest still applies.
    again = post_sk(client, sk(issuance(3, "OLD111"), nomor="SK-0001/PIP/2026", tanggal="2026-03-01"))
    assert again["results"][0]["status"] == "UNCHANGED" and student(client, 3)["no_kip"] == "NEW222"
    same_day = post_sk(client, sk(issuance(3, "NEW333"), nomor="SK-0010/PIP/2026", tanggal="2026-06-01"))
    assert same_day["results"][0]["status"] == "APPLIED" and student(client, 3)["no_kip"] == "NEW333"
