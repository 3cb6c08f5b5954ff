"""The shared EmisClient (what the hub is coded against) run against the real app in process."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.emis_gateway.tests.conftest import NSM_A, AppFactory, seed
from shared.clients.emis import EmisClient
from shared.contracts.common import HubResultBatch, HubResultItem, MatchKey, Outcome, Provenance, ResultStatus
from shared.contracts.emis import Siswa
from shared.http import Rejected, RetryPolicy


@pytest.fixture
def client(app_client: AppFactory, db_url: str, tmp_path: Path, token: str) -> EmisClient:
    seed(db_url, tmp_path / "world", 7)
    http: TestClient = app_client(db_url)
    return EmisClient(base_url="http://testserver", token=token, http=http, retry=RetryPolicy(attempts=1))


def provenance(seq: int) -> Provenance:
    return Provenance(provenance_id="p-1", sync_run_id="run-9", source_system="kemensos.dtsen",
                      source_record="keluarga/3201010101010001", source_version=2, observed_seq=seq,
                      retrieved_at=datetime(2026, 2, 2, tzinfo=UTC), matched_by=MatchKey.NIK_IBU)


def test_list_and_iterate_students(client: EmisClient) -> None:
    page = client.list_students(limit=3)
    assert [s.siswa_id for s in page.items] == ["siswa-0000", "siswa-0001", "siswa-0002"]
    assert page.next_cursor
    assert all(isinstance(s, Siswa) for s in page.items)
    assert [s.siswa_id for s in client.iter_students(limit=2)] == [f"siswa-{i:04d}" for i in range(7)]
    assert client.health().service == "emis_gateway"


def test_get_post_results_and_read_back(client: EmisClient) -> None:
    student = client.get_student("siswa-0004")
    assert student.nsm == NSM_A and student.pkh.status_pkh is None
    batch = HubResultBatch(sync_run_id="run-9", items=[
        HubResultItem(student_id="siswa-0004", outcome=Outcome.NOT_REGISTERED, outcome_detail="NIK tidak ditemukan",
                      values={"penerima_pkh": False}, provenance=provenance(5)),
        HubResultItem(student_id="missing", outcome=Outcome.NO_NIK, provenance=provenance(5)),
    ])
    answer = client.post_results(batch)
    assert [r.status for r in answer.results] == [ResultStatus.APPLIED, ResultStatus.NOT_FOUND]
    assert client.post_results(batch).count(ResultStatus.UNCHANGED) == 1

    after = client.get_student("siswa-0004")
    assert after.pkh.status_pkh is Outcome.NOT_REGISTERED
    assert after.pkh.keterangan_pkh == "NIK tidak ditemukan"
    assert after.pkh.penerima_pkh is False
    assert after.pkh.sumber == "SERVER_KEMENSOS"
    assert after.pkh.tanggal_sinkron is not None
    assert after.updated_at == student.updated_at
    assert {p.field for p in after.provenance} == {"status_pkh", "keterangan_pkh", "penerima_pkh"}
    assert all(p.matched_by is MatchKey.NIK_IBU and p.observed_seq == 5 for p in after.provenance)
    [madrasah] = [m for m in client.list_madrasah().items if m.nsm == NSM_A]
    assert madrasah.last_sync == after.pkh.tanggal_sinkron


def test_madrasah_list(client: EmisClient) -> None:
    page = client.list_madrasah()
    assert {m.nsm: m.jumlah_siswa for m in page.items}[NSM_A] == 7


def test_bad_input_is_rejected_with_field_and_rule(client: EmisClient) -> None:
    with pytest.raises(Rejected) as err:
        client.list_students(limit=5000)
    assert err.value.status == 422
    assert [(e.field, e.rule) for e in err.value.errors] == [("limit", "less_than_equal")]

    with pytest.raises(Rejected) as err:
        client.list_students(cursor="bogus")
    assert (err.value.errors[0].field, err.value.errors[0].rule) == ("cursor", "opaque_cursor")

    with pytest.raises(Rejected) as err:
        client.get_student("no-such-student")
    assert err.value.status == 404 and err.value.body.error == "NotFound"


def test_wrong_token_is_rejected(app_client: AppFactory, sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url, tmp_path / "w", 1)
    bad = EmisClient(base_url="http://testserver", token="not-the-token-at-all", http=app_client(sqlite_url))
    with pytest.raises(Rejected) as err:
        bad.list_students()
    assert err.value.status == 401
