"""GET /api/v1/kip: keyset paging (every row exactly once), filters, validation."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest
from fastapi.testclient import TestClient

from services.kemensos_mock.tests.world import KIP_COUNT, World
from shared.cursor import Cursor

KIP = "/api/v1/kip"


def all_pages(client: TestClient, **params: object) -> tuple[list[dict], int]:
    items: list[dict] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get(KIP, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 1000, "paging does not end"


def test_small_pages_return_every_row_exactly_once_when_all_share_one_timestamp(
    client: TestClient, world: World
) -> None:
    items, pages = all_pages(client, limit=7)
    assert len({i["updated_at"] for i in items}) == 1  # the load stamped every row alike: ties everywhere
    numbers = [i["no_kip"] for i in items]
    assert len(numbers) == len(set(numbers)) == KIP_COUNT
    assert set(numbers) == {k["no_kip"] for k in world.kip}
    assert pages == -(-KIP_COUNT // 7)


@pytest.mark.parametrize("limit", [1, 59, 60, 61, 1000])
def test_page_sizes_at_the_edges(client: TestClient, limit: int) -> None:
    items, pages = all_pages(client, limit=limit)
    assert sorted(i["no_kip"] for i in items) == sorted({i["no_kip"] for i in items})
    assert len(items) == KIP_COUNT
    assert pages == max(1, -(-KIP_COUNT // limit))


def test_default_limit_and_page_shape(client: TestClient, world: World) -> None:
    body = client.get(KIP).json()
    assert len(body["items"]) == KIP_COUNT and body["next_cursor"] is None
    assert body["observed_seq"] == world.versioned_rows
    first = body["items"][0]
    source = next(k for k in world.kip if k["no_kip"] == first["no_kip"])
    assert {k: first[k] for k in source} == source
    assert 1 <= first["version"] <= body["observed_seq"]


def test_rows_changed_while_paging_are_seen_again_and_none_are_lost(client: TestClient, admin: TestClient,
                                                                   world: World) -> None:
    first = client.get(KIP, params={"limit": 10}).json()
    seen = [i["no_kip"] for i in first["items"]]
    # an already-seen and a not-yet-seen issuance change between two pages
    changed = [seen[0], sorted({k["no_kip"] for k in world.kip} - set(seen))[5]]
    for no_kip in changed:
        row = next(k for k in world.kip if k["no_kip"] == no_kip)
        assert admin.put("/api/v1/admin/kip", json={**row, "nama": "NAMA BARU"}).status_code == 200
    rest, _ = all_pages(client, limit=10, cursor=first["next_cursor"])
    numbers = seen + [i["no_kip"] for i in rest]
    assert set(numbers) == {k["no_kip"] for k in world.kip}
    assert sorted(n for n in numbers if numbers.count(n) > 1) == [changed[0], changed[0]]
    assert [i["nama"] for i in rest[-2:]] == ["NAMA BARU", "NAMA BARU"]  # changed rows move to the end
    assert rest[-1]["version"] > rest[-2]["version"] > first["observed_seq"]


@pytest.mark.parametrize(("prefix", "expected"), [
    ("32", {"3201011001", "3201011002"}),
    ("3578", {"3578011001", "3578021003"}),
    ("357802", {"3578021003"}),
    ("3201011002", {"3201011002"}),
    ("11", {"1101012001"}),
    ("99", set()),
])
def test_region_prefix_filter(client: TestClient, world: World, prefix: str, expected: set[str]) -> None:
    items, _ = all_pages(client, limit=4, kode_wilayah=prefix)
    assert {i["kode_wilayah"] for i in items} == expected
    assert len(items) == sum(1 for k in world.kip if k["kode_wilayah"].startswith(prefix))


def test_jenjang_filter_combined_with_region(client: TestClient, world: World) -> None:
    items, _ = all_pages(client, limit=3, kode_wilayah="32", jenjang="SMK")
    want = {k["no_kip"] for k in world.kip if k["jenjang"] == "SMK" and k["kode_wilayah"].startswith("32")}
    assert want and {i["no_kip"] for i in items} == want


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"limit": 0}, "limit", "greater_than_equal"),
    ({"limit": 1001}, "limit", "less_than_equal"),
    ({"limit": "ten"}, "limit", "int_parsing"),
    ({"kode_wilayah": "32.01"}, "kode_wilayah", "string_pattern_mismatch"),
    ({"kode_wilayah": "3"}, "kode_wilayah", "string_pattern_mismatch"),
    ({"kode_wilayah": "32010110011"}, "kode_wilayah", "string_pattern_mismatch"),
    ({"jenjang": "TK"}, "jenjang", "enum"),
    ({"kode_wilyah": "32"}, "kode_wilyah", "extra_forbidden"),
    ({"cursor": "not-a-cursor"}, "cursor", "opaque_cursor"),
])
def test_bad_query_is_422_naming_field_and_rule(client: TestClient, params: dict, field: str, rule: str) -> None:
    response = client.get(KIP, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidInput"
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in body["errors"]]


@pytest.mark.parametrize("key", ["abc", "1" * 40, "-1", "\u0661\u0662", "1\u0000"])
def test_cursor_with_a_foreign_key_is_422(client: TestClient, key: str) -> None:
    page = client.get(KIP, params={"limit": 5}).json()
    forged = Cursor(Cursor.decode(page["next_cursor"]).at, key).encode()
    for path in (KIP, "/api/v1/changes"):
        response = client.get(path, params={"cursor": forged})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "cursor"


def test_cursor_from_far_away_times_is_answered(client: TestClient) -> None:
    for at in ("0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "2026-01-01T00:00:00"):
        cursor = Cursor(datetime.fromisoformat(at), "1").encode()
        response = client.get(KIP, params={"cursor": cursor})
        assert response.status_code == 200, response.text


def test_version_ranges_split_the_listing_and_resume_after_their_end(client: TestClient) -> None:
    whole, _ = all_pages(client, limit=13)
    head = client.get(KIP, params={"limit": 1}).json()["observed_seq"]
    edges = [None, head // 3, 2 * head // 3, head]
    parts: list[dict] = []
    for lo, hi in pairwise(edges):
        got, _ = all_pages(client, limit=5, **({"since_version": lo} if lo is not None else {}), until_version=hi)
        assert all((lo or 0) < i["version"] <= hi for i in got)
        parts += got
    assert [i["no_kip"] for i in parts] == [i["no_kip"] for i in whole]  # every issuance once, in version order
    # a range's last page resumes after the range's end: the whole listing resumes from the last range's
    end = client.get(KIP, params={"since_version": head, "until_version": head}).json()
    assert end["items"] == [] and end["next_cursor"] is None
    assert Cursor.decode(end["resume_cursor"]).key == str(head)
    assert client.get(KIP, params={"cursor": end["resume_cursor"]}).json()["items"] == []
    far = client.get(KIP, params={"until_version": 2**62}).json()  # never past the registry's sequence
    assert Cursor.decode(far["resume_cursor"]).key == str(head)


def test_card_number_ranges_split_the_listing_in_card_order_and_resume_nowhere(client: TestClient) -> None:
    whole, _ = all_pages(client, limit=13)
    numbers = sorted(i["no_kip"] for i in whole)
    edges = [None, numbers[len(numbers) // 3], numbers[2 * len(numbers) // 3], None]  # bounds the cards fall between
    parts: list[dict] = []
    for lo, hi in pairwise(edges):
        bounds = {k: v for k, v in (("no_kip_after", lo), ("no_kip_upto", hi)) if v is not None}
        cursor, got = None, []
        while True:  # the range's own cursors, with its bounds
            body = client.get(KIP, params={"limit": 4, **bounds, **({"cursor": cursor} if cursor else {})}).json()
            assert body["resume_cursor"] is None  # a range is part of a whole read: it resumes nowhere
            got += body["items"]
            if not (cursor := body["next_cursor"]):
                break
        assert [i["no_kip"] for i in got] == sorted(i["no_kip"] for i in got)
        parts += got
    assert [i["no_kip"] for i in parts] == sorted(i["no_kip"] for i in whole)  # every card once
    # a range's cursor is no position of the whole listing, nor the listing's of a range
    range_cursor = client.get(KIP, params={"limit": 1, "no_kip_upto": "ZZZZZZ"}).json()["next_cursor"]
    assert client.get(KIP, params={"cursor": range_cursor}).status_code == 422
    version_cursor = client.get(KIP, params={"limit": 1}).json()["next_cursor"]
    r = client.get(KIP, params={"cursor": version_cursor, "no_kip_after": "A"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"no_kip_after": "abc"}, "no_kip_after", "string_pattern_mismatch"),
    ({"no_kip_upto": "ABCDEFG"}, "no_kip_upto", "string_pattern_mismatch"),
    ({"since_version": -1}, "since_version", "greater_than_equal"),
    ({"until_version": 2**62 + 1}, "until_version", "less_than_equal"),
    ({"until_version": "x"}, "until_version", "int_parsing"),
])
def test_bad_version_ranges_are_422_naming_the_field(client: TestClient, params: dict, field: str, rule: str) -> None:
    response = client.get(KIP, params=params)
    assert response.status_code == 422, response.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in response.json()["errors"]}
