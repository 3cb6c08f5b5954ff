"""POST /api/v1/hub/results on SQLite and PostgreSQL: applied, repeated, stale, rejected, not found, per item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from services.emis_gateway.results import repository as results_repository
from services.emis_gateway.results.models import FieldHistoryRow, FieldObservationRow, FieldProvenanceRow
from services.emis_gateway.tests.conftest import AppFactory, batch, item, seed
from shared.db import make_engine
from shared.testing import ids_past_integer


@pytest.fixture
def hub(app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    seed(db_url, tmp_path / "world", 4)
    client = app_client(db_url)
    client.headers.update(auth)
    return client


def post(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = client.post("/api/v1/hub/results", json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def rows(db_url: str, model: type) -> list[Any]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return list(s.exec(select(model)).all())
    finally:
        engine.dispose()


def test_applied_writes_values_provenance_history_and_last_sync_but_not_updated_at(
        hub: TestClient, db_url: str) -> None:
    before = hub.get("/api/v1/siswa/siswa-0001").json()
    [res] = post(hub, batch(item("siswa-0001", 10, "PKH_RECIPIENT", "KPM aktif 2026",
                                 penerima_pkh=True, periode_pkh="2026 tahap I", no_kks="3201999999990001")))
    assert res["status"] == "APPLIED"
    assert set(res["fields_written"]) == {"status_pkh", "keterangan_pkh", "penerima_pkh", "periode_pkh", "no_kks"}

    after = hub.get("/api/v1/siswa/siswa-0001").json()
    assert after["pkh"]["status_pkh"] == "PKH_RECIPIENT"
    assert after["pkh"]["keterangan_pkh"] == "KPM aktif 2026"
    assert after["pkh"]["penerima_pkh"] is True
    assert after["pkh"]["periode_pkh"] == "2026 tahap I"
    assert after["pkh"]["no_kks"] == "3201999999990001"
    assert after["pkh"]["sumber"] == "SERVER_KEMENSOS"
    assert after["pkh"]["tanggal_sinkron"] is not None
    assert after["updated_at"] == before["updated_at"], "hub writes must not move the change feed"

    prov = {p["field"]: p for p in after["provenance"]}
    assert set(prov) == {"status_pkh", "keterangan_pkh", "penerima_pkh", "periode_pkh", "no_kks"}
    assert prov["penerima_pkh"]["value"] is True
    assert prov["status_pkh"]["value"] == "PKH_RECIPIENT"
    assert prov["periode_pkh"]["observed_seq"] == 10
    assert prov["periode_pkh"]["matched_by"] == "nik_ibu"
    assert prov["periode_pkh"]["source_record"] == "keluarga/3201010101010001"
    assert prov["periode_pkh"]["written_at"] == after["pkh"]["tanggal_sinkron"]

    history = rows(db_url, FieldHistoryRow)
    assert len(history) == 5
    assert {h.field: json.loads(h.old_value) for h in history}["penerima_pkh"] is None
    stored = {p.id for p in rows(db_url, FieldProvenanceRow)}
    assert {h.provenance_id for h in history} == stored

    # The other students are untouched.
    assert hub.get("/api/v1/siswa/siswa-0002").json()["pkh"]["status_pkh"] is None


def test_repeated_batch_is_unchanged_and_adds_no_provenance(hub: TestClient, db_url: str) -> None:
    body = batch(item("siswa-0000", 10, penerima_pkh=True), item("siswa-0001", 10, outcome="NOT_REGISTERED",
                                                                 detail="NIK tidak terdaftar"))
    assert [r["status"] for r in post(hub, body)] == ["APPLIED", "APPLIED"]
    n_prov, n_hist = len(rows(db_url, FieldProvenanceRow)), len(rows(db_url, FieldHistoryRow))
    sync_before = hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]["tanggal_sinkron"]

    again = post(hub, body)
    assert [r["status"] for r in again] == ["UNCHANGED", "UNCHANGED"]
    assert all(r["fields_written"] == [] for r in again)
    assert len(rows(db_url, FieldProvenanceRow)) == n_prov
    assert len(rows(db_url, FieldHistoryRow)) == n_hist
    assert hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]["tanggal_sinkron"] == sync_before


def test_older_observation_is_stale_and_changes_nothing(hub: TestClient, db_url: str) -> None:
    post(hub, batch(item("siswa-0002", 20, "PKH_RECIPIENT", "aktif", periode_pkh="2026 tahap II")))
    before = hub.get("/api/v1/siswa/siswa-0002").json()
    n_prov = len(rows(db_url, FieldProvenanceRow))

    [res] = post(hub, batch(item("siswa-0002", 15, "NOT_PKH_RECIPIENT", "keluar", periode_pkh="2026 tahap I")))
    assert res["status"] == "STALE"
    assert "periode_pkh" in res["detail"]
    assert hub.get("/api/v1/siswa/siswa-0002").json() == before
    assert len(rows(db_url, FieldProvenanceRow)) == n_prov

    # A newer observation still wins.
    [res] = post(hub, batch(item("siswa-0002", 21, "NOT_PKH_RECIPIENT", "keluar", periode_pkh="2026 tahap III")))
    assert res["status"] == "APPLIED"
    now = hub.get("/api/v1/siswa/siswa-0002").json()
    assert now["pkh"]["status_pkh"] == "NOT_PKH_RECIPIENT"
    assert {p["field"]: p["observed_seq"] for p in now["provenance"]}["periode_pkh"] == 21


def test_unknown_field_is_rejected_and_changes_nothing(hub: TestClient, db_url: str) -> None:
    [res] = post(hub, batch(item("siswa-0000", penerima_pkh=True, nama="Bukan Hak Hub")))
    assert res["status"] == "REJECTED"
    assert "nama" in res["detail"]
    student = hub.get("/api/v1/siswa/siswa-0000").json()
    assert student["nama"] == "Anak 0"
    assert student["pkh"]["penerima_pkh"] is None and student["pkh"]["status_pkh"] is None
    assert rows(db_url, FieldProvenanceRow) == []


@pytest.mark.parametrize(("values", "field"), [
    ({"penerima_pkh": "ya"}, "penerima_pkh"),
    ({"penerima_pkh": 1}, "penerima_pkh"),
    ({"periode_pkh": 2026}, "periode_pkh"),
    ({"no_kks": "9" * 41}, "no_kks"),
])
def test_value_of_the_wrong_type_is_rejected(hub: TestClient, db_url: str, values: dict[str, Any],
                                             field: str) -> None:
    [res] = post(hub, batch(item("siswa-0000", **values)))
    assert res["status"] == "REJECTED"
    assert field in res["detail"]
    assert rows(db_url, FieldProvenanceRow) == []
    assert hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]["status_pkh"] is None


def test_unknown_student_is_not_found(hub: TestClient, db_url: str) -> None:
    [res] = post(hub, batch(item("no-such-siswa", penerima_pkh=True)))
    assert res == {"student_id": "no-such-siswa", "status": "NOT_FOUND", "fields_written": [],
                   "detail": res["detail"], "held": {}}
    assert rows(db_url, FieldProvenanceRow) == []


def test_one_bad_item_does_not_undo_the_good_ones_and_order_is_kept(hub: TestClient) -> None:
    body = batch(item("siswa-0000", penerima_pkh=True), item("siswa-0001", colour="red"), item("ghost"),
                 item("siswa-0002", penerima_pkh=False, outcome="NOT_PKH_RECIPIENT"))
    results = post(hub, body)
    assert [(r["student_id"], r["status"]) for r in results] == [
        ("siswa-0000", "APPLIED"), ("siswa-0001", "REJECTED"), ("ghost", "NOT_FOUND"), ("siswa-0002", "APPLIED")]
    assert hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]["penerima_pkh"] is True
    assert hub.get("/api/v1/siswa/siswa-0001").json()["pkh"]["status_pkh"] is None
    assert hub.get("/api/v1/siswa/siswa-0002").json()["pkh"]["penerima_pkh"] is False


def test_item_failing_in_storage_is_rolled_back_alone(hub: TestClient, db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk write fails, so the batch is applied item by item: the item whose write fails half-way
    leaves none of its values; the items around it are kept."""
    real = results_repository.write
    calls: list[set[str]] = []

    def flaky(session, writes, stored, now):  # type: ignore[no-untyped-def]
        students = {c.siswa_id for c in writes.changes}
        calls.append(students)
        if "siswa-0001" in students:
            part = results_repository.Writes(changes=writes.changes[:1], marks=writes.marks)
            real(session, part, stored, now)  # part is written...
            raise IntegrityError("INSERT", {}, Exception("boom"))  # ...then the storage fails
        real(session, writes, stored, now)

    students = ("siswa-0000", "siswa-0001", "siswa-0002")
    post(hub, batch(*(item(sid, 5, outcome=None, periode_pkh="2026 tahap I") for sid in students)))
    before = hub.get("/api/v1/siswa/siswa-0001").json()
    calls.clear()
    monkeypatch.setattr(results_repository, "write", flaky)
    # periode_pkh is confirmed (an observation mark), penerima_pkh and the outcome change (provenance, history)
    results = post(hub, batch(*(item(sid, 10, periode_pkh="2026 tahap I", penerima_pkh=True) for sid in students)))
    assert [r["status"] for r in results] == ["APPLIED", "REJECTED", "APPLIED"]
    assert calls == [set(students), {"siswa-0000"}, {"siswa-0001"}, {"siswa-0002"}]
    assert hub.get("/api/v1/siswa/siswa-0001").json() == before
    assert {p.siswa_id for p in rows(db_url, FieldProvenanceRow) if p.observed_seq == 10} == {"siswa-0000",
                                                                                              "siswa-0002"}
    assert {h.siswa_id for h in rows(db_url, FieldHistoryRow)} == set(students)
    assert len(rows(db_url, FieldHistoryRow)) == 3 + 2 * 3
    assert {o.siswa_id for o in rows(db_url, FieldObservationRow)} == {"siswa-0000", "siswa-0002"}
    # The failed item left nothing behind: sent again, it applies in full.
    monkeypatch.undo()
    [again] = post(hub, batch(item("siswa-0001", penerima_pkh=True)))
    assert again["status"] == "APPLIED" and len(again["fields_written"]) == 3


