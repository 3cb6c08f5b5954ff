"""A school's sync screen: last sync, local changes waiting for the hub (moved by the hub's feed reads only;
held-back records are waiting too: they reach the hub with their findings), records held back, and the
incoming changes of the last sync run with n_create / n_update / n_konflik."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import load
from shared.contracts.common import Outcome

A, B = f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]
OPERATOR = "operator-token-0123456789"


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """School A: students 1-5 (5 is held back: placeholder NIK); school B: 6-7."""
    students = [f.peserta_didik(n, 1) for n in range(1, 5)] + [f.peserta_didik(5, 1, nik="1234567890123456")]
    return make_client([f.sekolah(1), f.sekolah(2)], students + [f.peserta_didik(n, 2) for n in (6, 7)],
                       api_tokens={"operator": OPERATOR})


def screen(client: TestClient, npsn: str = A) -> dict[str, Any]:
    r = client.get(f"/api/v1/sekolah/{npsn}/sinkronisasi")
    assert r.status_code == 200, r.text
    return r.json()


def pages(client: TestClient, path: str, limit: int = 2, headers: dict[str, str] | None = None,
          **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = client.get(path, params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})},
                       headers=headers or {})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def post(client: TestClient, *items: Any, run: str) -> list[str]:
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(*items, run=run)))
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


def test_before_any_sync_everything_is_waiting_held_back_records_too(client: TestClient) -> None:
    s = screen(client)
    assert (s["last_sync"], s["last_read_by_hub"], s["last_results_at"], s["last_run"]) == (None, None, None, None)
    assert s["local_changes_waiting"] == 5 and s["held_back"] == 1
    out = pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/keluar")
    assert [o["peserta_didik_id"] for o in out] == sorted(f.uid(n) for n in range(1, 6))
    assert {o["jenis"] for o in out} == {"create"}
    assert {o["peserta_didik_id"]: o["status_validasi"] for o in out}[f.uid(5)] == 2
    assert client.get(f"/api/v1/sekolah/{A}/sinkronisasi/masuk").json() == {"items": [], "next_cursor": None}


def test_the_hubs_feed_reads_deliver_the_changes_an_operators_do_not(client: TestClient, tmp_path: Path) -> None:
    pages(client, "/api/v1/hub/peserta-didik", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert screen(client)["local_changes_waiting"] == 5  # an operator reading the feed delivers nothing
    first = client.get("/api/v1/hub/peserta-didik", params={"limit": 3}).json()  # the hub, one page
    assert len(first["items"]) == 3
    seen_a = sum(1 for i in first["items"] if i["sekolah_id"] == f.sekolah(1)["sekolah_id"])
    assert screen(client)["local_changes_waiting"] == 5 - seen_a
    pages(client, "/api/v1/hub/peserta-didik", cursor=first["next_cursor"])
    s = screen(client)
    assert s["local_changes_waiting"] == 0 and s["held_back"] == 1 and s["last_read_by_hub"] is not None
    assert s["last_sync"] == s["last_read_by_hub"]
    assert pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/keluar") == []
    # new records loaded after the read are local changes waiting, as 'create'
    url = client.app.state.settings.database_url  # type: ignore[attr-defined]
    load(url, tmp_path / "more", [], [f.peserta_didik(8, 1), f.peserta_didik(9, 2)])
    assert screen(client)["local_changes_waiting"] == 1 and screen(client, B)["local_changes_waiting"] == 1
    out = pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/keluar")
    assert [(o["peserta_didik_id"], o["jenis"]) for o in out] == [(f.uid(8), "create")]
    # reading from the start again moves nothing back
    client.get("/api/v1/hub/peserta-didik", params={"limit": 1})
    assert screen(client)["local_changes_waiting"] == 1


def test_the_last_run_counts_created_updated_conflicts_and_lists_its_values(client: TestClient) -> None:
    assert post(client, f.pkh_item(1, 10, no_kps="KPS-1"), f.pkh_item(2, 10), run="run-1") == ["APPLIED"] * 2
    assert post(client, f.pkh_item(6, 10), run="run-1") == ["APPLIED"]  # school B
    no = Outcome.NOT_PKH_RECIPIENT
    run2 = post(client, f.pkh_item(1, 11, penerima=False, outcome=no, pid="p2", run="run-2", no_kps=None),
                f.pkh_item(2, 5, penerima=False, outcome=no, pid="old", run="run-2"),
                f.pkh_item(3, 11, pid="p3", run="run-2"), f.pkh_item(3, 11, pid="p3", run="run-2"),
                f.pkh_item(404, 11, run="run-2"), run="run-2")
    assert run2 == ["APPLIED", "STALE", "APPLIED", "UNCHANGED", "NOT_FOUND"]
    assert post(client, f.kip_item(4, 12, "KIP004", run="run-2"), run="run-2") == ["APPLIED"]  # a second batch
    s = screen(client)
    run = s["last_run"]
    assert run["sync_run_id"] == "run-2" and run["batches"] == 2
    counts = tuple(run[k] for k in ("n_create", "n_update", "n_konflik", "n_unchanged", "n_rejected"))
    assert counts == (2, 1, 1, 1, 0)
    assert s["last_results_at"] == run["end_sync"] and s["last_sync"] == run["end_sync"]
    b = screen(client, B)["last_run"]
    assert (b["sync_run_id"], b["n_create"], b["batches"]) == ("run-1", 1, 1)

    incoming = pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/masuk", limit=3)
    got = {(i["peserta_didik_id"], i["field"]): i for i in incoming}
    assert {pid for pid, _ in got} == {f.uid(1), f.uid(3), f.uid(4)}
    kps = got[(f.uid(1), "penerima_kps")]
    assert (kps["old_value"], kps["new_value"], kps["jenis"], kps["value_changed"]) == (True, False, "update", True)
    assert got[(f.uid(1), "no_kps")]["old_value"] == "KPS-1" and got[(f.uid(1), "no_kps")]["new_value"] is None
    first = got[(f.uid(3), "penerima_kps")]
    assert (first["old_value"], first["new_value"], first["jenis"], first["value_changed"]) == (
        False, True, "create", True)
    outcome = got[(f.uid(3), "status_padan")]
    assert (outcome["old_value"], outcome["new_value"], outcome["jenis"]) == (None, "PKH_RECIPIENT", "create")
    kip = got[(f.uid(4), "no_kip")]
    assert (kip["new_value"], kip["provenance_id"], kip["source_system"]) == ("KIP004", "prov-kip", "puslapdik.sk_kip")
    assert all(i["nama"] and i["nipd"] for i in incoming)
    earlier = pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/masuk", sync_run_id="run-1")
    assert {(i["peserta_didik_id"], i["jenis"]) for i in earlier} == {(f.uid(1), "create"), (f.uid(2), "create")}
    assert pages(client, f"/api/v1/sekolah/{A}/sinkronisasi/masuk", sync_run_id="no-such-run") == []


def test_hub_writes_are_not_local_changes(client: TestClient) -> None:
    pages(client, "/api/v1/hub/peserta-didik")
    post(client, f.pkh_item(1, 10), run="run-1")
    assert screen(client)["local_changes_waiting"] == 0


@pytest.mark.parametrize(("path", "params", "status", "field", "rule"), [
    ("/api/v1/sekolah/99999999/sinkronisasi", {}, 404, "npsn", "not_found"),
    ("/api/v1/sekolah/99999999/sinkronisasi/keluar", {}, 404, "npsn", "not_found"),
    ("/api/v1/sekolah/99999999/sinkronisasi/masuk", {}, 404, "npsn", "not_found"),
    ("/api/v1/sekolah/123/sinkronisasi", {}, 422, "npsn", "string_pattern_mismatch"),
    (f"/api/v1/sekolah/{A}/sinkronisasi", {"x": 1}, 422, "x", "unknown_parameter"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/keluar", {"cursor": "bm9wZQ"}, 422, "cursor", "opaque_cursor"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/keluar", {"limit": 0}, 422, "limit", "greater_than_equal"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/masuk", {"sync_run_id": ""}, 422, "sync_run_id", "string_too_short"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/masuk", {"sync_run_id": "a\x00b"}, 422, "sync_run_id", "nul_character"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/masuk", {"sync_run_id": "r" * 65}, 422, "sync_run_id", "string_too_long"),
    (f"/api/v1/sekolah/{A}/sinkronisasi/masuk", {"cursor": "%%%"}, 422, "cursor", "opaque_cursor"),
    ("/api/v1/hub/peserta-didik", {"cursor": "WyJzIiwtMSwiIl0"}, 422, "cursor", "opaque_cursor"),  # seq -1
])
def test_bad_input_is_4xx_naming_field_and_rule(client: TestClient, path: str, params: dict[str, Any], status: int,
                                               field: str, rule: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


FEED = "/api/v1/hub/peserta-didik"


def _kip_sk(client: TestClient, n: int, nomor: str) -> None:
    """A change of record ``n`` (a KIP SK): it moves to the end of the feed's change order."""
    sk = {"nomor_sk": nomor, "tanggal_sk": "2026-03-01", "sumber": "puslapdik"}
    r = client.post("/api/v1/kip/sk", json={"sk": sk, "items": [{"peserta_didik_id": f.uid(n), "no_kip": f"K{n:05d}",
                                                                 "nm_kip": "SISWA"}]})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "APPLIED", r.text


