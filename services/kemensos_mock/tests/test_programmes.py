"""Registry completeness: BPNT/PBI-JK with periods, PKH beneficiaries with caps and amounts, KK history
(moves, splits), programme statuses in every answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.kemensos_mock.changes import service as changes
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import service as registry
from services.kemensos_mock.registry.schemas import PecahKk
from services.kemensos_mock.tests.world import (
    ANAK1,
    ANAK2,
    AYAH1,
    IBU1,
    KK1,
    KK2,
    KK3,
    NENEK4,
    World,
    tiny_world,
)
from services.kemensos_mock.world.service import LoadFailed, load_world
from shared.contracts.kemensos import KeluargaChange
from shared.db import make_engine, migrate, session_scope

OLD_KK1, OLD_KK2 = "3201010101200009", "3201010101150007"
NEW_KK = "3201010707260077"


def full_world() -> World:
    w = tiny_world()
    w.bansos = [
        {"no_kk": KK1, "program": "BPNT", "status": "AKTIF", "tahun": 2026, "tahap": 1},
        {"no_kk": KK1, "program": "BPNT", "status": "TIDAK_AKTIF", "tahun": 2026, "tahap": 2},
        {"no_kk": KK1, "program": "PBI_JK", "status": "AKTIF", "tahun": 2025, "tahap": 4},
    ]
    w.kk_history = [
        {"no_kk": KK1, "no_kk_lama": OLD_KK1, "diganti_pada": "2020-01-15", "alasan": "PINDAH_DOMISILI"},
        {"no_kk": KK2, "no_kk_lama": OLD_KK2, "diganti_pada": "2015-06-01", "alasan": "PECAH_KK"},
    ]
    return w


def _loaded(url: str, tmp_path: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    load_world(engine, full_world().write(tmp_path / "world"))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """Both databases."""
    yield from _loaded(db_url, tmp_path)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """The loader's line checks do not depend on the database: SQLite only."""
    yield from _loaded(f"sqlite:///{tmp_path / 'kemensos.db'}", tmp_path)


def test_optional_files_load_and_show_in_every_answer(engine: Engine) -> None:
    with session_scope(engine) as s:
        found = registry.lookup_niks(s, [ANAK1]).results[0].family
        by_old = registry.get_keluarga(s, OLD_KK1)
        split = registry.get_keluarga(s, KK2)
        page = changes.list_changes(s, ChangesQuery(limit=1000))
    assert found is not None
    assert [(p.program.value, p.status, p.periode) for p in found.program] == [
        ("BPNT", "TIDAK_AKTIF", "2026 tahap II"), ("PBI_JK", "AKTIF", "2025 tahap IV")]
    assert by_old.no_kk == KK1 and by_old.no_kk_lama == [OLD_KK1]
    assert [(r.no_kk_lama, r.diganti_pada.date().isoformat(), r.alasan.value if r.alasan else None)
            for r in by_old.riwayat_kk] == [(OLD_KK1, "2020-01-15", "PINDAH_DOMISILI")]
    assert [p.periode for p in by_old.program_riwayat] == ["2026 tahap II", "2026 tahap I", "2025 tahap IV"]
    assert split.asal_no_kk == OLD_KK2
    family = next(i for i in page.items if isinstance(i, KeluargaChange) and i.no_kk == KK1)
    assert [p.program.value for p in family.keluarga.program] == ["BPNT", "PBI_JK"]


