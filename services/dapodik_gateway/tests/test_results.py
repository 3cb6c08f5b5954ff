"""``POST /api/v1/hub/results``: applied, repeated, stale, rejected, not found, per-item atomicity, history."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from shared.contracts.common import HubResultItem, Outcome
from shared.testing import ids_past_integer

RESULTS = "/api/v1/hub/results"


def post(client: TestClient, *items: HubResultItem) -> list[dict[str, Any]]:
    payload = json.dumps(f.body(f.batch(*items)))  # ASCII escapes: lone surrogates survive the trip
    r = client.post(RESULTS, content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def student(client: TestClient, n: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/peserta-didik/{f.uid(n)}")
    assert r.status_code == 200
    return r.json()


def riwayat(client: TestClient, n: int) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/peserta-didik/{f.uid(n)}/riwayat").json()


def snapshot(client: TestClient, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return student(client, n), riwayat(client, n)


def count(client: TestClient, table: str) -> int:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_applied_values_outcome_and_provenance_are_visible(client: TestClient) -> None:
    before = student(client, 1)
    [res] = post(client, f.pkh_item(1, 10, no_kps="KPS-0001"))
    assert res["status"] == "APPLIED"
    assert set(res["fields_written"]) == {"penerima_kps", "no_kps", "status_padan", "keterangan_padan"}
    after = student(client, 1)
    assert after["penerima_kps"] is True and after["no_kps"] == "KPS-0001"
    assert after["status_padan"] == "PKH_RECIPIENT" and after["keterangan_padan"] == "KPM PKH aktif (nik_ibu)"
    assert after["last_sync"] is not None and after["last_update"] == before["last_update"]
    prov = {p["field"]: p for p in after["provenance"]}
    assert set(prov) == {"penerima_kps", "no_kps", "status_padan", "keterangan_padan"}
    assert prov["penerima_kps"]["value"] is True and prov["no_kps"]["value"] == "KPS-0001"
    assert prov["status_padan"]["value"] == "PKH_RECIPIENT"
    p = prov["no_kps"]
    assert (p["provenance_id"], p["observed_seq"], p["source_system"], p["matched_by"]) == (
        "prov-pkh", 10, "kemensos.dtsen", "nik_ibu")
    assert p["retrieved_at"].startswith("2026-01-02T03:04:05")
    # the list shows the same provenance as the single read
    listed = next(s for s in client.get("/api/v1/peserta-didik").json()["items"] if s["peserta_didik_id"] == f.uid(1))
    assert listed["provenance"] == after["provenance"]


def test_a_repeated_batch_is_unchanged_and_writes_no_provenance(client: TestClient) -> None:
    items = (f.pkh_item(1, 10), f.kip_item(1, 11, "AB12CD"), f.pkh_item(2, 10, penerima=False,
                                                                        outcome=Outcome.NOT_PKH_RECIPIENT))
    assert [r["status"] for r in post(client, *items)] == ["APPLIED"] * 3
    state = snapshot(client, 1), snapshot(client, 2)
    rows = count(client, "field_provenance"), count(client, "value_history")
    again = post(client, *items)
    assert [r["status"] for r in again] == ["UNCHANGED"] * 3
    assert all(r["fields_written"] == [] for r in again)
    assert (count(client, "field_provenance"), count(client, "value_history")) == rows
    assert (snapshot(client, 1), snapshot(client, 2)) == state


def test_an_older_observation_is_stale_and_changes_nothing(client: TestClient) -> None:
    post(client, f.pkh_item(1, 20, no_kps="KPS-NEW"))
    state = snapshot(client, 1)
    rows = count(client, "field_provenance")
    [res] = post(client, f.pkh_item(1, 19, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, no_kps="KPS-OLD"))
    assert res["status"] == "STALE" and res["fields_written"] == []
    assert "penerima_kps" in res["detail"]
    assert snapshot(client, 1) == state
    assert count(client, "field_provenance") == rows


def test_a_confirmed_value_is_not_overwritten_by_a_delayed_older_result(client: TestClient) -> None:
    """Written at seq 10, confirmed unchanged at seq 30: a result observed at seq 20 is older than the
    value the record holds, although no provenance row was written at seq 30."""
    post(client, f.pkh_item(1, 10))
    assert post(client, f.pkh_item(1, 30, pid="prov-30"))[0]["status"] == "UNCHANGED"
    state = snapshot(client, 1)
    [res] = post(client, f.pkh_item(1, 20, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, pid="prov-20"))
    assert res["status"] == "STALE"
    assert snapshot(client, 1) == state


def test_a_newer_observation_overwrites(client: TestClient) -> None:
    post(client, f.pkh_item(1, 10))
    [res] = post(client, f.pkh_item(1, 11, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, pid="prov-11"))
    assert res["status"] == "APPLIED"
    s = student(client, 1)
    assert s["penerima_kps"] is False and s["status_padan"] == "NOT_PKH_RECIPIENT"
    assert {p["field"]: p["provenance_id"] for p in s["provenance"]}["penerima_kps"] == "prov-11"


@pytest.mark.parametrize(("values", "words"), [
    ({"nama": "Orang Lain"}, "not writable by the hub: nama"),
    ({"nik": "3201010101010001"}, "not writable by the hub: nik"),
    ({"status_padan": "PKH_RECIPIENT"}, "not writable by the hub: status_padan"),
    ({"penerima_kps": 1}, "values.penerima_kps: bool_type"),
    ({"penerima_kps": None}, "values.penerima_kps: bool_type"),
    ({"penerima_kip": "true"}, "values.penerima_kip: bool_type"),
    ({"no_kip": "ABCDEFGHIJK"}, "values.no_kip: string_too_long"),
    ({"no_kps": 12345}, "values.no_kps"),
    ({"nm_kip": "x\x00y"}, "values.nm_kip: nul_character"),
    ({"no_kps": "x\ud800y"}, "values.no_kps: not_utf8"),
])
def test_a_bad_item_is_rejected_and_changes_nothing(client: TestClient, values: dict[str, Any], words: str) -> None:
    state = snapshot(client, 1)
    item = HubResultItem(student_id=f.uid(1), outcome=Outcome.PKH_RECIPIENT, values=values,
                         provenance=f.provenance(10))
    [res] = post(client, item)
    assert res["status"] == "REJECTED" and res["fields_written"] == []
    assert words in res["detail"]
    assert snapshot(client, 1) == state
    assert count(client, "field_provenance") == 0


@pytest.mark.parametrize("change", [
    {"retrieved_at": "2026-01-02T03:04:05"},  # no time zone
    {"observed_seq": 2**63},
    {"provenance_id": "a\x00b"},
    {"source_record": "a\ud800b"},
])
def test_unstorable_provenance_is_rejected(client: TestClient, change: dict[str, Any]) -> None:
    payload = f.body(f.batch(f.pkh_item(1, 10)))
    payload["items"][0]["provenance"].update(change)
    r = client.post(RESULTS, content=json.dumps(payload), headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json()["results"][0]["status"] == "REJECTED"
    assert student(client, 1)["provenance"] == []


def test_unknown_student_is_not_found(client: TestClient) -> None:
    item = f.pkh_item(999, 10)
    odd = HubResultItem(student_id="12345", values={}, provenance=f.provenance(1))
    assert [r["status"] for r in post(client, item, odd)] == ["NOT_FOUND", "NOT_FOUND"]
    assert count(client, "field_provenance") == 0


def test_one_bad_item_does_not_undo_the_good_ones(client: TestClient) -> None:
    bad = HubResultItem(student_id=f.uid(2), values={"nama": "x", "penerima_kps": True}, provenance=f.provenance(10))
    results = post(client, f.pkh_item(1, 10), bad, f.pkh_item(999, 10), f.pkh_item(3, 10))
    assert [r["status"] for r in results] == ["APPLIED", "REJECTED", "NOT_FOUND", "APPLIED"]
    assert [r["student_id"] for r in results] == [f.uid(1), f.uid(2), f.uid(999), f.uid(3)]
    assert student(client, 1)["penerima_kps"] is True and student(client, 3)["penerima_kps"] is True
    assert student(client, 2)["penerima_kps"] is False and student(client, 2)["provenance"] == []


def test_pkh_and_kip_items_for_one_student_apply_in_order_and_keep_the_replaced_kps_number(
        client: TestClient) -> None:
    post(client, f.pkh_item(5, 10, no_kps="KPS-OLD-5"))
    results = post(client, f.pkh_item(5, 12, pid="prov-pkh-2", no_kps="KPS-OLD-5"), f.kip_item(5, 13, "Q7W8E9"))
    assert [r["status"] for r in results] == ["UNCHANGED", "APPLIED"]
    assert set(results[1]["fields_written"]) == {"penerima_kip", "no_kip", "no_kps", "nm_kip"}
    s = student(client, 5)
    assert (s["no_kps"], s["no_kip"], s["penerima_kip"], s["nm_kip"]) == ("Q7W8E9", "Q7W8E9", True, "SISWA 5")
    assert s["status_padan"] == "PKH_RECIPIENT"  # the KIP item has no outcome: the PKH outcome stays
    prov = {p["field"]: p for p in s["provenance"]}
    assert prov["no_kps"]["provenance_id"] == "prov-kip" and prov["no_kps"]["source_system"] == "puslapdik.sk_kip"
    assert prov["status_padan"]["provenance_id"] == "prov-pkh"
    history = [(h["field"], h["old_value"], h["new_value"], h["provenance_id"]) for h in riwayat(client, 5)]
    assert ("no_kps", None, "KPS-OLD-5", "prov-pkh") in history
    assert ("no_kps", "KPS-OLD-5", "Q7W8E9", "prov-kip") in history
    assert ("no_kip", None, "Q7W8E9", "prov-kip") in history


def test_a_later_kip_number_keeps_the_previous_one_in_the_history(client: TestClient) -> None:
    post(client, f.kip_item(2, 10, "AAA111"))
    post(client, f.kip_item(2, 11, "BBB222", pid="prov-kip-2"))
    history = riwayat(client, 2)
    kip = [(h["old_value"], h["new_value"]) for h in history if h["field"] == "no_kip"]
    kps = [(h["old_value"], h["new_value"]) for h in history if h["field"] == "no_kps"]
    assert kip == [(None, "AAA111"), ("AAA111", "BBB222")]
    assert kps == [(None, "AAA111"), ("AAA111", "BBB222")]
    assert all(h["changed_at"] and h["source"] == "hub" and h["changed_by"] == "sync_hub" for h in history)


def test_two_items_in_one_batch_see_each_others_writes(client: TestClient) -> None:
    """The second item is decided against what the first wrote: same values -> UNCHANGED."""
    results = post(client, f.pkh_item(3, 10), f.pkh_item(3, 10, pid="again"))
    assert [r["status"] for r in results] == ["APPLIED", "UNCHANGED"]
    results = post(client, f.pkh_item(4, 10), f.pkh_item(4, 9, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT))
    assert [r["status"] for r in results] == ["APPLIED", "STALE"]
    assert student(client, 4)["penerima_kps"] is True


def test_outcome_without_detail_clears_the_detail(client: TestClient) -> None:
    post(client, f.pkh_item(1, 10))
    item = HubResultItem(student_id=f.uid(1), outcome=Outcome.NOT_REGISTERED, values={"penerima_kps": False},
                         provenance=f.provenance(11, "p11"))
    assert post(client, item)[0]["status"] == "APPLIED"
    s = student(client, 1)
    assert (s["status_padan"], s["keterangan_padan"]) == ("NOT_REGISTERED", None)


@pytest.mark.parametrize(("payload", "field", "rule"), [
    ({"sync_run_id": "r", "items": []}, "items", "too_short"),
    ({"items": [{}]}, "sync_run_id", "missing"),
    ({"sync_run_id": "r", "items": [], "extra": 1}, "extra", "extra_forbidden"),
    ({"sync_run_id": "r", "items": [{"student_id": "x", "provenance": {}}]}, "items[0].provenance.provenance_id",
     "missing"),
    ({"sync_run_id": "r", "items": [{"student_id": "x", "outcome": "MAYBE", "provenance": {}}]},
     "items[0].outcome", "enum"),
    ("not json", "-", "json_invalid"),
])
def test_a_malformed_batch_is_422_naming_field_and_rule(client: TestClient, payload: Any, field: str,
                                                       rule: str) -> None:
    if isinstance(payload, str):
        r = client.post(RESULTS, content=payload, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and any(e["rule"] == rule for e in r.json()["errors"])
        return
    r = client.post(RESULTS, json=payload)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_a_malformed_batch_changes_nothing(client: TestClient) -> None:
    payload = f.body(f.batch(f.pkh_item(1, 10), f.pkh_item(2, 10)))
    payload["items"][1]["provenance"]["observed_seq"] = -1
    r = client.post(RESULTS, json=payload)
    assert r.status_code == 422
    assert ("items[1].provenance.observed_seq", "greater_than_equal") in {
        (e["field"], e["rule"]) for e in r.json()["errors"]}
    assert student(client, 1)["provenance"] == [] and count(client, "field_provenance") == 0


def test_too_many_items_is_422(client: TestClient) -> None:
    payload = f.body(f.batch(f.pkh_item(1, 10)))
    payload["items"] = payload["items"] * 1001
    r = client.post(RESULTS, json=payload)
    assert r.status_code == 422 and ("items", "too_long") in {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_the_first_time_the_hub_sends_the_value_the_record_holds_it_gets_provenance(client: TestClient) -> None:
    """penerima_kps=False is the record's default; sent by the hub it becomes the hub's value (provenance),
    without a history row, since no value changed. Repeated, it is UNCHANGED."""
    item = f.pkh_item(2, 10, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT)
    [res] = post(client, item)
    assert res["status"] == "APPLIED" and "penerima_kps" in res["fields_written"]
    s = student(client, 2)
    assert s["penerima_kps"] is False
    assert {p["field"]: p["value"] for p in s["provenance"]}["penerima_kps"] is False
    assert "penerima_kps" not in {h["field"] for h in riwayat(client, 2)}
    assert {h["field"] for h in riwayat(client, 2)} == {"status_padan", "keterangan_padan"}
    assert post(client, item)[0]["status"] == "UNCHANGED"


def test_an_out_of_order_batch_changes_nothing(client: TestClient) -> None:
    """Run 2's batch (registry seq 20) arrives before run 1's (seq 10): every item of the late batch is STALE
    and no value, provenance, history, mark or programme row moves (the sync log records the conflicts)."""
    newer = [f.pkh_item(n, 20, pid=f"new{n}", run="run-2", no_kps=f"KKS-{n}") for n in (1, 2, 3)]
    newer.append(f.kip_item(1, 20, "NEW001", pid="newkip", run="run-2"))
    assert [r["status"] for r in post(client, *newer)] == ["APPLIED"] * 4
    tables = ("field_provenance", "value_history", "field_observation", "kesejahteraan_pd")
    rows = {t: count(client, t) for t in tables}
    state = [(snapshot(client, n), client.get(f"/api/v1/peserta-didik/{f.uid(n)}/kesejahteraan").json())
             for n in (1, 2, 3)]
    older = [f.pkh_item(n, 10, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, pid=f"old{n}", no_kps=None)
             for n in (1, 2, 3)]
    older.append(f.kip_item(1, 10, "OLD001", pid="oldkip"))
    late = post(client, *older)
    assert [r["status"] for r in late] == ["STALE"] * 4 and all(r["fields_written"] == [] for r in late)
    assert {t: count(client, t) for t in tables} == rows
    assert [(snapshot(client, n), client.get(f"/api/v1/peserta-didik/{f.uid(n)}/kesejahteraan").json())
            for n in (1, 2, 3)] == state
    assert post(client, *older) == late  # and again: the same answers, still nothing
    log = client.get(f"/api/v1/sekolah/{f.sekolah(1)['npsn']}/sinkronisasi").json()["last_run"]
    assert (log["sync_run_id"], log["n_konflik"]) == ("run-1", 8)


# --- held: the provenance the gateway holds for each field the item names (the hub reconciles by it) ----------

PKH_FIELDS = {"penerima_kps", "no_kps", "status_padan", "keterangan_padan"}
KIP_FIELDS = {"penerima_kip", "no_kip", "nm_kip", "no_kps"}


@pytest.fixture
def both(db_url: str, make_client: Callable[..., TestClient]) -> TestClient:
    """The ``client`` world on SQLite and on PostgreSQL."""
    return make_client([f.sekolah(1), f.sekolah(2)],
                       [f.peserta_didik(n, 1) for n in range(1, 6)] + [f.peserta_didik(n, 2) for n in range(6, 9)],
                       url=db_url)


def shown(client: TestClient, n: int) -> dict[str, str]:
    """field -> provenance_id as the gateway shows it next to the value."""
    return {p["field"]: p["provenance_id"] for p in student(client, n)["provenance"]}


def test_a_resent_item_is_unchanged_and_names_the_provenance_it_was_first_written_with(both: TestClient) -> None:
    """The hub sent a batch, the gateway applied it, the hub died before recording provenance: the re-run
    sends the same values under new ids and learns from ``held`` which ids the gateway holds."""
    first = post(both, f.pkh_item(1, 10, pid="first-pkh", no_kps="KPS-0001"),
                 f.kip_item(2, 10, "AB12CD", pid="first-kip"))
    assert [r["status"] for r in first] == ["APPLIED", "APPLIED"]
    assert first[0]["held"] == dict.fromkeys(PKH_FIELDS, "first-pkh")
    assert first[1]["held"] == dict.fromkeys(KIP_FIELDS, "first-kip"), "a KIP item names only its values"
    rows = count(both, "field_provenance")

    for seq, run in ((10, "run-2"), (12, "run-3")):  # the same observation again, and a newer one
        again = post(both, f.pkh_item(1, seq, pid=f"second-pkh-{seq}", run=run, no_kps="KPS-0001"),
                     f.kip_item(2, seq, "AB12CD", pid=f"second-kip-{seq}", run=run))
        assert [(r["status"], r["fields_written"]) for r in again] == [("UNCHANGED", [])] * 2
        assert again[0]["held"] == dict.fromkeys(PKH_FIELDS, "first-pkh")
        assert again[1]["held"] == dict.fromkeys(KIP_FIELDS, "first-kip")
    assert count(both, "field_provenance") == rows
    assert shown(both, 1) == dict.fromkeys(PKH_FIELDS, "first-pkh")


def test_a_partly_changed_item_names_its_own_id_for_written_fields_and_the_held_one_for_the_rest(
        both: TestClient) -> None:
    post(both, f.pkh_item(3, 10, pid="p-10", no_kps="KPS-0003"))
    post(both, f.kip_item(3, 11, "CD34EF", pid="k-11"))  # the KIP number replaces the KPS number
    [res] = post(both, f.pkh_item(3, 12, pid="p-12", outcome=Outcome.NOT_PKH_RECIPIENT, no_kps="CD34EF"))
    assert res["status"] == "APPLIED" and res["fields_written"] == ["status_padan"]
    assert res["held"] == {"penerima_kps": "p-10", "no_kps": "k-11", "status_padan": "p-12",
                           "keterangan_padan": "p-10"}
    assert shown(both, 3) == {**res["held"], "penerima_kip": "k-11", "no_kip": "k-11", "nm_kip": "k-11"}


def test_held_within_one_batch_stale_not_found_and_rejected(both: TestClient) -> None:
    results = post(both, f.pkh_item(4, 30, pid="a"), f.pkh_item(4, 30, pid="b"),
                   f.pkh_item(4, 29, pid="c", penerima=False), f.pkh_item(99, 30, pid="d"),
                   f.pkh_item(4, 31, pid="e", nama="Bukan Hak Hub"))
    assert [r["status"] for r in results] == ["APPLIED", "UNCHANGED", "STALE", "NOT_FOUND", "REJECTED"]
    expected = {"penerima_kps": "a", "status_padan": "a", "keterangan_padan": "a"}
    assert results[0]["held"] == results[1]["held"] == expected
    assert results[2]["held"] == expected, "STALE: the provenance of the newer values held"
    assert results[3]["held"] == {} and results[4]["held"] == {}


def test_values_a_kip_sk_wrote_are_not_named_as_the_hubs(both: TestClient) -> None:
    """An SK's provenance id is the gateway's own: a hub item confirming the SK's values names none of them,
    and once the hub writes a field it names the hub's id again."""
    body = {"sk": {"nomor_sk": "SK-0001/PIP/2026", "tanggal_sk": "2026-03-01", "sumber": "puslapdik"},
            "items": [{"peserta_didik_id": f.uid(5), "no_kip": "GH56IJ", "nm_kip": "SISWA 5"}]}
    r = both.post("/api/v1/kip/sk", json=body)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "APPLIED", r.text
    [same] = post(both, f.kip_item(5, 40, "GH56IJ", pid="hub-kip"))
    assert (same["status"], same["held"]) == ("UNCHANGED", {})
    [res] = post(both, f.pkh_item(5, 41, pid="hub-pkh", no_kps="GH56IJ"))
    assert res["status"] == "APPLIED" and "no_kps" not in res["fields_written"]
    assert res["held"] == {"penerima_kps": "hub-pkh", "status_padan": "hub-pkh", "keterangan_padan": "hub-pkh"}


