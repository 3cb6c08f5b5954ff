"""The hub's typed client (``shared.clients.DapodikClient``) against the real app, in process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from shared.clients import DapodikClient
from shared.contracts.common import Outcome, ResultStatus
from shared.contracts.dapodik import PesertaDidik
from shared.http import Rejected, RetryPolicy


@pytest.fixture
def app_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1 + n % 2) for n in range(1, 13)])


@pytest.fixture
def dapodik(app_client: TestClient, token: str) -> Iterator[DapodikClient]:
    yield DapodikClient(base_url="http://testserver", token=token, http=app_client,
                        retry=RetryPolicy(attempts=1))


def test_health_and_schools(dapodik: DapodikClient) -> None:
    assert dapodik.health().service == "dapodik_gateway"
    page = dapodik.list_sekolah(limit=1)
    assert len(page.items) == 1 and page.next_cursor
    rest = dapodik.list_sekolah(cursor=page.next_cursor, limit=1)
    assert {s.npsn for s in page.items + rest.items} == {f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]}
    assert sum(s.jumlah_peserta_didik for s in page.items + rest.items) == 12


def test_list_iter_and_get_students(dapodik: DapodikClient) -> None:
    page = dapodik.list_students(limit=5)
    assert len(page.items) == 5 and isinstance(page.items[0], PesertaDidik) and page.next_cursor
    everyone = list(dapodik.iter_students(limit=5))
    assert sorted(p.peserta_didik_id for p in everyone) == sorted(f.uid(n) for n in range(1, 13))
    one = dapodik.get_student(f.uid(4))
    assert one.nama == "Siswa Nomor E" and one.nama_ibu_kandung == "Ibu E" and one.status_padan is None


def test_post_results_round_trip(dapodik: DapodikClient) -> None:
    batch = f.batch(f.pkh_item(1, 10), f.kip_item(1, 11, "KIP001"), f.pkh_item(2, 10, penerima=False,
                                                                              outcome=Outcome.NOT_PKH_RECIPIENT),
                    f.pkh_item(404, 10))
    out = dapodik.post_results(batch)
    assert [r.status for r in out.results] == [ResultStatus.APPLIED, ResultStatus.APPLIED, ResultStatus.APPLIED,
                                               ResultStatus.NOT_FOUND]
    assert out.count(ResultStatus.APPLIED) == 3
    assert dapodik.post_results(batch).count(ResultStatus.UNCHANGED) == 3
    got = dapodik.get_student(f.uid(1))
    assert got.no_kps == "KIP001" and got.status_padan is Outcome.PKH_RECIPIENT
    assert {p.field for p in got.provenance} == {"penerima_kps", "status_padan", "keterangan_padan",
                                                 "penerima_kip", "no_kip", "no_kps", "nm_kip"}
    assert next(p for p in got.provenance if p.field == "no_kip").provenance_id == "prov-kip"


def test_bad_input_is_rejected_with_the_field(dapodik: DapodikClient) -> None:
    with pytest.raises(Rejected) as exc:
        dapodik.list_students(limit=0)
    assert exc.value.status == 422 and [(e.field, e.rule) for e in exc.value.errors] == [
        ("limit", "greater_than_equal")]
    with pytest.raises(Rejected) as exc:
        dapodik.list_students(cursor="garbage")
    assert ("cursor", "opaque_cursor") in [(e.field, e.rule) for e in exc.value.errors]
    with pytest.raises(Rejected) as exc:
        dapodik.get_student(f.uid(404))
    assert exc.value.status == 404 and exc.value.body.error == "NotFound"


def test_a_wrong_token_is_rejected(app_client: TestClient) -> None:
    client = DapodikClient(base_url="http://testserver", token="not-the-token-at-all", http=app_client,
                           retry=RetryPolicy(attempts=1))
    with pytest.raises(Rejected) as exc:
        client.list_students()
    assert exc.value.status == 401