@pytest.mark.parametrize(("mutate", "file", "field", "rule"), [
    (lambda w: w.kk_history.append({"no_kk": KK1, "no_kk_lama": KK3, "diganti_pada": "2020-01-01",
                                    "alasan": "PINDAH_DOMISILI"}),
     "kk_history.jsonl", "no_kk_lama", "held_by_a_family"),
    (lambda w: w.kk_history.append({"no_kk": "3201019999999999", "no_kk_lama": "3201019999999998",
                                    "diganti_pada": "2020-01-01", "alasan": "PECAH_KK"}),
     "kk_history.jsonl", "no_kk", "unknown_family"),
    (lambda w: w.kk_history.append({**w.kk_history[0], "no_kk": KK3}), "kk_history.jsonl", "no_kk_lama", "duplicate"),
    (lambda w: w.kk_history.append({**w.kk_history[0], "alasan": "CERAI"}), "kk_history.jsonl", "alasan", "enum"),
    (lambda w: w.bansos.append({**w.bansos[0], "program": "PKH"}), "bansos.jsonl", "(line)", "program_not_bansos"),
    (lambda w: w.bansos.append(dict(w.bansos[0])), "bansos.jsonl", "tahap", "duplicate"),
    (lambda w: w.pkh.append({"no_kk": KK3, "status": "AKTIF", "tahun": 2026, "tahap": 1, "penerima": [
        {"nik": None, "komponen": "LANSIA"}, {"nik": None, "komponen": "LANSIA"}]}), "pkh.jsonl", "(line)",
     "pkh_component_cap"),
])
def test_bad_lines_of_the_new_files_are_named_and_nothing_is_written(
    sqlite_engine: Engine, tmp_path: Path, mutate: object, file: str, field: str, rule: str
) -> None:
    world = full_world()
    world.keluarga = [{**k, "no_kk": k["no_kk"][:-4] + "9" + k["no_kk"][-3:]} for k in world.keluarga]
    kk = {a["no_kk"]: b["no_kk"] for a, b in zip(tiny_world().keluarga, world.keluarga, strict=True)}
    world.anggota_keluarga = [{**m, "nik": m["nik"][:-4] + "8" + m["nik"][-3:], "no_kk": kk[m["no_kk"]]}
                              for m in world.anggota_keluarga]
    for rows in (world.pkh, world.bansos, world.kk_history):
        for row in rows:
            row["no_kk"] = kk.get(row["no_kk"], row["no_kk"])
    world.kip = []
    world.kk_history = [{**h, "no_kk_lama": h["no_kk_lama"][:-1] + "1"} for h in world.kk_history]
    mutate(world)  # type: ignore[operator]
    with pytest.raises(LoadFailed) as caught:
        load_world(sqlite_engine, world.write(tmp_path / "more"))
    assert (file, field, rule) in [(e.file, e.field, e.rule) for e in caught.value.errors]
    with session_scope(sqlite_engine) as s:
        assert registry.get_keluarga(s, KK1).no_kk_lama == [OLD_KK1]  # the first load is untouched


def test_a_family_under_a_number_held_before_is_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    world = World(keluarga=[{**tiny_world().keluarga[0], "no_kk": OLD_KK1}])
    with pytest.raises(LoadFailed) as caught:
        load_world(sqlite_engine, world.write(tmp_path / "reuse"))
    assert [(e.field, e.rule) for e in caught.value.errors] == [("no_kk", "held_before")]


def test_pecah_kk_on_both_databases(engine: Engine) -> None:
    with session_scope(engine) as s:
        cursor = changes.list_changes(s, ChangesQuery(limit=1000)).next_cursor
        new = registry.pecah_kk(s, PecahKk(no_kk=KK1, no_kk_baru=NEW_KK, anggota=[ANAK2], kepala_keluarga=ANAK2,
                                           alamat="BARU"))
    assert new.asal_no_kk == KK1 and new.alamat == "BARU" and new.kode_wilayah == "3201011001"
    assert [(m.nik, m.hubungan_keluarga.value) for m in new.anggota] == [(ANAK2, "KEPALA_KELUARGA")]
    with session_scope(engine) as s:
        origin = registry.get_keluarga(s, KK1)
        page = changes.list_changes(s, ChangesQuery(limit=1000, cursor=cursor))
    assert [m.nik for m in origin.anggota] == [AYAH1, IBU1, ANAK1]
    assert [(i.kind.value, i.no_kk) for i in page.items] == [("keluarga", KK1), ("keluarga", NEW_KK)]


# ---- admin API ---------------------------------------------------------------------------------