def test_a_read_as_id_ranges_moves_the_positions_when_the_hub_says_it_holds_every_range(
        make_client: Callable[..., TestClient], db_url: str) -> None:
    students = [f.peserta_didik(n, 1) for n in range(1, 5)] + [f.peserta_didik(5, 1, nik="1234567890123456")]
    client = make_client([f.sekolah(1), f.sekolah(2)], students + [f.peserta_didik(n, 2) for n in (6, 7)], url=db_url,
                         api_tokens={"operator": OPERATOR})
    ids = sorted(f.uid(n) for n in range(1, 8))
    lowest = next(n for n in range(1, 8) if f.uid(n) == ids[0])
    _kip_sk(client, lowest, "SK-R1")  # the lowest id changed last: change order is no longer id order
    end = client.get("/api/v1/hub/feed-end").json()
    got = pages(client, FEED, id_upto=ids[3]) + pages(client, FEED, id_after=ids[3])
    assert [i["peserta_didik_id"] for i in got] == ids  # each range paged in id order, every record once
    # a range's pages move no school's read position (another range may not have been read yet)
    assert screen(client)["local_changes_waiting"] == 5 and screen(client, B)["local_changes_waiting"] == 2
    assert screen(client)["last_read_by_hub"] is None

    r = client.post("/api/v1/hub/feed-read", json={"resume_cursor": end["resume_cursor"]})
    assert r.status_code == 200 and r.json() == {"positions_moved": 2}, r.text
    assert screen(client)["local_changes_waiting"] == 0 == screen(client, B)["local_changes_waiting"]
    assert screen(client)["last_read_by_hub"] is not None
    again = client.post("/api/v1/hub/feed-read", json={"resume_cursor": end["resume_cursor"]})
    assert again.json() == {"positions_moved": 0}  # idempotent

    _kip_sk(client, 6, "SK-R2")  # after the position: waiting, and an earlier position moves nothing back
    start = client.get(FEED, params={"limit": 1, "id_upto": ids[0]}).json()["resume_cursor"]  # the feed's start
    assert client.post("/api/v1/hub/feed-read", json={"resume_cursor": start}).json() == {"positions_moved": 0}
    assert screen(client, B)["local_changes_waiting"] == 1 and screen(client)["local_changes_waiting"] == 0


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"id_after": f.uid(1), "since": "WyJzIiwwLCIiXQ"}, "since", "exclusive"),
    ({"id_upto": f.uid(1), "removed": "true"}, "removed", "exclusive"),
    ({"id_upto": f.uid(1), "cursor": "WyJzIiwwLCIiXQ"}, "cursor", "opaque_cursor"),  # a change-order cursor
    # a range's cursor without its range
    ({"cursor": "WyJpZCIsIjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd"}, "cursor", "opaque_cursor"),
])
def test_a_range_is_read_whole_in_id_order_and_says_so_when_asked_otherwise(
        client: TestClient, params: dict[str, str], field: str, rule: str) -> None:
    r = client.get(FEED, params=params)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({}, "resume_cursor", "missing"),
    ({"resume_cursor": "bm9wZQ"}, "resume_cursor", "opaque_cursor"),
    ({"resume_cursor": "WyJzIiwwLCIiXQ", "extra": 1}, "extra", "extra_forbidden"),
])
def test_bad_feed_read_is_422_naming_field_and_rule_and_moves_nothing(
        client: TestClient, body: dict[str, Any], field: str, rule: str) -> None:
    r = client.post("/api/v1/hub/feed-read", json=body)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert screen(client)["local_changes_waiting"] == 5