def test_the_audit_trail_numbered_past_integer_takes_more_rows(both: TestClient) -> None:
    """A gateway that has taken the hub's values for years: ``field_provenance`` and ``value_history`` ids past
    2^31 - 1 (BIGINT on PostgreSQL since migration 0010; before, the renumbering itself is out of range)."""
    post(both, f.pkh_item(1, 10, no_kps="KPS-0001"))
    engine = both.app.state.engine  # type: ignore[attr-defined]
    past = ids_past_integer(engine, "field_provenance", "value_history",
                            pointers=[("value_history", "field_provenance_id")])
    [res] = post(both, f.pkh_item(2, 11, pid="prov-2", no_kps="KPS-0002"))
    assert res["status"] == "APPLIED"
    with engine.connect() as conn:
        provenance = conn.execute(sa.text("SELECT id FROM field_provenance")).scalars().all()
        pointers = conn.execute(sa.text("SELECT field_provenance_id FROM value_history")).scalars().all()
    assert len(provenance) == len(pointers) == 8 and min(provenance) > past
    assert set(pointers) == set(provenance)
    assert shown(both, 2) == dict.fromkeys(PKH_FIELDS, "prov-2")
    assert ("no_kps", None, "KPS-0002", "prov-2") in [
        (h["field"], h["old_value"], h["new_value"], h["provenance_id"]) for h in riwayat(both, 2)]
