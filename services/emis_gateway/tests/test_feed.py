"""The hub's change feed of students (``GET /api/v1/hub/siswa``), on SQLite and PostgreSQL: an opaque
(updated_at, id) position exact under equal timestamps, ``since`` reading only what changed, hub writes and
manual input not coming back, and a resume position that never passes a write transaction still open."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.emis_gateway.feed import service as feed_service
from services.emis_gateway.tests.conftest import NSM_A, OPERATOR_TOKEN, AppFactory, batch, item, seed
from shared.cursor import Cursor
from shared.db import SQLITE_IMMEDIATE, make_engine

FEED = "/api/v1/hub/siswa"


def read(client: TestClient, limit: int = 2, **params: Any) -> tuple[list[str], str]:
    ids: list[str] = []
    cursor = None
    while True:
        r = client.get(FEED, params={"limit": limit, **({"cursor": cursor} if cursor else params)})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [s["siswa_id"] for s in page["items"]]
        if not (cursor := page["next_cursor"]):
            return ids, page["resume_cursor"]


def edit_rombel(client: TestClient, siswa_id: str, rombel: str) -> None:
    """An operator's change of one student, through the spreadsheet import (EMIS's way of editing)."""
    op = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    exported = client.get(f"/api/v1/madrasah/{NSM_A}/siswa/export", params={"format": "csv"}, headers=op).content
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    header = rows[0]
    for row in rows[1:]:
        if row[header.index("ID Siswa")] == siswa_id:
            row[header.index("Rombel")] = rombel
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    r = client.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": "csv"},
                    content=out.getvalue().encode(), headers={**op, "content-type": "text/csv"})
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text


def test_feed_reads_everything_once_then_only_what_changed(app_client: AppFactory, db_url: str, tmp_path: Path,
                                                           auth: dict[str, str]) -> None:
    seed(db_url, tmp_path / "world", 5)
    client = app_client(db_url)
    client.headers.update(auth)
    everything, resume = read(client)  # one load: one timestamp for all five, ties broken by id
    assert everything == [f"siswa-{i:04d}" for i in range(5)]
    assert read(client, since=resume) == ([], resume)

    # hub results and manual input are not record changes: they do not come back
    assert client.post("/api/v1/hub/results", json=batch(item("siswa-0001", penerima_pkh=True))).status_code == 200
    r = client.put("/api/v1/siswa/siswa-0002/pkh-manual", json={"penerima_pkh": True},
                   headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert r.status_code == 200, r.text
    assert read(client, since=resume) == ([], resume)

    edit_rombel(client, "siswa-0003", "6A")
    changed, resume2 = read(client, since=resume)
    assert changed == ["siswa-0003"] and resume2 != resume
    page = client.get(FEED, params={"since": resume}).json()
    assert page["items"][0]["rombel"] == "6A"
    assert read(client, since=resume2) == ([], resume2)


def test_resume_never_passes_a_write_transaction_still_open(app_client: AppFactory, db_url: str, tmp_path: Path,
                                                           auth: dict[str, str]) -> None:
    seed(db_url, tmp_path / "world", 3)
    client = app_client(db_url)
    client.headers.update(auth)
    _, resume = read(client)
    engine = make_engine(db_url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn, conn.begin():  # a writer that has begun and not committed
                conn.execute(sa.text("SELECT 1 FROM siswa LIMIT 1 FOR UPDATE"))
                opened = conn.execute(sa.text("SELECT now()")).scalar()
                ids, held = read(client)
                assert len(ids) == 3
                bound = Cursor.decode(held)
                margin = feed_service.OPEN_TRANSACTION_MARGIN - timedelta(seconds=1)
                assert bound.key == "" and bound.at <= opened - margin
                # read again from there: the records are read again, nothing is skipped
                assert read(client, since=held)[0] == ids
        else:  # SQLite: writers take the write lock before their timestamp; nothing to hold back
            with engine.connect().execution_options(**{SQLITE_IMMEDIATE: True}) as conn, conn.begin():
                conn.execute(sa.text("SELECT 1 FROM siswa LIMIT 1"))
                assert read(client, since=resume) == ([], resume)
    finally:
        engine.dispose()


def test_feed_refuses_bad_positions_and_both_kinds_at_once(api: TestClient) -> None:
    _, resume = read(api)
    for params, field in (({"since": "%%%"}, "since"), ({"cursor": "not-a-cursor"}, "cursor"),
                          ({"since": resume, "cursor": resume}, "since"), ({"limit": 0}, "limit"),
                          ({"sinse": resume}, "sinse")):
        r = api.get(FEED, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["errors"][0]["field"].endswith(field), r.json()
    assert api.get(FEED, headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code == 401


LOW = "00000000-0000-0000-0000-000000000000"  # below every id of the seeded world


def read_range(client: TestClient, limit: int = 2, **bounds: str) -> tuple[list[str], str]:
    """Every page of a range (its bounds given with each page's cursor)."""
    ids: list[str] = []
    cursor = None
    while True:
        r = client.get(FEED, params={"limit": limit, **bounds, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        ids += [s["siswa_id"] for s in page["items"]]
        if not (cursor := page["next_cursor"]):
            return ids, page["resume_cursor"]


def test_a_range_of_the_feed_is_paged_in_id_order_and_read_whole(app_client: AppFactory, db_url: str, tmp_path: Path,
                                                                auth: dict[str, str]) -> None:
    seed(db_url, tmp_path / "world", 5)
    client = app_client(db_url)
    client.headers.update(auth)
    edit_rombel(client, "siswa-0000", "6B")  # the lowest id changed last: change order is no longer id order
    assert read(client)[0] == ["siswa-0001", "siswa-0002", "siswa-0003", "siswa-0004", "siswa-0000"]
    ids, resume = read_range(client, id_after=LOW)
    assert ids == [f"siswa-{i:04d}" for i in range(5)]  # the primary key walked, each id once
    start = Cursor.decode(resume)
    assert start.key == "" and start.at.year == 1970  # a range has no resume position of its own: the feed's start
    assert read_range(client, id_upto=LOW) == ([], resume)

    first = client.get(FEED, params={"limit": 2, "id_after": LOW}).json()
    for params, field, rule in (({"since": first["resume_cursor"]}, "since", "exclusive"),
                                ({"cursor": read(client, limit=2)[1]}, "cursor", "opaque_cursor")):
        r = client.get(FEED, params={"id_after": LOW, **params})
        assert r.status_code == 422, r.text
        assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}
    r = client.get(FEED, params={"cursor": first["next_cursor"]})  # a range's cursor outside its range
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "opaque_cursor", r.text
