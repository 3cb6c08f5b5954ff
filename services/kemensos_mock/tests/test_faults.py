"""Fault injection: off by default; 5xx, 429 with Retry-After, timeouts; seeded; admin control."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from services.kemensos_mock.config import Settings
from services.kemensos_mock.faults.schemas import FaultConfig
from services.kemensos_mock.faults.service import FaultInjector, FaultKind
from services.kemensos_mock.main import create_app
from services.kemensos_mock.tests.conftest import API_TOKEN, make_settings
from services.kemensos_mock.tests.world import ANAK1
from shared.clients import KemensosClient
from shared.http import RetryPolicy, Unavailable

FAULTS = "/api/v1/admin/faults"


def statuses(client: TestClient, n: int) -> list[int]:
    return [client.get("/api/v1/kip", params={"limit": 1}).status_code for _ in range(n)]


def test_off_by_default(client: TestClient, admin: TestClient) -> None:
    assert admin.get(FAULTS).json() == FaultConfig().model_dump()
    assert set(statuses(client, 30)) == {200}


def test_server_errors_everywhere_but_health_and_admin(client: TestClient, admin: TestClient) -> None:
    assert admin.put(FAULTS, json={"error_rate": 1.0, "seed": 1}).status_code == 200
    codes = statuses(client, 30)
    assert set(codes) <= {500, 502, 503} and len(set(codes)) > 1
    response = client.post("/api/v1/nik/lookup", json={"niks": [ANAK1]})
    assert response.status_code in (500, 502, 503)
    assert response.json()["error"] == "InjectedFailure"
    assert client.get("/health").status_code == 200
    assert admin.get(FAULTS).json()["error_rate"] == 1.0
    assert admin.put(FAULTS, json={}).status_code == 200  # everything off again
    assert set(statuses(client, 10)) == {200}


def test_unauthenticated_calls_stay_401_under_faults(client: TestClient, admin: TestClient,
                                                     anon: TestClient) -> None:
    assert admin.put(FAULTS, json={"error_rate": 1.0}).status_code == 200
    assert client.get("/api/v1/kip").status_code >= 500
    assert anon.get("/api/v1/kip").status_code == 401
    assert anon.get("/api/v1/kip", headers={"Authorization": "Bearer wrong-wrong-wrong-wrong"}).status_code == 401


def test_rate_limit_has_retry_after_and_the_client_sees_it(settings: Settings) -> None:
    settings = settings.model_copy(update={"faults": FaultConfig(rate_limit_rate=1.0, retry_after_s=7)})
    with TestClient(create_app(settings)) as http:
        response = http.get("/api/v1/kip", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "RateLimited"
        client = KemensosClient("http://testserver", API_TOKEN, http=http, retry=RetryPolicy(attempts=1))
        with pytest.raises(Unavailable) as caught:
            client.lookup_niks([ANAK1])
    assert caught.value.status == 429 and caught.value.retry_after == 7


def test_timeout_hangs_then_answers_504(client: TestClient, admin: TestClient) -> None:
    assert admin.put(FAULTS, json={"timeout_rate": 1.0, "timeout_s": 0.01}).status_code == 200
    response = client.get("/api/v1/kip")
    assert response.status_code == 504
    assert response.json()["detail"] == "injected fault: upstream timed out"


def test_latency_alone_still_answers(client: TestClient, admin: TestClient) -> None:
    assert admin.put(FAULTS, json={"latency_ms": 1, "latency_jitter_ms": 2}).status_code == 200
    assert set(statuses(client, 3)) == {200}


def test_same_seed_same_faults(client: TestClient, admin: TestClient) -> None:
    config = {"error_rate": 0.3, "rate_limit_rate": 0.2, "seed": 42}
    admin.put(FAULTS, json=config)
    first = statuses(client, 40)
    admin.put(FAULTS, json=config)
    assert statuses(client, 40) == first
    counts = Counter(first)
    assert counts[200] and counts[429] and sum(counts[c] for c in (500, 502, 503))


def test_a_retrying_client_gets_through_a_flaky_registry(loaded_url: str) -> None:
    settings = make_settings(loaded_url, faults=FaultConfig(error_rate=0.5, seed=3))
    with TestClient(create_app(settings)) as http:
        client = KemensosClient("http://testserver", API_TOKEN, http=http,
                                retry=RetryPolicy(attempts=20, base=0.0, cap=0.0))
        answers = [client.lookup_niks([ANAK1]) for _ in range(5)]
    assert all(a.results[0].found for a in answers)


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"error_rate": 1.5}, "error_rate", "less_than_equal"),
    ({"error_rate": 0.6, "rate_limit_rate": 0.6}, "", "value_error"),
    ({"latency_ms": -1}, "latency_ms", "greater_than_equal"),
    ({"retry_after_s": 0}, "retry_after_s", "greater_than_equal"),
    ({"error_rate": "lots"}, "error_rate", "float_parsing"),
    ({"errors": 0.1}, "errors", "extra_forbidden"),
    ({"latency_median_ms": 5}, "", "value_error"),
    ({"latency_median_ms": 5, "latency_p99_ms": 2}, "", "value_error"),
    ({"feed_duplicate_rate": 0.6, "feed_redeliver_rate": 0.6}, "", "value_error"),
    ({"drip_chunk_bytes": 0}, "drip_chunk_bytes", "greater_than_equal"),
])
def test_bad_fault_settings_are_422_and_change_nothing(admin: TestClient, body: dict, field: str,
                                                       rule: str) -> None:
    response = admin.put(FAULTS, json=body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["rule"] == rule and (error["field"] == field or (not field and error["field"] in ("", "body")))
    assert admin.get(FAULTS).json() == FaultConfig().model_dump()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEMENSOS_FAULTS__ERROR_RATE", "0.25")
    monkeypatch.setenv("KEMENSOS_FAULTS__SEED", "9")
    monkeypatch.setenv("KEMENSOS_ADMIN_TOKEN", "a" * 20)
    settings = Settings()
    assert settings.faults.error_rate == 0.25 and settings.faults.seed == 9
    monkeypatch.setenv("KEMENSOS_ADMIN_TOKEN", "changeme")
    with pytest.raises(ValueError, match="admin token"):
        Settings()


def test_injector_draws_within_bounds_and_by_share() -> None:
    injector = FaultInjector(FaultConfig(latency_ms=100, latency_jitter_ms=50, error_rate=0.2, rate_limit_rate=0.3,
                                         timeout_rate=0.1, timeout_s=2, seed=5))
    draws = [injector.draw() for _ in range(2000)]
    kinds = Counter(d.kind for d in draws)
    assert 300 < kinds[FaultKind.SERVER_ERROR] < 500 and 500 < kinds[FaultKind.RATE_LIMIT] < 700
    assert 120 < kinds[FaultKind.TIMEOUT] < 280 and kinds[FaultKind.NONE] > 600
    for d in draws:
        base = d.delay_s - (2 if d.kind is FaultKind.TIMEOUT else 0)
        assert 0.1 <= base <= 0.15