def test_only_the_hub_says_it_holds_the_feed(client: TestClient) -> None:
    end = client.get("/api/v1/hub/feed-end").json()
    r = client.post("/api/v1/hub/feed-read", json={"resume_cursor": end["resume_cursor"]},
                    headers={"Authorization": f"Bearer {OPERATOR}"})
    assert r.status_code == 403, r.text
    assert screen(client)["local_changes_waiting"] == 5


def test_feed_read_puts_each_school_on_its_last_record_in_the_feed_at_or_before_the_position(
        make_client: Callable[..., TestClient], db_url: str) -> None:
    """A school's last records may be out of the feed (deleted, not validated yet) or after the position the hub
    holds: its position is its last record in the feed at or before that position, and a school with no such record
    gets none. On PostgreSQL each school's record is one probe of the school's index, not a sort of the feed."""
    import sqlalchemy as sa

    from services.dapodik_gateway.sinkronisasi import repository as repo
    from shared.db import session_scope

    client = make_client([f.sekolah(n) for n in (1, 2, 3)],
                         [f.peserta_didik(n, 1) for n in range(1, 5)] + [f.peserta_didik(n, 2) for n in (5, 6)]
                         + [f.peserta_didik(7, 3)], url=db_url)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    a, b, c = (f.sekolah(n)["sekolah_id"] for n in (1, 2, 3))
    _kip_sk(client, 2, "SK-1")  # student 2 (school A) now last in the feed: change order is not id order
    with engine.connect() as conn:  # the feed's order, as the hub reads it
        feed = [(r.sekolah_id, r.peserta_didik_id) for r in conn.execute(
            sa.select(repo.PD.c.sekolah_id, repo.PD.c.peserta_didik_id)
            .order_by(repo.PD.c.change_seq, repo.PD.c.peserta_didik_id))]
    last = {sid: [p for s, p in feed if s == sid][-1] for sid in (a, b, c)}
    assert last[a] == f.uid(2)
    with session_scope(engine) as session:  # A's last record deleted; B's and C's (its only one) not validated yet
        session.execute(sa.update(repo.PD).where(repo.PD.c.peserta_didik_id == last[a]).values(soft_delete=True))
        session.execute(sa.update(repo.PD).where(repo.PD.c.peserta_didik_id.in_([last[b], last[c]]))
                        .values(status_validasi=None))
    end = client.get("/api/v1/hub/feed-end").json()["resume_cursor"]
    _kip_sk(client, 1, "SK-2")  # student 1 (school A) changed after the position the hub holds
    before_a = [p for s, p in feed if s == a and p not in (last[a], f.uid(1))]
    r = client.post("/api/v1/hub/feed-read", json={"resume_cursor": end})
    assert r.json() == {"positions_moved": 2}, r.text  # C has no record in the feed
    with engine.connect() as conn:
        held = {row.sekolah_id: row.peserta_didik_id for row in conn.execute(sa.select(repo.POSITION))}
    assert held == {a: before_a[-1], b: [p for s, p in feed if s == b and p != last[b]][-1]}

    if engine.dialect.name == "postgresql":
        stmt = sa.select(repo._last_per_school("postgresql", repo.paging.SeqCursor(10**9, "z")))
        with engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(row[0] for row in conn.execute(sa.text(
                "EXPLAIN " + str(stmt.compile(conn, compile_kwargs={"literal_binds": True})))))
        assert "ix_peserta_didik_sekolah_change_seq_id" in plan and "Limit" in plan, plan
        assert "WindowAgg" not in plan and "Sort" not in plan, plan
