"""The typed client other services use (``shared.clients.KemensosClient``) against the real app, in process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.kemensos_mock.config import Settings
from services.kemensos_mock.main import create_app
from services.kemensos_mock.tests.conftest import API_TOKEN, TestClient
from services.kemensos_mock.tests.world import ANAK1, KIP_COUNT, STRANGER1, World
from shared.clients import KemensosClient
from shared.contracts.kemensos import Jenjang
from shared.http import Rejected, RetryPolicy


@pytest.fixture
def kemensos(settings: Settings) -> Iterator[KemensosClient]:
    with TestClient(create_app(settings)) as http:
        yield KemensosClient(base_url="http://testserver", token=API_TOKEN, http=http,
                             retry=RetryPolicy(attempts=1))


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
