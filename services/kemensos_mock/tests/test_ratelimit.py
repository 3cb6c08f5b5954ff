"""Per-client rate limits: token buckets answered with 429 + Retry-After; time is moved, never slept."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.kemensos_mock.config import Settings
from services.kemensos_mock.main import create_app
from services.kemensos_mock.ratelimit.schemas import RateLimit, RateLimits
from services.kemensos_mock.ratelimit.service import RateLimiter
from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN
from services.kemensos_mock.tests.world import ANAK1
from shared.clients import KemensosClient
from shared.http import RetryPolicy, Unavailable
from shared.testing import new_token

OTHER_TOKEN = new_token()
LIMITS = "/api/v1/admin/rate-limits"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(loaded_url: str, clock: Clock) -> tuple[FastAPI, TestClient, TestClient]:
    settings = Settings(database_url=loaded_url, api_tokens={"sync_hub": API_TOKEN, "operator": OTHER_TOKEN},
                        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
                        rate_limits=RateLimits({"sync_hub": RateLimit(per_second=0.5, burst=3)}))
    app = create_app(settings)
    with TestClient(app) as http:
        app.state.limiter = RateLimiter(settings.rate_limits, clock=clock)
        hub = TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"})
        other = TestClient(app, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
        del http
        yield app, hub, other


def codes(client: TestClient, n: int) -> list[int]:
    return [client.get("/api/v1/kip", params={"limit": 1}).status_code for _ in range(n)]


def test_a_burst_then_429_with_retry_after_then_refilled(limited: tuple[FastAPI, TestClient, TestClient],
                                                         clock: Clock) -> None:
    _, hub, other = limited
    assert codes(hub, 3) == [200, 200, 200]
    response = hub.post("/api/v1/nik/lookup", json={"niks": [ANAK1]})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"  # one token at 0.5/s
    assert response.json()["error"] == "RateLimited" and "sync_hub" in response.json()["detail"]
    assert codes(other, 5) == [200] * 5  # a client without a limit is not slowed by another's
    clock.now += 2
    assert codes(hub, 2) == [200, 429]
    clock.now += 60  # a long pause refills up to the burst, not beyond
    assert codes(hub, 4) == [200, 200, 200, 429]


def test_health_and_unauthenticated_calls_are_not_counted(limited: tuple[FastAPI, TestClient, TestClient]) -> None:
    app, hub, _ = limited
    anon = TestClient(app)
    assert [anon.get("/health").status_code for _ in range(10)] == [200] * 10
    assert [anon.get("/api/v1/kip").status_code for _ in range(10)] == [401] * 10
    assert codes(hub, 4) == [200, 200, 200, 429]


def test_the_typed_client_sees_unavailable_with_retry_after(limited: tuple[FastAPI, TestClient, TestClient]) -> None:
    _, hub, _ = limited
    client = KemensosClient("http://testserver", API_TOKEN, http=hub, retry=RetryPolicy(attempts=1))
    for _ in range(3):
        client.lookup_niks([ANAK1])
    with pytest.raises(Unavailable) as caught:
        client.lookup_niks([ANAK1])
    assert caught.value.status == 429 and caught.value.retry_after == 2


def test_default_limit_for_every_other_client_and_admin_control(
    limited: tuple[FastAPI, TestClient, TestClient], clock: Clock
) -> None:
    app, hub, other = limited
    admin = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.get(LIMITS).json() == {"sync_hub": {"per_second": 0.5, "burst": 3}}
    assert admin.put(LIMITS, json={"*": {"per_second": 1, "burst": 1}}).status_code == 200
    assert codes(other, 2) == [200, 429] and codes(hub, 2) == [200, 429]  # "*": each client its own bucket
    assert admin.put(LIMITS, json={}).status_code == 200
    assert codes(hub, 20) == [200] * 20


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"sync_hub": {"per_second": 0, "burst": 1}}, "sync_hub.per_second", "greater_than"),
    ({"sync_hub": {"per_second": 1, "burst": 0}}, "sync_hub.burst", "greater_than_equal"),
    ({"sync_hub": {"per_second": 1}}, "sync_hub.burst", "missing"),
    ({"sync_hub": {"per_second": 1, "burst": 1, "window": 3}}, "sync_hub.window", "extra_forbidden"),
    ({"sync_hub": 5}, "sync_hub", "model_attributes_type"),
    ([1, 2], "", "dict_type"),
])
def test_bad_limits_are_422_and_change_nothing(limited: tuple[FastAPI, TestClient, TestClient], body: object,
                                               field: str, rule: str) -> None:
    app, _, _ = limited
    admin = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    response = admin.put(LIMITS, json=body)
    assert response.status_code == 422
    assert (field, rule) in [(e["field"], e["rule"]) for e in response.json()["errors"]] or \
        (not field and response.json()["errors"][0]["rule"] == rule)
    assert admin.get(LIMITS).json() == {"sync_hub": {"per_second": 0.5, "burst": 3}}


def test_off_by_default_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().rate_limits.root == {}
    monkeypatch.setenv("KEMENSOS_RATE_LIMITS", '{"sync_hub": {"per_second": 50, "burst": 100}}')
    assert Settings().rate_limits.root == {"sync_hub": RateLimit(per_second=50, burst=100)}


def test_limiter_refills_continuously() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits({"a": RateLimit(per_second=10, burst=2)}), clock=clock)
    assert [limiter.acquire("a") for _ in range(2)] == [None, None]
    wait = limiter.acquire("a")
    assert wait is not None and wait == pytest.approx(0.1)
    clock.now += 0.1
    assert limiter.acquire("a") is None
    assert limiter.acquire("b") is None  # no limit for b