def test_bansos_edit_moves_the_family_in_the_feed(client: TestClient, admin: TestClient) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK2}).json()
    response = admin.put("/api/v1/admin/bansos", json={"no_kk": KK2, "program": "PBI_JK", "status": "AKTIF",
                                                       "tahun": 2026, "tahap": 3})
    assert response.status_code == 200
    after = response.json()
    assert after["version"] > before["version"]
    assert after["program"] == [{"program": "PBI_JK", "status": "AKTIF", "periode": "2026 tahap III", "tahun": 2026,
                                 "tahap": 3}]
    lookup = client.post("/api/v1/nik/lookup", json={"niks": [NENEK4]}).json()["results"][0]
    assert lookup["family"]["program"] == []  # another family


def test_pkh_beneficiaries_amounts_and_caps(client: TestClient, admin: TestClient) -> None:
    body = {"no_kk": KK1, "status": "AKTIF", "tahun": 2026, "tahap": 3,
            "penerima": [{"nik": ANAK1, "komponen": "SD"}, {"nik": ANAK2, "komponen": "SMP"}]}
    response = admin.put("/api/v1/admin/pkh", json=body)
    assert response.status_code == 200
    pkh = response.json()["pkh"]
    assert pkh["komponen"] == ["SD", "SMP"] and pkh["nominal_tahap"] == (900_000 + 1_500_000) // 4
    assert [p["nik"] for p in pkh["penerima"]] == [ANAK1, ANAK2]
    old = admin.put("/api/v1/admin/pkh", json={**body, "tahun": 2019}).json()
    assert next(p for p in old["pkh_riwayat"] if p["tahun"] == 2019)["nominal_tahap"] is None  # no reference


@pytest.mark.parametrize(("penerima", "extra", "field", "rule"), [
    ([{"nik": None, "komponen": "LANSIA"}] * 2, {}, "", "pkh_component_cap"),
    ([{"nik": None, "komponen": "ANAK_USIA_DINI"}] * 3, {}, "", "pkh_component_cap"),
    ([{"nik": None, "komponen": "SD"}] * 5, {}, "penerima", "too_long"),
    ([{"nik": ANAK1, "komponen": "SD"}, {"nik": ANAK1, "komponen": "SMP"}], {}, "", "pkh_duplicate_beneficiary"),
    ([{"nik": ANAK1, "komponen": "SD"}], {"komponen": ["SMP"]}, "", "pkh_komponen_mismatch"),
    ([{"nik": NENEK4, "komponen": "LANSIA"}], {}, "penerima[0].nik", "not_a_member"),
    ([{"nik": ANAK1, "komponen": "KULIAH"}], {}, "penerima[0].komponen", "enum"),
    ([{"nik": ANAK1, "komponen": "SD", "nominal": 1}], {}, "penerima[0].nominal", "extra_forbidden"),
])
def test_bad_beneficiaries_are_422_and_change_nothing(client: TestClient, admin: TestClient, penerima: list,
                                                      extra: dict, field: str, rule: str) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    response = admin.put("/api/v1/admin/pkh", json={"no_kk": KK1, "status": "AKTIF", "tahun": 2026, "tahap": 3,
                                                    "penerima": penerima, **extra})
    assert response.status_code == 422
    assert any(e["rule"] == rule and e["field"] in (field, "body") for e in response.json()["errors"])
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json() == before


