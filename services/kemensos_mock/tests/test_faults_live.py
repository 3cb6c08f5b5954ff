"""Each fault mode driven against the real app on a socket, observed by a plain httpx client.

The app runs under uvicorn in a thread; the client is ``httpx.Client`` with nothing of ours around it.
Faults are observed by status codes, headers (``X-Injected-Fault``, ``Retry-After``), a read timeout,
the number of pieces a body arrives in, and the pages of the change feed; never by measuring time.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.kemensos_mock.faults.schemas import FaultConfig
from services.kemensos_mock.faults.service import FaultInjector
from services.kemensos_mock.main import create_app
from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN, make_settings
from services.kemensos_mock.tests.world import ANAK1, World

FAULTS = "/api/v1/admin/faults"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, template_db: Path) -> Iterator[str]:
    target = tmp_path_factory.mktemp("live") / "kemensos.db"
    shutil.copyfile(template_db, target)
    port = free_port()
    config = uvicorn.Config(create_app(make_settings(f"sqlite:///{target}")), host="127.0.0.1", port=port,
                            log_config=None, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        thread.join(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10) as client:
        yield client


@pytest.fixture
def faults(base_url: str) -> Iterator[httpx.Client]:
    """The admin side: sets faults; everything is switched off again after the test."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as admin:
        yield admin
        assert admin.put(FAULTS, json={}).status_code == 200


def set_faults(admin: httpx.Client, **config: object) -> None:
    response = admin.put(FAULTS, json=config)
    assert response.status_code == 200, response.text


def injected(response: httpx.Response) -> str:
    return response.headers.get("x-injected-fault", "")


def test_lognormal_latency_is_announced_seeded_and_shaped(http: httpx.Client, faults: httpx.Client) -> None:
    set_faults(faults, latency_median_ms=2, latency_p99_ms=20, seed=11)
    first = [injected(http.get("/api/v1/kip", params={"limit": 1})) for _ in range(25)]
    assert all(h.startswith("latency;delay_ms=") for h in first)
    delays = [float(h.split("=")[1]) for h in first]
    assert len(set(delays)) > 20  # drawn, not constant
    set_faults(faults, latency_median_ms=2, latency_p99_ms=20, seed=11)
    assert [injected(http.get("/api/v1/kip", params={"limit": 1})) for _ in range(25)] == first  # reproducible
    # the distribution itself, from the same generator (no clock involved)
    injector = FaultInjector(FaultConfig(latency_median_ms=2, latency_p99_ms=20, seed=5))
    sample = sorted(injector.draw().delay_s * 1000 for _ in range(20_000))
    assert statistics.median(sample) == pytest.approx(2, rel=0.05)
    assert sample[int(0.99 * len(sample))] == pytest.approx(20, rel=0.1)


@pytest.mark.parametrize(("config", "statuses", "name"), [
    ({"error_rate": 1.0, "seed": 1}, {500, 502, 503}, "server_error"),
    ({"rate_limit_rate": 1.0, "retry_after_s": 9}, {429}, "rate_limit"),
])
def test_error_answers(http: httpx.Client, faults: httpx.Client, config: dict, statuses: set[int],
                       name: str) -> None:
    set_faults(faults, **config)
    answers = [http.post("/api/v1/nik/lookup", json={"niks": [ANAK1]}) for _ in range(12)]
    assert {r.status_code for r in answers} <= statuses
    assert all(injected(r).startswith(name) for r in answers)
    if 429 in statuses:
        assert {r.headers["retry-after"] for r in answers} == {"9"}
    assert http.get("/health").status_code == 200 and not injected(http.get("/health"))


def test_timeout_means_no_answer_within_the_clients_timeout(base_url: str, faults: httpx.Client) -> None:
    set_faults(faults, timeout_rate=1.0, timeout_s=2)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                      timeout=httpx.Timeout(5, read=0.2)) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/api/v1/kip")


def test_slow_drip_sends_the_body_in_pieces(http: httpx.Client, faults: httpx.Client, world: World) -> None:
    set_faults(faults, drip_rate=1.0, drip_chunk_bytes=300, drip_interval_ms=15)
    with http.stream("GET", "/api/v1/kip", params={"limit": 20}) as response:
        assert response.status_code == 200 and "drip" in injected(response)
        pieces = list(response.iter_raw())
    body = b"".join(pieces)
    assert len(pieces) > 1 and max(len(p) for p in pieces) <= 300
    assert len(httpx.Response(200, content=body).json()["items"]) == 20
    set_faults(faults)  # off: one piece, no header
    with http.stream("GET", "/api/v1/kip", params={"limit": 20}) as response:
        assert not injected(response) and b"".join(response.iter_raw()) == body


def read_feed(http: httpx.Client, limit: int = 2) -> tuple[list[tuple[str, list[int]]], set[tuple[str, int]]]:
    """Page the feed to its end: (X-Injected-Fault, versions) per page, and every (kind, version) seen."""
    pages: list[tuple[str, list[int]]] = []
    seen: set[tuple[str, int]] = set()
    cursor = None
    while True:
        params: dict[str, object] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = http.get("/api/v1/changes", params=params)
        assert response.status_code == 200
        body = response.json()
        pages.append((injected(response), [i["version"] for i in body["items"]]))
        seen |= {(i["kind"], i["version"]) for i in body["items"]}
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return pages, seen
        assert len(pages) < 500


@pytest.mark.parametrize("mode", ["feed_duplicate", "feed_redeliver"])
def test_feed_pages_duplicated_or_redelivered(http: httpx.Client, faults: httpx.Client, mode: str) -> None:
    clean, everything = read_feed(http)
    set_faults(faults, **{f"{mode}_rate": 0.5, "seed": 2})
    pages, seen = read_feed(http)
    assert seen == everything  # the reader still gets every change
    faulty = [n for n, (header, _) in enumerate(pages) if header == mode]
    assert faulty and len(pages) > len(clean)
    for n in faulty:  # what the reader observes: versions it already had
        before = {v for _, versions in pages[:n] for v in versions}
        if mode == "feed_redeliver":
            assert set(pages[n][1]) <= before
        else:
            assert pages[n + 1][1] == pages[n][1]  # the same page comes again next
    set_faults(faults, **{f"{mode}_rate": 0.5, "seed": 2})
    assert read_feed(http)[0] == pages  # seeded: the same pages in the same order
