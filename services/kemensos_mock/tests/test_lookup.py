"""POST /api/v1/nik/lookup: answers in request order, limits, validation, query count."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from services.kemensos_mock.tests.world import (
    ANAK1,
    ANAK2,
    ANAK4,
    IBU2,
    KK1,
    KK2,
    KK3,
    NENEK4,
    STRANGER1,
    STRANGER2,
    World,
)
from shared.nik import Sex, encode

LOOKUP = "/api/v1/nik/lookup"


def lookup(client: TestClient, niks: list) -> dict:
    response = client.post(LOOKUP, json={"niks": niks})
    assert response.status_code == 200, response.text
    return response.json()


def test_found_person_and_family_with_latest_pkh(client: TestClient, world: World) -> None:
    body = lookup(client, [ANAK1])
    assert body["observed_seq"] == world.versioned_rows  # fresh registry: one version per loaded row
    assert body["dtsen_triwulan"] == "2026-Q2"  # the newest quarter in the registry
    (result,) = body["results"]
    assert result["found"] is True and result["nik"] == ANAK1
    member = world.member(ANAK1)
    assert result["person"] == {k: v for k, v in member.items() if k != "no_kk"}
    family = result["family"]
    assert family["no_kk"] == KK1 and family["kode_wilayah"] == "3201011001" and family["desil"] == 1
    assert family["pkh"]["periode"] == "2026 tahap II"
    assert family["pkh"]["komponen"] == ["SD", "SMP"]
    assert 1 <= family["version"] <= body["observed_seq"]
    assert "alamat" not in family  # the lookup answers the contract's Keluarga only


def test_family_version_counts_its_latest_pkh(client: TestClient) -> None:
    # pkh.jsonl is loaded after keluarga.jsonl, so the latest PKH row of KK1 has a higher version than
    # the family row; the family's version in answers is the later of the two.
    body = lookup(client, [ANAK1, ANAK4])
    with_pkh, without_pkh = (r["family"] for r in body["results"])
    assert with_pkh["version"] > without_pkh["version"]
    assert with_pkh["version"] > 4  # 4 family rows took versions 1..4


def test_not_found(client: TestClient) -> None:
    body = lookup(client, [STRANGER1])
    assert body["results"] == [{"nik": STRANGER1, "found": False, "person": None, "family": None}]


def test_mixed_duplicates_and_order(client: TestClient) -> None:
    asked = [STRANGER2, ANAK2, IBU2, ANAK2, STRANGER1, NENEK4, STRANGER2]
    results = lookup(client, asked)["results"]
    assert [r["nik"] for r in results] == asked
    assert [r["found"] for r in results] == [False, True, True, True, False, True, False]
    assert results[1] == results[3]  # a repeated NIK is answered each time, identically
    assert [r["family"]["no_kk"] for r in results if r["found"]] == [KK1, KK2, KK1, "3578010404260004"]
    assert results[2]["family"]["pkh"]["status"] == "TIDAK_AKTIF"
    assert results[5]["family"]["pkh"]["periode"] == "2024 tahap III"


def test_family_without_pkh_has_null_pkh(client: TestClient) -> None:
    (result,) = lookup(client, [ANAK4])["results"]
    assert result["family"]["no_kk"] == KK3 and result["family"]["pkh"] is None


def _valid_niks(count: int) -> list[str]:
    return [encode("320101", Sex.L, date(2000 + i % 20, 1 + i % 12, 1 + i % 28), 1 + i) for i in range(count)]


def test_one_thousand_niks_are_answered(client: TestClient) -> None:
    asked = [*_valid_niks(998), ANAK1, ANAK2]
    results = lookup(client, asked)["results"]
    assert len(results) == 1000
    assert [r["nik"] for r in results] == asked
    assert sum(r["found"] for r in results) == 2


def test_one_thousand_and_one_niks_is_422_naming_niks(client: TestClient) -> None:
    response = client.post(LOOKUP, json={"niks": _valid_niks(1001)})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidInput"
    assert body["errors"][0]["field"] == "niks"
    assert body["errors"][0]["rule"] == "too_long"


def test_lookup_uses_a_fixed_number_of_in_queries_whatever_the_count(client: TestClient) -> None:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", record)
    try:
        lookup(client, [*_valid_niks(300), ANAK1, ANAK2, IBU2, NENEK4])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    in_queries = [s for s in statements if " IN " in s.upper()]
    assert 1 <= len(in_queries) <= 4  # members, their families, latest PKH, latest BPNT/PBI-JK
    assert len(statements) <= 8  # + observed_seq and the current quarter; never one per NIK


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ({"niks": ["123"]}, "niks[0]", "string_pattern_mismatch"),
        ({"niks": [ANAK1, ANAK2, "32010147051200O1"]}, "niks[2]", "string_pattern_mismatch"),
        ({"niks": [ANAK1, 3201014705120001]}, "niks[1]", "string_type"),
        ({"niks": ANAK1}, "niks", "list_type"),
        ({"niks": []}, "niks", "too_short"),
        ({}, "niks", "missing"),
        ({"niks": [ANAK1], "nik": ANAK1}, "nik", "extra_forbidden"),
        ({"niks": [None]}, "niks[0]", "string_type"),
    ],
)
def test_malformed_input_is_422_naming_field_and_rule(client: TestClient, payload: dict, field: str,
                                                      rule: str) -> None:
    response = client.post(LOOKUP, json=payload)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in errors]


def test_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post(LOOKUP, content=b"niks=1", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidInput"
