"""The typed client other services use (``shared.clients.KemensosClient``) against the real app, in process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.kemensos_mock.config import Settings
from services.kemensos_mock.main import create_app
from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN, TestClient
from services.kemensos_mock.tests.world import ANAK1, ANAK2, ANAK3, IBU2, KIP_COUNT, KK1, KK2, KK4, STRANGER1, World
from shared.clients import KemensosClient
from shared.contracts.kemensos import (
    ChangeKind,
    IdentityField,
    IdentityQuery,
    Jenjang,
    KehadiranBulan,
    KeluargaChange,
    KeluargaDihapusChange,
    KomitmenPendidikan,
    PkhChange,
    ProvenansiHub,
    StatusVerifikasi,
    SumberPendidikan,
    VerifikasiPendidikan,
)
from shared.http import Rejected, RetryPolicy


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as http:
        yield http


@pytest.fixture
def kemensos(http: TestClient) -> KemensosClient:
    return KemensosClient(base_url="http://testserver", token=API_TOKEN, http=http, retry=RetryPolicy(attempts=1))


def admin_call(http: TestClient, method: str, path: str, body: dict | None = None) -> None:
    response = http.request(method, path, json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.text


def test_health(kemensos: KemensosClient) -> None:
    health = kemensos.health()
    assert health.service == "kemensos_mock" and health.status == "ok"


def test_lookup_niks(kemensos: KemensosClient, world: World) -> None:
    answer = kemensos.lookup_niks([ANAK1, STRANGER1])
    assert answer.observed_seq == world.versioned_rows
    found, missing = answer.results
    assert found.found and found.person is not None and found.person.nik == ANAK1
    assert found.family is not None and found.family.pkh is not None
    assert not missing.found and missing.person is None


def test_list_kip_with_filters(kemensos: KemensosClient, world: World) -> None:
    page = kemensos.list_kip(limit=5, kode_wilayah="3578", jenjang=Jenjang.SD)
    want = {k["no_kip"] for k in world.kip if k["jenjang"] == "SD" and k["kode_wilayah"].startswith("3578")}
    assert {i.no_kip for i in page.items} <= want and len(page.items) == min(5, len(want))
    assert page.observed_seq == world.versioned_rows


def test_iter_kip_yields_every_issuance_once(kemensos: KemensosClient, world: World) -> None:
    pairs = list(kemensos.iter_kip(limit=8))
    assert len(pairs) == KIP_COUNT
    assert {i.no_kip for i, _ in pairs} == {k["no_kip"] for k in world.kip}
    assert {seq for _, seq in pairs} == {world.versioned_rows}


def test_bad_input_is_rejected_with_field_and_rule(kemensos: KemensosClient) -> None:
    with pytest.raises(Rejected) as caught:
        kemensos.list_kip(limit=5000)
    assert caught.value.status == 422
    assert [(e.field, e.rule) for e in caught.value.errors] == [("limit", "less_than_equal")]
    with pytest.raises(Rejected) as caught:
        kemensos.list_kip(cursor="bm90LWEtY3Vyc29y")
    assert [(e.field, e.rule) for e in caught.value.errors] == [("cursor", "opaque_cursor")]


def test_wrong_token_is_rejected_as_401(settings: Settings) -> None:
    with TestClient(create_app(settings)) as http:
        client = KemensosClient(base_url="http://testserver", token="x" * 24, http=http,
                                retry=RetryPolicy(attempts=1))
        with pytest.raises(Rejected) as caught:
            client.lookup_niks([ANAK1])
    assert caught.value.status == 401 and caught.value.body.error == "Unauthorized"


def test_get_keluarga(kemensos: KemensosClient, world: World) -> None:
    family = kemensos.get_keluarga(KK1)
    assert family.no_kk == KK1 and family.alamat == "KP. SUKAMAJU RT 01/02"
    assert [m.nik for m in family.anggota] == [m["nik"] for m in world.anggota_keluarga if m["no_kk"] == KK1]
    assert family.pkh is not None and family.pkh_riwayat[0].periode == family.pkh.periode
    with pytest.raises(Rejected) as caught:
        kemensos.get_keluarga("3201019999999999")
    assert caught.value.status == 404 and [(e.field, e.rule) for e in caught.value.errors] == [("no_kk", "not_found")]


def test_iter_changes_then_resume(kemensos: KemensosClient, http: TestClient, world: World) -> None:
    pages = list(kemensos.iter_changes(limit=4))
    assert [p.has_more for p in pages] == [True, True, False]
    items = [i for p in pages for i in p.items]
    families = {i.no_kk: i for i in items if isinstance(i, KeluargaChange)}
    assert sorted(families) == sorted(k["no_kk"] for k in world.keluarga)
    assert {m.nik for f in families.values() for m in f.anggota} == {m["nik"] for m in world.anggota_keluarga}
    assert sum(isinstance(i, PkhChange) for i in items) == len(world.pkh)
    cursor = pages[-1].next_cursor
    assert cursor is not None
    assert kemensos.list_changes(cursor).items == []  # caught up
    admin_call(http, "PUT", "/api/v1/admin/anggota", {**world.member(ANAK3), "no_kk": KK1})
    admin_call(http, "DELETE", "/api/v1/admin/keluarga", {"no_kk": KK4})
    (page,) = list(kemensos.iter_changes(cursor, limit=10))
    assert [(i.kind, i.no_kk) for i in page.items] == [
        (ChangeKind.KELUARGA, KK2), (ChangeKind.KELUARGA, KK1), (ChangeKind.KELUARGA_DIHAPUS, KK4)]
    losing, gaining, gone = page.items
    assert isinstance(losing, KeluargaChange) and [m.nik for m in losing.anggota] == [IBU2]
    assert isinstance(gaining, KeluargaChange) and ANAK3 in [m.nik for m in gaining.anggota]
    assert isinstance(gone, KeluargaDihapusChange) and page.observed_seq == gone.version


def test_bad_change_cursor_is_rejected(kemensos: KemensosClient) -> None:
    with pytest.raises(Rejected) as caught:
        kemensos.list_changes("bm90LWEtY3Vyc29y")
    assert [(e.field, e.rule) for e in caught.value.errors] == [("cursor", "opaque_cursor")]


def test_search_identities(kemensos: KemensosClient, world: World) -> None:
    queries = [IdentityQuery(ref="a", nama="St. Rahayu", tanggal_lahir=date(2012, 5, 7), kode_wilayah="320101",
                             nama_ibu_kandung="SRI WAHYUNI"),
               IdentityQuery(ref="b", nama="NOBODY AT ALL", tahun_lahir=2012, kode_wilayah="32")]
    answer = kemensos.search_identities(queries, max_candidates=2)
    assert answer.observed_seq == world.versioned_rows
    found, nobody = answer.results
    assert found.ref == "a" and found.candidates[0].person.nik == ANAK1
    assert IdentityField.NAMA_IBU_KANDUNG in found.candidates[0].agreed
    assert found.candidates[0].family.no_kk == KK1
    assert nobody.ref == "b" and nobody.candidates == []


def test_education_verification_round_trip(kemensos: KemensosClient) -> None:
    provenance = ProvenansiHub(provenance_id="prov-1", source_system=SumberPendidikan.EMIS,
                               source_record="siswa-9", source_version=2, observed_seq=40)
    item = VerifikasiPendidikan(nik_anak=ANAK1, periode="2026-T2", enrolled=True, active=True, nsm="111232180191",
                                sumber=SumberPendidikan.EMIS, provenance=provenance,
                                kehadiran=[KehadiranBulan(bulan=4, hari_efektif=20, alpa=4, izin=0, sakit=0)],
                                observed_at=datetime(2026, 7, 1, tzinfo=UTC), version=1)
    first = kemensos.put_education_verification([item])
    again = kemensos.put_education_verification([item])  # what a retry after a lost answer does
    assert [r.status for r in first.results] == [StatusVerifikasi.APPLIED]
    assert again.count(StatusVerifikasi.UNCHANGED) == 1
    older = item.model_copy(update={"observed_at": datetime(2026, 6, 30, tzinfo=UTC), "active": False})
    assert kemensos.put_education_verification_item(older).status is StatusVerifikasi.STALE
    held = kemensos.get_education_verification(ANAK1)
    (current,) = held.current
    assert (current.periode, current.nsm, current.client, current.version) == ("2026-T2", "111232180191", "sync_hub", 1)
    assert [(m.bulan, m.persen_hadir, m.memenuhi_85) for m in current.kehadiran] == [(4, 80.0, False)]
    assert current.provenance.provenance_id == "prov-1" and current.provenance.observed_seq == 40
    assert len(held.history) == 1
    commitment = kemensos.education_commitment("2026-T2", [KK1, KK2, "3201019999999999"])
    assert [r.status for r in commitment.results] == [
        KomitmenPendidikan.NOT_MET, KomitmenPendidikan.NOT_APPLICABLE, KomitmenPendidikan.NOT_FOUND]
    assert {(a.nik_anak, a.status) for a in commitment.results[0].anak} == {
        (ANAK1, KomitmenPendidikan.NOT_MET), (ANAK2, KomitmenPendidikan.NO_VERIFICATION)}


def test_a_malformed_verification_is_refused_before_it_is_sent() -> None:
    with pytest.raises(ValidationError) as caught:
        KehadiranBulan(bulan=4, hari_efektif=5, alpa=3, izin=2, sakit=1)
    assert caught.value.errors()[0]["type"] == "absences_exceed_effective_days"
