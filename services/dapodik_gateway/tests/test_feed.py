"""The hub's change feed: an opaque (change number, id) cursor that is exact under equal change numbers,
resumption with `since`, and records that change while the hub is paging."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from services.dapodik_gateway import db
from services.dapodik_gateway.sinkronisasi import service as sync_service
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import load
from shared.clients import DapodikClient
from shared.http import RetryPolicy

N = 25
FEED = "/api/v1/hub/peserta-didik"


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1 + n % 2) for n in range(1, N + 1)])


def read(client: TestClient, limit: int = 4, **params: Any) -> tuple[list[str], str]:
    """Every page from ``params`` on: the ids in feed order and the last resume_cursor."""
    ids: list[str] = []
    cursor = None
    while True:
        r = client.get(FEED, params={"limit": limit, **({"cursor": cursor} if cursor else params)})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [s["peserta_didik_id"] for s in page["items"]]
        if not (cursor := page["next_cursor"]):
            return ids, page["resume_cursor"]


def change(client: TestClient, *ns: int, nomor: str) -> None:
    """A change of the records (a KIP SK), as an operator's edit would be."""
    items = [{"peserta_didik_id": f.uid(n), "no_kip": f"K{n:05d}", "nm_kip": "SISWA"} for n in ns]
    r = client.post("/api/v1/kip/sk", json={"sk": {"nomor_sk": nomor, "tanggal_sk": "2026-03-01",
                                                   "sumber": "puslapdik"}, "items": items})
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"APPLIED"}, r.text


def test_records_sharing_one_change_number_are_each_read_once(client: TestClient) -> None:
    ids, _ = read(client, limit=4)
    assert ids == sorted(f.uid(n) for n in range(1, N + 1))  # one load: one change number, ties by id


def test_since_reads_only_what_changed_and_resumes_exactly(client: TestClient, tmp_path: Path) -> None:
    everything, resume = read(client)
    assert len(everything) == N
    assert read(client, since=resume) == ([], resume)  # nothing changed: nothing read, same position
    change(client, 7, 3, nomor="SK-1")
    changed, resume2 = read(client, since=resume)
    assert changed == sorted([f.uid(3), f.uid(7)]) and resume2 != resume
    load(client.app.state.settings.database_url, tmp_path / "more", [], [f.peserta_didik(40, 2)])  # type: ignore[attr-defined]
    assert read(client, since=resume2)[0] == [f.uid(40)]
    assert read(client, since=resume)[0] == [*sorted([f.uid(3), f.uid(7)]), f.uid(40)]
    only_b, _ = read(client, since=resume, npsn=f.sekolah(2)["npsn"])
    assert only_b == [*sorted([f.uid(3), f.uid(7)]), f.uid(40)]  # 3 and 7 are in school 2 (1 + n % 2)


def test_changes_while_paging_are_neither_lost_nor_skipped(client: TestClient, tmp_path: Path) -> None:
    first = client.get(FEED, params={"limit": 5}).json()
    delivered = [s["peserta_didik_id"] for s in first["items"]]
    early, late = delivered[1], sorted(f.uid(n) for n in range(1, N + 1))[-3]  # one read, one not yet read
    change(client, int(next(n for n in range(1, N + 1) if f.uid(n) == early)),
           int(next(n for n in range(1, N + 1) if f.uid(n) == late)), nomor="SK-2")
    load(client.app.state.settings.database_url, tmp_path / "new", [], [f.peserta_didik(41, 1)])  # type: ignore[attr-defined]
    rest, resume = read(client, limit=5, cursor=first["next_cursor"])
    seen = delivered + rest
    assert set(seen) == {f.uid(n) for n in [*range(1, N + 1), 41]}  # nothing lost
    assert seen.count(early) == 2 and seen.count(late) == 1  # read again after its change; not skipped
    assert seen[-3:] == [*sorted([early, late]), f.uid(41)]  # changes come in commit order, after the rest
    assert read(client, since=resume)[0] == []


def test_the_hubs_client_reads_changes_and_keeps_the_resume_cursor(client: TestClient, token: str) -> None:
    dapodik = DapodikClient("http://testserver", token, http=client, retry=RetryPolicy(attempts=1))
    items, resume = dapodik.read_changes(limit=7)
    assert len(items) == N and len({s.peserta_didik_id for s in items}) == N
    assert dapodik.read_changes(resume, limit=7) == ([], resume)
    change(client, 2, nomor="SK-3")
    items, _ = dapodik.read_changes(resume)
    assert [(s.peserta_didik_id, s.no_kip) for s in items] == [(f.uid(2), "K00002")]
    assert len(list(dapodik.iter_students(limit=10))) == N  # the whole feed, as a full sync reads it


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"since": "garbage"}, "since", "opaque_cursor"),
    ({"cursor": "garbage"}, "cursor", "opaque_cursor"),
    ({"since": "WyJzIiwxLCIiXQ", "cursor": "WyJzIiwxLCIiXQ"}, "since", "exclusive"),
    ({"since": "x" * 201}, "since", "string_too_long"),
    ({"since": "WyJzIiwxLCJub3QtYS11dWlkIl0"}, "since", "opaque_cursor"),  # ["s",1,"not-a-uuid"]
    ({"sinse": "WyJzIiwxLCIiXQ"}, "sinse", "unknown_parameter"),
])
def test_bad_positions_are_422_naming_the_parameter(client: TestClient, params: dict[str, Any], field: str,
                                                    rule: str) -> None:
    r = client.get(FEED, params=params)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}


def test_change_numbers_are_taken_in_commit_order(db_url: str, tmp_path: Path) -> None:
    """A second writer cannot take a change number until the first commits, so a reader that has seen a
    number never later finds a smaller one committed (on PostgreSQL the counter row is locked; on SQLite
    the database is)."""
    load(db_url, tmp_path / "w", [f.sekolah(1)], [f.peserta_didik(1)])
    engine = db.make_engine(db_url)
    got: list[tuple[str, int]] = []
    started = threading.Event()
    try:
        with Session(engine) as first:
            first.connection(execution_options={db.SQLITE_IMMEDIATE: True})
            got.append(("first", sync_service.next_change_seq(first.connection())))

            def second() -> None:
                with Session(engine) as other:
                    started.set()
                    other.connection(execution_options={db.SQLITE_IMMEDIATE: True})
                    got.append(("second", sync_service.next_change_seq(other.connection())))
                    other.commit()

            thread = threading.Thread(target=second)
            thread.start()
            started.wait(5)
            thread.join(0.5)
            assert thread.is_alive()  # waiting for the first writer
            got.append(("first commits", 0))
            first.commit()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        engine.dispose()
    assert [name for name, _ in got] == ["first", "first commits", "second"]
    assert got[2][1] == got[0][1] + 1
