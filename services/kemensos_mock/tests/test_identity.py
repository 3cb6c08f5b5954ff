"""POST /api/v1/identity/search: a short ranked candidate list per query, blocked by birth year + region."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.kemensos_mock.identity import service as identity
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import service as registry
from services.kemensos_mock.registry.schemas import KeluargaUpdate
from services.kemensos_mock.tests.world import ANAK1, ANAK2, ANAK3, ANAK4, KK1, KK3, World
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import AnggotaKeluargaRecord, IdentityQuery, IdentitySearchRequest
from shared.db import make_engine, migrate, session_scope

SEARCH = "/api/v1/identity/search"


def search(client: TestClient, *queries: dict, **options: object) -> list[dict]:
    response = client.post(SEARCH, json={"queries": list(queries), **options})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_exact_identity_is_the_top_candidate_with_every_field_agreeing(client: TestClient) -> None:
    (result,) = search(client, {"ref": "s1", "nama": "SITI RAHAYU", "tanggal_lahir": "2012-05-07",
                                "nama_ibu_kandung": "SRI WAHYUNI", "jenis_kelamin": "P", "kode_wilayah": "320101"})
    assert result["ref"] == "s1" and result["detail"] is None
    top = result["candidates"][0]
    assert top["person"]["nik"] == ANAK1 and top["score"] == 1.0
    assert top["agreed"] == ["nama", "tanggal_lahir", "tahun_lahir", "nama_ibu_kandung", "jenis_kelamin",
                             "kode_wilayah"]
    assert top["family"]["no_kk"] == KK1 and top["family"]["pkh"]["periode"] == "2026 tahap II"


def test_variants_and_birth_slips_still_find_the_person_lower(client: TestClient) -> None:
    exact, variant, swapped, year_only = search(
        client,
        {"nama": "AHMAD FAUZI", "tanggal_lahir": "2010-11-23", "kode_wilayah": "3201"},
        {"nama": "Achmad Fauzi, S.Pd.", "tanggal_lahir": "2010-11-23", "kode_wilayah": "3201"},
        {"nama": "AHMAD FAUZI", "tanggal_lahir": "2010-11-22", "kode_wilayah": "3201"},  # one day off
        {"nama": "ahmad fauzi", "tahun_lahir": 2010, "kode_wilayah": "32"},
    )
    for result in (exact, variant, swapped, year_only):
        assert result["candidates"][0]["person"]["nik"] == ANAK2
    assert exact["candidates"][0]["score"] == 1.0 and variant["candidates"][0]["score"] == 1.0  # normalised
    assert swapped["candidates"][0]["score"] < 1.0
    assert "tanggal_lahir" not in swapped["candidates"][0]["agreed"]
    assert "tahun_lahir" in swapped["candidates"][0]["agreed"]


def test_day_and_month_swapped_counts_as_near(client: TestClient) -> None:
    (swapped,) = search(client, {"nama": "SITI RAHAYU", "tanggal_lahir": "2012-07-05", "kode_wilayah": "320101"})
    (far,) = search(client, {"nama": "SITI RAHAYU", "tanggal_lahir": "2012-12-28", "kode_wilayah": "320101"})
    assert swapped["candidates"][0]["score"] > far["candidates"][0]["score"]


def test_block_is_region_and_birth_year(client: TestClient) -> None:
    wrong_region, wrong_year, other_name = search(
        client,
        {"nama": "SITI RAHAYU", "tanggal_lahir": "2012-05-07", "kode_wilayah": "3578"},
        {"nama": "SITI RAHAYU", "tanggal_lahir": "2013-05-07", "kode_wilayah": "3201"},
        {"nama": "BAMBANG PAMUNGKAS", "tanggal_lahir": "2012-05-07", "kode_wilayah": "3201"},
    )
    assert wrong_region["candidates"] == [] and wrong_year["candidates"] == []
    assert other_name["candidates"] == [] and other_name["block_size"] == 1  # never a listing of the block


def test_mother_and_sex_disagreeing_lower_the_score(client: TestClient) -> None:
    right, wrong = search(
        client,
        {"nama": "DEWI LESTARI", "tanggal_lahir": "2009-08-17", "nama_ibu_kandung": "MARYAM", "jenis_kelamin": "P",
         "kode_wilayah": "357801"},
        {"nama": "DEWI LESTARI", "tanggal_lahir": "2009-08-17", "nama_ibu_kandung": "SUPARTINI",
         "jenis_kelamin": "L", "kode_wilayah": "357801"},
    )
    assert right["candidates"][0]["person"]["nik"] == ANAK4 and right["candidates"][0]["score"] == 1.0
    low = wrong["candidates"]
    assert low == [] or (low[0]["score"] < 0.9 and "jenis_kelamin" not in low[0]["agreed"])
    (strict,) = search(client, {"nama": "DEWI LESTARI", "tanggal_lahir": "2009-08-17", "nama_ibu_kandung": "X",
                                "jenis_kelamin": "L", "kode_wilayah": "357801"}, min_score=0.95)
    assert strict["candidates"] == []


def test_answers_in_request_order_and_at_most_max_candidates(client: TestClient) -> None:
    queries = [{"ref": str(i), "nama": "DEDI KURNIAWAN", "tanggal_lahir": "2014-02-09", "kode_wilayah": "32"}
               for i in range(30)]
    results = search(client, *queries, max_candidates=1)
    assert [r["ref"] for r in results] == [str(i) for i in range(30)]
    assert all(len(r["candidates"]) == 1 and r["candidates"][0]["person"]["nik"] == ANAK3 for r in results)


def test_a_block_too_large_is_not_ranked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "BLOCK_CAP", 0)
    (result,) = search(client, {"nama": "SITI RAHAYU", "tanggal_lahir": "2012-05-07", "kode_wilayah": "32"})
    assert result["candidates"] == [] and result["block_size"] == 1 and "longer kode_wilayah" in result["detail"]


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"queries": [{"nama": "X", "kode_wilayah": "32"}]}, "queries[0]", "birth_required"),
    ({"queries": [{"nama": "X", "tanggal_lahir": "2012-05-07", "tahun_lahir": 2011, "kode_wilayah": "32"}]},
     "queries[0]", "birth_inconsistent"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "3"}]}, "queries[0].kode_wilayah",
     "string_pattern_mismatch"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "3201011"}]}, "queries[0].kode_wilayah",
     "string_pattern_mismatch"),
    ({"queries": [{"nama": "", "tahun_lahir": 2012, "kode_wilayah": "32"}]}, "queries[0].nama", "string_too_short"),
    ({"queries": [{"nama": "X", "tahun_lahir": "dua ribu", "kode_wilayah": "32"}]}, "queries[0].tahun_lahir",
     "int_parsing"),
    ({"queries": [{"nama": "X", "tanggal_lahir": "2012-02-30", "kode_wilayah": "32"}]}, "queries[0].tanggal_lahir",
     "date_from_datetime_parsing"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "32", "nik": "1"}]}, "queries[0].nik",
     "extra_forbidden"),
    ({"queries": []}, "queries", "too_short"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "32"}] * 1001}, "queries", "too_long"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "32"}], "max_candidates": 6},
     "max_candidates", "less_than_equal"),
    ({"queries": [{"nama": "X", "tahun_lahir": 2012, "kode_wilayah": "32"}], "min_score": 0.1},
     "min_score", "greater_than_equal"),
])
def test_bad_queries_are_422_naming_field_and_rule(client: TestClient, body: dict, field: str, rule: str) -> None:
    response = client.post(SEARCH, json=body)
    assert response.status_code == 422
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]]


# ---- storage: both databases, the search keys follow the data ----------------------------------


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def find(engine: Engine, **query: object) -> list[str]:
    with session_scope(engine) as s:
        answer = identity.search(s, IdentitySearchRequest(queries=[IdentityQuery.model_validate(query)]))
    return [c.person.nik for c in answer.results[0].candidates]


def test_search_keys_follow_moves_on_both_databases(engine: Engine, world: World) -> None:
    assert find(engine, nama="SITI RAHAYU", tahun_lahir=2012, kode_wilayah="320101") == [ANAK1]
    with session_scope(engine) as s:  # the family moves to Surabaya
        registry.update_keluarga(s, KK1, KeluargaUpdate(kode_wilayah="3578011005"))
    assert find(engine, nama="SITI RAHAYU", tahun_lahir=2012, kode_wilayah="320101") == []
    assert find(engine, nama="SITI RAHAYU", tahun_lahir=2012, kode_wilayah="357801") == [ANAK1]
    with session_scope(engine) as s:  # Dedi moves into family 3 (Surabaya) and his birth date is corrected
        member = {**world.member(ANAK3), "no_kk": KK3, "tanggal_lahir": "2015-02-09"}
        registry.put_anggota(s, AnggotaKeluargaRecord.model_validate(member))
    assert find(engine, nama="DEDI KURNIAWAN", tahun_lahir=2014, kode_wilayah="32") == []
    assert find(engine, nama="DEDI KURNIAWAN", tahun_lahir=2015, kode_wilayah="3578") == [ANAK3]
