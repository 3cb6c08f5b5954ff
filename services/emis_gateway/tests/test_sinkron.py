"""Each madrasah shows when it last synced and what that sync changed (counts and the list)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.emis_gateway.sinkron.repository import LOG, add_counts
from services.emis_gateway.tests.conftest import NSM_A, NSM_B, batch, item, seed
from shared.db import make_engine, session_scope


def post(api: TestClient, body: dict[str, Any]) -> list[str]:
    r = api.post("/api/v1/hub/results", json=body)
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


FIRST = batch(item("siswa-0000", 10, "PKH_RECIPIENT", "aktif", penerima_pkh=True, periode_pkh="2026 tahap I"),
              item("siswa-0001", 10, "NIK_INVALID", "nik: placeholder"), item("ghost", 10), run="run-1")


def test_before_any_sync_nothing_is_shown(api: TestClient) -> None:
    body = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron").json()
    assert body == {"nsm": NSM_A, "last_sync": None, "terakhir": None, "riwayat": []}
    assert api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan").json() == {"items": [], "next_cursor": None}


def test_last_sync_counts_and_the_list_of_changes(api: TestClient) -> None:
    assert post(api, FIRST) == ["APPLIED", "APPLIED", "NOT_FOUND"]
    body = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron").json()
    last = body["terakhir"]
    assert last["sync_run_id"] == "run-1" and body["last_sync"] == last["selesai"]
    assert (last["siswa"], last["diubah"], last["tetap"], last["nilai_diubah"]) == (2, 2, 0, 6)
    assert last["per_field"] == {"status_pkh": 2, "keterangan_pkh": 2, "penerima_pkh": 1, "periode_pkh": 1}
    changes = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan").json()["items"]
    assert len(changes) == 6
    mine = {(c["siswa_id"], c["field"]): c for c in changes}
    assert mine[("siswa-0000", "penerima_pkh")]["nilai_lama"] is None
    assert mine[("siswa-0000", "penerima_pkh")]["nilai_baru"] is True
    assert mine[("siswa-0001", "status_pkh")]["nilai_baru"] == "NIK_INVALID"
    assert mine[("siswa-0001", "status_pkh")]["nama"] == "Anak 1"
    madrasah = api.get(f"/api/v1/madrasah/{NSM_A}").json()
    assert madrasah["last_sync"] == last["selesai"] and madrasah["sinkron_terakhir"]["sync_run_id"] == "run-1"
    assert api.get(f"/api/v1/madrasah/{NSM_B}/sinkron").json()["terakhir"] is None


def test_a_sync_that_changes_nothing_still_counts_as_the_last_sync(api: TestClient) -> None:
    post(api, FIRST)
    again = {**FIRST, "sync_run_id": "run-2"}
    assert post(api, again) == ["UNCHANGED", "UNCHANGED", "NOT_FOUND"]
    body = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron").json()
    assert body["terakhir"]["sync_run_id"] == "run-2"
    assert (body["terakhir"]["diubah"], body["terakhir"]["tetap"], body["terakhir"]["per_field"]) == (0, 2, {})
    assert [r["sync_run_id"] for r in body["riwayat"]] == ["run-2", "run-1"]
    assert api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan").json()["items"] == []
    older = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", params={"sync_run_id": "run-1"}).json()
    assert len(older["items"]) == 6
    # a run spread over several batches adds up
    post(api, batch(item("siswa-0002", 11, "NO_NIK", None), run="run-2"))
    last = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron").json()["terakhir"]
    assert (last["sync_run_id"], last["siswa"], last["diubah"], last["tetap"]) == ("run-2", 3, 1, 2)


def test_changes_are_paged(api: TestClient) -> None:
    post(api, FIRST)
    first = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", params={"limit": 4}).json()
    rest = api.get(f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", params={"limit": 4,
                                                                       "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 4 and len(rest["items"]) == 2 and rest["next_cursor"] is None


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"sync_run_id": "no-such-run"}, 404, "sync_run_id"),
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"cursor": "x1"}, 422, "cursor"),
    # past an INTEGER id: a 500 on PostgreSQL before (the bound parameter overflowed), found by fuzzing
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"cursor": "2147483648"}, 422, "cursor"),
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"cursor": "9" * 18}, 422, "cursor"),
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"cursor": "\u0661\u0662"}, 422, "cursor"),
    (f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"limit": 5000}, 422, "limit"),
    ("/api/v1/madrasah/999999999999/sinkron", None, 404, "nsm"),
    ("/api/v1/madrasah/12/sinkron", None, 422, "nsm"),
])
def test_bad_input_names_the_field(api: TestClient, path: str, params: dict[str, Any] | None, status: int,
                                   field: str) -> None:
    r = api.get(path, params=params)
    assert r.status_code == status, r.text
    assert field in {e["field"] for e in r.json()["errors"]}


def test_a_run_id_no_database_can_store_is_a_422(api: TestClient) -> None:
    r = api.post("/api/v1/hub/results", json={**FIRST, "sync_run_id": "run\x00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sync_run_id"
    assert api.get(f"/api/v1/madrasah/{NSM_A}/sinkron").json()["terakhir"] is None


def test_two_parts_of_one_check_counted_at_once_for_one_madrasah_add_up(db_url: str, tmp_path: Path) -> None:
    """A gateway sends the presses that arrive together as one hub check (``shared.batching``); each press
    applies its part in its own transaction, so two of them may count the same (madrasah, check) row at once. The
    second waits for the first and adds to its row (it used to read "no row", then fail inserting it: a 500)."""
    seed(db_url, tmp_path / "world", 2)
    engine = make_engine(db_url)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    errors: list[BaseException] = []
    try:
        with session_scope(engine) as first:
            add_counts(first, "check-1", {NSM_A: {"items": 1, "applied": 1, "values_written": 3}}, now)

            def second() -> None:
                try:
                    with session_scope(engine) as session:
                        add_counts(session, "check-1", {NSM_A: {"items": 1, "unchanged": 1}}, now)
                except BaseException as exc:  # reported below
                    errors.append(exc)

            thread = threading.Thread(target=second)
            thread.start()
            thread.join(0.5)  # it waits for the first's row (lock) while the first is open
        thread.join(30)
        assert not errors, errors
        with engine.connect() as conn:
            row = conn.execute(sa.select(LOG).where(LOG.c.nsm == NSM_A, LOG.c.sync_run_id == "check-1")).one()
        assert (row.items, row.applied, row.unchanged, row.values_written) == (2, 1, 1, 3)
    finally:
        engine.dispose()