def test_kk_change_keeps_the_reason(admin: TestClient, client: TestClient) -> None:
    response = admin.patch("/api/v1/admin/keluarga", json={"no_kk": KK3, "change": {
        "no_kk": NEW_KK, "kode_wilayah": "3578021001", "alasan_ganti_kk": "PINDAH_DOMISILI"}})
    assert response.status_code == 200
    assert [(r["no_kk_lama"], r["alasan"]) for r in response.json()["riwayat_kk"]] == [(KK3, "PINDAH_DOMISILI")]
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK3}).json()["no_kk"] == NEW_KK
    bad = admin.patch("/api/v1/admin/keluarga", json={"no_kk": NEW_KK, "change": {"alasan_ganti_kk": "LAINNYA"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["rule"] == "alasan_without_new_kk"
    again = admin.patch("/api/v1/admin/keluarga", json={"no_kk": KK2, "change": {"no_kk": KK3}})  # KK3 was held before
    assert again.status_code == 409


@pytest.mark.parametrize(("body", "status", "field", "rule"), [
    ({"no_kk_baru": NEW_KK, "anggota": [NENEK4], "kepala_keluarga": NENEK4}, 422, "anggota[0]", "not_a_member"),
    ({"no_kk_baru": NEW_KK, "anggota": [AYAH1, IBU1, ANAK1, ANAK2], "kepala_keluarga": AYAH1}, 422, "anggota",
     "origin_empty"),
    ({"no_kk_baru": NEW_KK, "anggota": [ANAK1], "kepala_keluarga": ANAK2}, 422, "", "kepala_not_in_anggota"),
    ({"no_kk_baru": NEW_KK, "anggota": [ANAK1, ANAK1], "kepala_keluarga": ANAK1}, 422, "", "duplicate"),
    ({"no_kk_baru": KK2, "anggota": [ANAK1], "kepala_keluarga": ANAK1}, 409, "no_kk_baru", "unique"),
    ({"no_kk_baru": "123", "anggota": [ANAK1], "kepala_keluarga": ANAK1}, 422, "no_kk_baru",
     "string_pattern_mismatch"),
    ({"no_kk_baru": NEW_KK, "anggota": [], "kepala_keluarga": ANAK1}, 422, "anggota", "too_short"),
])
def test_bad_splits_are_refused_and_change_nothing(admin: TestClient, client: TestClient, body: dict, status: int,
                                                   field: str, rule: str) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    response = admin.post("/api/v1/admin/keluarga/pecah", json={"no_kk": KK1, **body})
    assert response.status_code == status
    assert any(e["rule"] == rule and e["field"] in (field, "body") for e in response.json()["errors"])
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json() == before


def test_reference_data(client: TestClient) -> None:
    body = client.get("/api/v1/referensi/pkh").json()
    assert body["max_penerima"] == 4 and body["komponen_cap"]["LANSIA"] == 1
    (nominal,) = body["nominal"]
    assert nominal["berlaku_mulai"] == "2021-01-01" and nominal["per_tahun"]["SMA"] == 2_000_000
    assert body["tahap"]["3"] == "Juli-September"


def test_the_served_feed_is_byte_for_byte_the_pages_model_dump(engine: Engine) -> None:
    """The route serves ``pydantic_core.to_json`` of the page's data (no model per family, member and membership):
    every page, of every kind of item (families with programmes and former KK numbers, PKH rows with
    beneficiaries, latest or not, removed families), is the model's own JSON."""
    from pydantic_core import to_json

    from shared.contracts.kemensos import PkhRecord

    with session_scope(engine) as s:
        registry.put_pkh(s, PkhRecord.model_validate(
            {"no_kk": KK1, "status": "AKTIF", "tahun": 2026, "tahap": 3,
             "penerima": [{"nik": ANAK1, "komponen": "SD"}, {"nik": ANAK2, "komponen": "SMP"}]}))
        registry.put_pkh(s, PkhRecord.model_validate(  # an older period: not the family's latest
            {"no_kk": KK1, "status": "AKTIF", "tahun": 2025, "tahap": 1, "komponen": ["SD"]}))
        registry.delete_keluarga(s, KK3)
    kinds: set[str] = set()
    cursor, pages = None, 0
    while True:
        with session_scope(engine) as s:
            query = ChangesQuery(limit=2, cursor=cursor)
            served = to_json(changes.page_data(s, query))
            page = changes.list_changes(s, query)
        assert served == page.model_dump_json().encode()
        kinds.update(i.kind.value for i in page.items)
        pages += 1
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert kinds == {"keluarga", "pkh", "keluarga_dihapus"} and pages > 2
