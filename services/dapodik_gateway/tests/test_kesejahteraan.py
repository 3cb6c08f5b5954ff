"""kesejahteraan_pd rows (11 PIP, 12 PKH, 13 KPS, 14 KKS, 15 KIS) derived from and kept consistent with the
record's fields through hub results, readable per student."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.kesejahteraan.rules import derive
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from shared.contracts.common import HubResultItem, Outcome

YEAR = datetime.now(UTC).year


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1)], [
        f.peserta_didik(1), f.peserta_didik(2, no_kks="KKS-0002"),
        f.peserta_didik(3, penerima_kip=True, no_kip="AB12CD", nm_kip="SISWA TIGA"),
        *(f.peserta_didik(n) for n in range(4, 8))])


def rows(client: TestClient, n: int) -> dict[str, dict[str, Any]]:
    r = client.get(f"/api/v1/peserta-didik/{f.uid(n)}/kesejahteraan")
    assert r.status_code == 200, r.text
    return {row["nama_jenis"]: row for row in r.json()}


def post(client: TestClient, *items: HubResultItem) -> list[str]:
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(*items)))
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


def consistent(client: TestClient, n: int) -> None:
    """The active rows are exactly what the record's fields call for; ended ones are closed."""
    rec = client.get(f"/api/v1/peserta-didik/{f.uid(n)}").json()
    wanted = {p.jenis.name: p for p in derive(rec).values()}
    got = rows(client, n)
    assert {k for k, r in got.items() if r["aktif"]} == set(wanted), (n, rec, got)
    for name, prog in wanted.items():
        assert (got[name]["nomor"], got[name]["nm_di_kartu"], got[name]["sampai_tahun"]) == (
            prog.nomor, prog.nm_di_kartu, None)
    for r in got.values():
        assert r["jenis_kesejahteraan_id"] in (11, 12, 13, 14, 15) and r["peserta_didik_id"] == f.uid(n)
        assert r["aktif"] == (r["sampai_tahun"] is None)


def test_loaded_records_get_the_rows_their_fields_call_for(client: TestClient) -> None:
    assert rows(client, 1) == {}
    kks = rows(client, 2)["KKS"]
    assert (kks["jenis_kesejahteraan_id"], kks["nomor"], kks["asal_data"], kks["dari_tahun"], kks["aktif"]) == (
        14, "KKS-0002", "sekolah", YEAR, True)
    pip = rows(client, 3)["PIP"]
    assert (pip["jenis_kesejahteraan_id"], pip["nomor"], pip["nm_di_kartu"]) == (11, "AB12CD", "SISWA TIGA")
    for n in (1, 2, 3):
        consistent(client, n)


def test_hub_results_create_update_close_and_reopen_rows(client: TestClient) -> None:
    assert post(client, f.pkh_item(1, 10, no_kps="KKS-9")) == ["APPLIED"]
    got = rows(client, 1)
    assert set(got) == {"PKH", "KPS"} and got["KPS"]["nomor"] == "KKS-9"
    assert got["PKH"]["asal_data"] == got["KPS"]["asal_data"] == "kemensos.dtsen"
    ids = {k: r["id_sejahtera_pd"] for k, r in got.items()}

    assert post(client, f.kip_item(1, 11, "Q7W8E9")) == ["APPLIED"]  # the KIP number replaces the KPS number
    got = rows(client, 1)
    assert (got["PIP"]["nomor"], got["PIP"]["nm_di_kartu"], got["PIP"]["asal_data"]) == (
        "Q7W8E9", "SISWA 1", "puslapdik.sk_kip")
    assert (got["KPS"]["nomor"], got["KPS"]["asal_data"]) == ("Q7W8E9", "puslapdik.sk_kip")
    assert got["PKH"]["asal_data"] == "kemensos.dtsen" and got["KPS"]["id_sejahtera_pd"] == ids["KPS"]
    consistent(client, 1)

    before = rows(client, 1)
    assert post(client, f.kip_item(1, 11, "Q7W8E9")) == ["UNCHANGED"]  # repeated: nothing moves
    assert rows(client, 1) == before

    assert post(client, f.pkh_item(1, 12, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, pid="p12")) == [
        "APPLIED"]
    got = rows(client, 1)
    assert (got["PKH"]["aktif"], got["PKH"]["sampai_tahun"]) == (False, YEAR)
    assert (got["KPS"]["aktif"], got["PIP"]["aktif"]) == (False, True)
    consistent(client, 1)
    assert post(client, f.pkh_item(1, 13, pid="p13")) == ["APPLIED"]
    got = rows(client, 1)
    assert got["PKH"]["aktif"] and got["PKH"]["id_sejahtera_pd"] == ids["PKH"] and got["PKH"]["sampai_tahun"] is None
    consistent(client, 1)


def test_rows_stay_consistent_through_a_random_sequence_of_results(client: TestClient) -> None:
    rnd = random.Random(20261122)
    seq = 10
    for _ in range(40):
        n = rnd.randint(4, 7)
        seq = max(1, seq + rnd.choice((1, 1, -3)))  # now and then an older observation (STALE: no change)
        if rnd.random() < 0.6:
            recipient = rnd.random() < 0.5
            values: dict[str, Any] = {"no_kps": rnd.choice((None, f"KKS-{n}{seq}"))} if rnd.random() < 0.5 else {}
            item = f.pkh_item(n, seq, penerima=recipient, pid=f"p{seq}",
                              outcome=Outcome.PKH_RECIPIENT if recipient else Outcome.NOT_PKH_RECIPIENT, **values)
        else:
            item = f.kip_item(n, seq, rnd.choice(("AAA111", "BBB222")), pid=f"k{seq}")
        post(client, item)
        consistent(client, n)
    for n in range(1, 8):
        consistent(client, n)


def test_students_without_rows_get_them_at_startup(client: TestClient, token: str) -> None:
    post(client, f.pkh_item(1, 10, no_kps="KKS-9"))
    before = rows(client, 1)
    with client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text("DELETE FROM kesejahteraan_pd"))
    assert rows(client, 1) == {}
    url = client.app.state.settings.database_url  # type: ignore[attr-defined]
    with TestClient(create_app(Settings(database_url=url, api_tokens={"sync_hub": token}))) as again:
        again.headers["Authorization"] = f"Bearer {token}"
        after = rows(again, 1)
        assert set(after) == set(before) and after["KPS"]["nomor"] == "KKS-9"
        assert after["KPS"]["id_sejahtera_pd"] == before["KPS"]["id_sejahtera_pd"]  # same id wherever derived
        assert set(rows(again, 2)) == {"KKS"}


def test_unknown_or_malformed_student_is_4xx(client: TestClient) -> None:
    r = client.get(f"/api/v1/peserta-didik/{f.uid(999)}/kesejahteraan")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "peserta_didik_id"
    r = client.get("/api/v1/peserta-didik/not-a-uuid/kesejahteraan")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "peserta_didik_id"
    r = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/kesejahteraan", params={"jenis": 11})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "unknown_parameter"
