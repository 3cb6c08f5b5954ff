"""Tombstones in the hub's feed (``removed=true``), on SQLite and PostgreSQL: a record that an edit holds back
(an INVALID finding) comes as removed at its new position, so a reader keeping a copy drops it; fixed, it comes
back as an item; a page never holds more than ``limit`` tombstones and paging stays exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR

FEED = "/api/v1/hub/peserta-didik"


def read(client: TestClient, limit: int = 3, **params: Any) -> tuple[list[str], list[tuple[str, str]], str]:
    """Every page from ``params`` on: item ids, (removed id, reason) and the last resume_cursor."""
    ids: list[str] = []
    gone: list[tuple[str, str]] = []
    cursor = None
    while True:
        r = client.get(FEED, params={"limit": limit, "removed": "true", **({"cursor": cursor} if cursor else params)})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["removed"]) <= limit
        ids += [s["peserta_didik_id"] for s in page["items"]]
        gone += [(g["peserta_didik_id"], g["alasan"]) for g in page["removed"]]
        if not (cursor := page["next_cursor"]):
            return ids, gone, page["resume_cursor"]


def edit(client: TestClient, n: int, body: dict[str, Any]) -> None:
    r = client.patch(f"/api/v1/peserta-didik/{f.uid(n)}", json=body, headers=AS_OPERATOR)
    assert r.status_code == 200, r.text


def test_held_back_records_come_as_tombstones_and_return_when_fixed(make_client: Callable[..., TestClient],
                                                                    db_url: str) -> None:
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 11)], url=db_url)
    ids, gone, resume = read(client)
    assert sorted(ids) == sorted(f.uid(n) for n in range(1, 11)) and gone == []
    assert client.get(FEED, params={"since": resume}).json()["removed"] == []  # not asked for: never sent

    edit(client, 4, {"nik": "1234567890123456"})  # placeholder NIK: INVALID, held back
    ids, gone, resume2 = read(client, since=resume)
    assert ids == [] and gone == [(f.uid(4), "held_back_invalid")] and resume2 != resume
    assert read(client, since=resume2)[:2] == ([], [])
    # a full read from the start sees it as removed too, in its place
    ids, gone, _ = read(client, limit=4)
    assert f.uid(4) not in ids and gone == [(f.uid(4), "held_back_invalid")] and len(ids) == 9

    edit(client, 4, {"nik": f.peserta_didik(4)["nik"]})  # fixed: back in the feed
    ids, gone, _ = read(client, since=resume2)
    assert ids == [f.uid(4)] and gone == []


def test_a_run_of_tombstones_longer_than_a_page_is_paged_exactly(make_client: Callable[..., TestClient],
                                                                db_url: str) -> None:
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 13)], url=db_url)
    _, _, resume = read(client)
    for n in range(1, 9):
        edit(client, n, {"nama_ibu_kandung": ""})  # INVALID: mother's name required
    edit(client, 12, {"tempat_lahir": "Depok"})
    ids, gone, _ = read(client, limit=3, since=resume)
    assert ids == [f.uid(12)]
    assert [g for g, _ in gone] == [f.uid(n) for n in range(1, 9)]  # each once, in change order
