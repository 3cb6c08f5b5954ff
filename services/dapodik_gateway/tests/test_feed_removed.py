"""Tombstones in the hub's feed (``removed=true``), on SQLite and PostgreSQL: a record deleted or not validated
comes as removed at its new position, so a reader keeping a copy drops it; a record an edit holds back (an
INVALID finding) is no tombstone: it comes as an item with its findings; a page never holds more than ``limit``
tombstones and paging stays exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.sinkronisasi.repository import next_change_seq
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


def retire(client: TestClient, ns: list[int], how: str) -> None:
    """Records leaving the feed as Dapodik's own processes make them (no route does): soft-deleted
    (``deleted``) or not validated (``not_validated``, as rows loaded before validation existed), each a change."""
    values = "soft_delete = :yes" if how == "deleted" else "status_validasi = NULL"
    with client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        for n in ns:
            conn.execute(sa.text(f"UPDATE peserta_didik SET {values}, change_seq = :seq WHERE peserta_didik_id = :id"),
                         {"yes": True, "seq": next_change_seq(conn), "id": f.uid(n)})


def test_a_held_back_record_stays_an_item_deleted_and_unvalidated_ones_are_tombstones(
        make_client: Callable[..., TestClient], db_url: str) -> None:
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 11)], url=db_url)
    ids, gone, resume = read(client)
    assert sorted(ids) == sorted(f.uid(n) for n in range(1, 11)) and gone == []
    assert client.get(FEED, params={"since": resume}).json()["removed"] == []  # not asked for: never sent

    edit(client, 4, {"nik": "1234567890123456"})  # placeholder NIK: INVALID, held back, still an item
    page = client.get(FEED, params={"since": resume, "removed": "true"}).json()
    assert [(s["peserta_didik_id"], s["status_validasi"]) for s in page["items"]] == [(f.uid(4), 2)]
    assert [t["kode"] for t in page["items"][0]["temuan_validasi"] if t["status_validasi"] == 2] == [
        "nik_placeholder"] and page["removed"] == []
    resume = page["resume_cursor"]

    retire(client, [5], "deleted")
    retire(client, [6], "not_validated")
    ids, gone, resume2 = read(client, since=resume)
    assert ids == [] and gone == [(f.uid(5), "deleted"), (f.uid(6), "not_validated")] and resume2 != resume
    assert read(client, since=resume2)[:2] == ([], [])
    # a full read from the start sees them as removed too, in their place; the held-back record as an item
    ids, gone, _ = read(client, limit=4)
    assert f.uid(4) in ids and len(ids) == 8 and gone == [(f.uid(5), "deleted"), (f.uid(6), "not_validated")]


def test_a_run_of_tombstones_longer_than_a_page_is_paged_exactly(make_client: Callable[..., TestClient],
                                                                db_url: str) -> None:
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 13)], url=db_url)
    _, _, resume = read(client)
    retire(client, list(range(1, 9)), "deleted")
    edit(client, 12, {"tempat_lahir": "Depok"})
    ids, gone, _ = read(client, limit=3, since=resume)
    assert ids == [f.uid(12)]
    assert [g for g, _ in gone] == [f.uid(n) for n in range(1, 9)]  # each once, in change order


def test_the_served_feed_is_byte_for_byte_the_pages_model_dump(make_client: Callable[..., TestClient],
                                                               db_url: str) -> None:
    """The route serves ``pydantic_core.to_json`` of the page's data (no read model per student): with provenance
    (values of each type), attendance months (100 % and below), findings and tombstones, every page is the model's
    own JSON, on both databases."""
    from datetime import UTC, datetime

    from pydantic_core import to_json
    from sqlmodel import Session

    from services.dapodik_gateway.feed import service

    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 11)], url=db_url)
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(2, 10), f.kip_item(3, 10, "K0003"))))
    assert r.status_code == 200, r.text
    edit(client, 4, {"nik": "1234567890123456"})  # held back: findings
    retire(client, [5], "deleted")
    retire(client, [6], "not_validated")
    with client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text("INSERT INTO kehadiran_pd (peserta_didik_id, tahun, bulan, jml_hari_efektif, jml_sakit, "
                             "jml_izin, jml_tanpa_keterangan, last_update) VALUES (:id, 2026, :m, 20, :s, 0, 0, :at)"),
                     [{"id": f.uid(7), "m": m, "s": s, "at": datetime(2026, 3, 1, tzinfo=UTC)}
                      for m, s in ((1, 0), (2, 3), (3, 7))])
    served: list[bytes] = []
    cursor = None
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        while True:
            data = service.feed_data(session, cursor, 3, removed=True)
            assert to_json(data) == service.feed(session, cursor, 3, removed=True).model_dump_json().encode()
            served.append(to_json(data))
            if not (cursor := data["next_cursor"]):
                break
    pages = [json.loads(b) for b in served]
    items = {s["peserta_didik_id"]: s for p in pages for s in p["items"]}
    assert items[f.uid(2)]["provenance"] and items[f.uid(3)]["provenance"] and items[f.uid(4)]["temuan_validasi"]
    assert [m["persen_hadir"] for m in items[f.uid(7)]["kehadiran_pd"]] == [100.0, 85.0, 65.0]
    assert {g["peserta_didik_id"] for p in pages for g in p["removed"]} == {f.uid(5), f.uid(6)}
    assert client.get(FEED, params={"limit": 3, "removed": "true"}).content == served[0]


@pytest.mark.parametrize(("field", "bad"), [("tanggal_lahir", "not a date"), ("jenis_kelamin", "X"),
                                            ("peserta_didik_id", "not-a-uuid")])
def test_the_hubs_client_still_rejects_a_record_off_contract(make_client: Callable[..., TestClient], field: str,
                                                             bad: str) -> None:
    """The page is served without a read model per student; the hub's client still validates every record it
    reads (``PesertaDidikFeed``): a page the gateway serves parses, the same page with one value off contract is a
    ``ContractError``, not a record stored."""
    import httpx

    from shared.clients import DapodikClient
    from shared.http import ContractError, RetryPolicy

    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 4)])
    body = client.get(FEED, params={"limit": 5, "removed": "true"}).json()
    bad_body = json.loads(json.dumps(body))
    bad_body["items"][1][field] = bad

    def reader(answer: dict[str, Any]) -> DapodikClient:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
        return DapodikClient("http://dapodik.test", "t" * 20, transport=transport, retry=RetryPolicy(attempts=1))

    assert [s.peserta_didik_id for s in reader(body).changes(limit=5, removed=True).items] == [
        f.uid(n) for n in range(1, 4)]
    with pytest.raises(ContractError):
        reader(bad_body).changes(limit=5, removed=True)