def test_fallback_keeps_later_items_of_a_student_consistent(hub: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the item-by-item path a later item of the same student is judged against what the earlier item
    stored (and a refused item's values are not taken as stored)."""
    real = results_repository.write

    def refuse_bulk(session, writes, stored, now):  # type: ignore[no-untyped-def]
        if len(writes.changes) > 3:
            raise IntegrityError("INSERT", {}, Exception("boom"))
        real(session, writes, stored, now)

    monkeypatch.setattr(results_repository, "write", refuse_bulk)
    results = post(hub, batch(item("siswa-0003", 30, periode_pkh="2026 tahap I"),
                              item("siswa-0003", 29, periode_pkh="2025 tahap IV"),
                              item("siswa-0003", 30, periode_pkh="2026 tahap I"),
                              item("siswa-0002", 31, periode_pkh="2026 tahap II")))
    assert [r["status"] for r in results] == ["APPLIED", "STALE", "UNCHANGED", "APPLIED"]
    assert hub.get("/api/v1/siswa/siswa-0003").json()["pkh"]["periode_pkh"] == "2026 tahap I"


def test_a_batch_is_written_with_a_fixed_number_of_statements(hub: TestClient) -> None:
    """Set-wise: the number of SQL statements of a batch does not grow with its items."""
    engine = hub.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        post(hub, batch(item("siswa-0000", 10, penerima_pkh=True)))
        small = len(seen)
        seen.clear()
        post(hub, batch(*(item(f"siswa-{i:04d}", 11, periode_pkh=f"p{i}", no_kks=f"k{i}") for i in (1, 2, 3)),
                        item("siswa-0000", 11, penerima_pkh=False, outcome="NOT_PKH_RECIPIENT")))
        assert len(seen) <= small + 2, seen  # a second set of student columns is a second UPDATE
        seen.clear()
        post(hub, batch(item("siswa-0000", 10, penerima_pkh=True)))  # older than what the record holds: STALE
        post(hub, batch(item("siswa-0001", 11, periode_pkh="p1", no_kks="k1")))  # confirmed: UNCHANGED
        writes = [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
        assert all("sync_log" in s or "sync_batch" in s for s in writes), writes  # only: "it synced"
        seen.clear()
        post(hub, batch(item("siswa-0001", 11, periode_pkh="p1", no_kks="k1")))  # the very same batch again
        assert not [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")], seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def test_same_student_twice_in_one_batch_sees_its_own_first_write(hub: TestClient) -> None:
    results = post(hub, batch(item("siswa-0003", 30, periode_pkh="2026 tahap I"),
                              item("siswa-0003", 29, periode_pkh="2025 tahap IV"),
                              item("siswa-0003", 30, periode_pkh="2026 tahap I")))
    assert [r["status"] for r in results] == ["APPLIED", "STALE", "UNCHANGED"]
    assert hub.get("/api/v1/siswa/siswa-0003").json()["pkh"]["periode_pkh"] == "2026 tahap I"


def test_only_changed_fields_get_new_provenance(hub: TestClient, db_url: str) -> None:
    post(hub, batch(item("siswa-0000", 10, penerima_pkh=True, periode_pkh="2026 tahap I")))
    [res] = post(hub, batch(item("siswa-0000", 11, penerima_pkh=True, periode_pkh="2026 tahap II")))
    assert res["status"] == "APPLIED" and res["fields_written"] == ["periode_pkh"]
    prov = {p["field"]: p["observed_seq"] for p in hub.get("/api/v1/siswa/siswa-0000").json()["provenance"]}
    assert prov == {"penerima_pkh": 10, "periode_pkh": 11, "status_pkh": 10, "keterangan_pkh": 10}
    history = [h for h in rows(db_url, FieldHistoryRow) if h.field == "periode_pkh"]
    assert [(json.loads(h.old_value), json.loads(h.new_value)) for h in history] == [
        (None, "2026 tahap I"), ("2026 tahap I", "2026 tahap II")]


def test_kip_style_item_without_outcome_keeps_the_outcome(hub: TestClient) -> None:
    post(hub, batch(item("siswa-0000", 10, "PKH_RECIPIENT", "aktif")))
    [res] = post(hub, batch(item("siswa-0000", 12, outcome=None, no_kks="3201999999990002")))
    assert res["status"] == "APPLIED" and res["fields_written"] == ["no_kks"]
    pkh = hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]
    assert pkh["status_pkh"] == "PKH_RECIPIENT" and pkh["keterangan_pkh"] == "aktif"


def test_list_shows_provenance_of_each_student(hub: TestClient) -> None:
    post(hub, batch(item("siswa-0001", 7, penerima_pkh=True)))
    items = {s["siswa_id"]: s for s in hub.get("/api/v1/siswa").json()["items"]}
    assert {p["field"] for p in items["siswa-0001"]["provenance"]} == {"penerima_pkh", "status_pkh",
                                                                       "keterangan_pkh"}
    assert items["siswa-0000"]["provenance"] == []


def test_value_confirmed_by_a_newer_observation_is_not_overwritten_by_an_older_one(hub: TestClient,
                                                                                 db_url: str) -> None:
    """Written at seq 10, confirmed unchanged at seq 20: a delayed result observed at seq 15 is STALE."""
    post(hub, batch(item("siswa-0000", 10, penerima_pkh=True, periode_pkh="2026 tahap I")))
    n_prov = len(rows(db_url, FieldProvenanceRow))
    [confirm] = post(hub, batch(item("siswa-0000", 20, penerima_pkh=True, periode_pkh="2026 tahap I")))
    assert confirm["status"] == "UNCHANGED"
    assert len(rows(db_url, FieldProvenanceRow)) == n_prov, "a confirmation writes no provenance"
    [late] = post(hub, batch(item("siswa-0000", 15, penerima_pkh=False, periode_pkh="2025 tahap IV")))
    assert late["status"] == "STALE"
    pkh = hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]
    assert (pkh["penerima_pkh"], pkh["periode_pkh"]) == (True, "2026 tahap I")


UNSTORABLE = [
    ({"student_id": "siswa\x00-0000"}, "student_id"),
    ({"outcome_detail": "KPM\x00aktif"}, "outcome_detail"),
    ({"values": {"periode_pkh": "2026\x00"}}, "values.periode_pkh"),
    ({"provenance": {"source_record": "keluarga/\x00"}}, "provenance.source_record"),
    ({"provenance": {"retrieved_at": "0001-01-01T00:00:00+05:00"}}, "provenance.retrieved_at"),
    ({"provenance": {"retrieved_at": "2026-01-01T00:00:00"}}, "provenance.retrieved_at"),
    ({"provenance": {"observed_seq": 2**63}}, "provenance.observed_seq"),
    ({"provenance": {"source_version": 2**64}}, "provenance.source_version"),
]


def test_values_neither_database_can_store_are_rejected_per_item(hub: TestClient, db_url: str) -> None:
    for n, (change, where) in enumerate(UNSTORABLE):
        bad = item("siswa-0000", penerima_pkh=True)
        for key, value in change.items():
            bad[key] = {**bad[key], **value} if key == "provenance" else value
        good = item(f"siswa-{n % 3 + 1:04d}", seq=100 + n, periode_pkh=f"run {n}")
        results = post(hub, batch(bad, good))
        assert [r["status"] for r in results] == ["REJECTED", "APPLIED"], (where, results)
        assert where in results[0]["detail"]
    assert "siswa-0000" not in {p.siswa_id for p in rows(db_url, FieldProvenanceRow)}
    assert hub.get("/api/v1/siswa/siswa-0000").json()["pkh"]["penerima_pkh"] is None


def test_lone_surrogate_in_the_body_is_never_a_server_error(hub: TestClient) -> None:
    raw = json.dumps(batch(item("siswa-0000", outcome_detail_placeholder=None))).replace(
        '"outcome_detail_placeholder": null', '"periode_pkh": "\\ud800"')
    r = hub.post("/api/v1/hub/results", content=raw, headers={"content-type": "application/json"})
    assert r.status_code < 500
    assert hub.get("/api/v1/siswa/siswa-0000").json()["provenance"] == []


def test_first_value_the_hub_sends_is_recorded_even_when_the_record_already_holds_it(
        hub: TestClient, db_url: str) -> None:
    """no_kks and keterangan_pkh are null before any sync; the hub's null still gets its provenance once,
    so the hub (which sends values lacking its provenance) converges."""
    first = post(hub, batch(item("siswa-0003", 8, outcome="NO_NIK", detail=None, no_kks=None)))
    assert first[0]["status"] == "APPLIED"
    assert set(first[0]["fields_written"]) == {"status_pkh", "keterangan_pkh", "no_kks"}
    prov = {p["field"]: p["value"] for p in hub.get("/api/v1/siswa/siswa-0003").json()["provenance"]}
    assert prov == {"status_pkh": "NO_NIK", "keterangan_pkh": None, "no_kks": None}
    again = post(hub, batch(item("siswa-0003", 8, outcome="NO_NIK", detail=None, no_kks=None)))
    assert again[0]["status"] == "UNCHANGED"
    assert len(rows(db_url, FieldProvenanceRow)) == 3


# --- held: the provenance the gateway holds for each field the item names (the hub reconciles by it) ----------

ALL_FIELDS = {"status_pkh", "keterangan_pkh", "penerima_pkh", "periode_pkh", "no_kks"}


def item_as(pid: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``item`` with its own provenance id (a re-run of the hub mints new ids for the same values)."""
    body = item(*args, **kwargs)
    body["provenance"]["provenance_id"] = pid
    return body


def shown(hub: TestClient, siswa_id: str) -> dict[str, str]:
    """field -> provenance_id as the gateway shows it next to the value."""
    return {p["field"]: p["provenance_id"] for p in hub.get(f"/api/v1/siswa/{siswa_id}").json()["provenance"]}


def test_a_resent_item_is_unchanged_and_names_the_provenance_it_was_first_written_with(
        hub: TestClient, db_url: str) -> None:
    """The hub sent a batch, the gateway applied it, the hub died before recording provenance: the re-run
    sends the same values under new ids and learns from ``held`` which ids the gateway holds."""
    values = {"penerima_pkh": True, "periode_pkh": "2026 tahap I", "no_kks": "3201999999990001"}
    [first, other] = post(hub, batch(item_as("first-0", "siswa-0000", 10, **values),
                                     item_as("first-1", "siswa-0001", 10, outcome=None, no_kks=None)))
    assert (first["status"], other["status"]) == ("APPLIED", "APPLIED")
    assert first["held"] == dict.fromkeys(ALL_FIELDS, "first-0")
    assert other["held"] == {"no_kks": "first-1"}, "an item without an outcome names only its values"
    n_prov = len(rows(db_url, FieldProvenanceRow))

    for seq in (10, 12):  # the same observation again, and a newer one confirming the values
        [again, other_again] = post(hub, batch(item_as(f"second-{seq}", "siswa-0000", seq, **values),
                                               item_as(f"second-{seq}", "siswa-0001", seq, outcome=None,
                                                       no_kks=None), run=f"run-{seq}"))
        assert (again["status"], again["fields_written"]) == ("UNCHANGED", [])
        assert again["held"] == dict.fromkeys(ALL_FIELDS, "first-0")
        assert (other_again["status"], other_again["held"]) == ("UNCHANGED", {"no_kks": "first-1"})
    assert len(rows(db_url, FieldProvenanceRow)) == n_prov
    assert shown(hub, "siswa-0000") == dict.fromkeys(ALL_FIELDS, "first-0")


def test_a_partly_changed_item_names_its_own_id_for_written_fields_and_the_held_one_for_the_rest(
        hub: TestClient) -> None:
    post(hub, batch(item_as("p-10", "siswa-0002", 10, penerima_pkh=True, periode_pkh="2026 tahap I")))
    post(hub, batch(item_as("p-11", "siswa-0002", 11, outcome=None, no_kks="3201999999990002")))
    [res] = post(hub, batch(item_as("p-12", "siswa-0002", 12, penerima_pkh=True, periode_pkh="2026 tahap II",
                                    no_kks="3201999999990002")))
    assert res["status"] == "APPLIED" and res["fields_written"] == ["periode_pkh"]
    assert res["held"] == {"penerima_pkh": "p-10", "periode_pkh": "p-12", "no_kks": "p-11",
                           "status_pkh": "p-10", "keterangan_pkh": "p-10"}
    assert res["held"] == shown(hub, "siswa-0002")


def test_held_within_one_batch_stale_not_found_and_rejected(hub: TestClient) -> None:
    results = post(hub, batch(item_as("a", "siswa-0003", 30, periode_pkh="2026 tahap I"),
                              item_as("b", "siswa-0003", 30, periode_pkh="2026 tahap I"),
                              item_as("c", "siswa-0003", 29, outcome=None, periode_pkh="2025 tahap IV"),
                              item_as("d", "no-such-siswa", 30, periode_pkh="x"),
                              item_as("e", "siswa-0003", 31, nama="Bukan Hak Hub")))
    assert [r["status"] for r in results] == ["APPLIED", "UNCHANGED", "STALE", "NOT_FOUND", "REJECTED"]
    assert results[0]["held"] == results[1]["held"] == {"periode_pkh": "a", "status_pkh": "a",
                                                          "keterangan_pkh": "a"}
    assert results[2]["held"] == {"periode_pkh": "a"}, "STALE: the provenance of the newer value held"
    assert results[3]["held"] == {} and results[4]["held"] == {}


def test_held_on_the_item_by_item_path(hub: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    post(hub, batch(item_as("old", "siswa-0001", 5, periode_pkh="2026 tahap I")))
    real = results_repository.write

    def refuse_bulk(session, writes, stored, now):  # type: ignore[no-untyped-def]
        if len(writes.changes) > 1 or any(c.siswa_id == "siswa-0002" for c in writes.changes):
            raise IntegrityError("INSERT", {}, Exception("boom"))
        real(session, writes, stored, now)

    monkeypatch.setattr(results_repository, "write", refuse_bulk)
    results = post(hub, batch(item_as("new", "siswa-0001", 6, periode_pkh="2026 tahap I"),
                              item_as("new", "siswa-0000", 6, outcome=None, periode_pkh="2026 tahap II"),
                              item_as("new", "siswa-0002", 6, outcome=None, periode_pkh="2026 tahap III")))
    assert [r["status"] for r in results] == ["UNCHANGED", "APPLIED", "REJECTED"]
    assert [r["held"] for r in results] == [{"periode_pkh": "old", "status_pkh": "old", "keterangan_pkh": "old"},
                                            {"periode_pkh": "new"}, {}]


def test_the_hubs_write_leaves_most_loaded_students_on_their_pages(
        app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> None:
    """PostgreSQL: a load leaves room on every page of ``siswa`` (fillfactor, migration 0009), so writing the
    hub's values to every student keeps most rows on their pages (a HOT update: no new entry in any of the
    table's indexes); on full pages nearly every row moved. SQLite has no fillfactor: the write is the same there."""
    n = 150
    seed(db_url, tmp_path / "world", n)
    client = app_client(db_url)
    client.headers.update(auth)
    engine = make_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    pages = sa.text("SELECT siswa_id, (ctid::text::point)[0]::int FROM siswa")
    try:
        if postgres:
            with engine.connect() as conn:
                before = dict(conn.execute(pages).all())
        got = post(client, batch(*[item(f"siswa-{i:04d}", penerima_pkh=True, periode_pkh="2026 tahap I",
                                        no_kks=f"KKS{i:09d}") for i in range(n)]))
        assert {r["status"] for r in got} == {"APPLIED"}
        if postgres:
            with engine.connect() as conn:
                after = dict(conn.execute(pages).all())
                options = conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'siswa'")).scalar()
            stayed = sum(after[sid] == page for sid, page in before.items())
            assert stayed >= 0.75 * n  # 118 of 150; 0 at fillfactor 100
            assert options == ["fillfactor=50"]
    finally:
        engine.dispose()


def test_the_audit_trail_numbered_past_integer_takes_more_rows(hub: TestClient, db_url: str) -> None:
    """A gateway that has taken the hub's values for years: ``field_provenance`` and ``field_history`` ids past
    2^31 - 1 (BIGINT on PostgreSQL since migration 0010; before, the renumbering itself is out of range)."""
    post(hub, batch(item("siswa-0001", 10, penerima_pkh=True, periode_pkh="2026 tahap I")))
    engine = make_engine(db_url)
    try:
        past = ids_past_integer(engine, "field_provenance", "field_history",
                                pointers=[("field_history", "provenance_id")])
    finally:
        engine.dispose()
    [res] = post(hub, batch(item("siswa-0002", 11, penerima_pkh=True, periode_pkh="2026 tahap II")))
    assert res["status"] == "APPLIED"
    provenance, history = rows(db_url, FieldProvenanceRow), rows(db_url, FieldHistoryRow)
    assert len(provenance) == len(history) == 8 and min(p.id for p in provenance) > past
    assert {h.provenance_id for h in history} == {p.id for p in provenance}
    assert {p["field"]: p["value"] for p in hub.get("/api/v1/siswa/siswa-0002").json()["provenance"]}[
        "periode_pkh"] == "2026 tahap II"
