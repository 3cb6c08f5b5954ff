"""Set-wise work: a results batch and a page of students cost a fixed number of SQL statements, whatever
their size (counted, not timed), and the bulk path decides exactly as item-by-item application would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from shared.contracts.common import Outcome

N = 60


@pytest.fixture
def big(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1 + n % 2) for n in range(1, N + 1)])


@contextmanager
def statements(client: TestClient) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = client.app.state.engine  # type: ignore[attr-defined]
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _post(client: TestClient, items: list[Any]) -> list[str]:
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(*items)))
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


@pytest.mark.parametrize("make", [
    lambda n: f.pkh_item(n, 10, no_kps=f"KPS-{n}"),
    lambda n: f.kip_item(n, 11, f"K{n:05d}"),
])
def test_a_results_batch_costs_the_same_statements_for_2_or_60_items(big: TestClient, make: Any) -> None:
    with statements(big) as small:
        assert _post(big, [make(n) for n in (1, 2)]) == ["APPLIED"] * 2
    with statements(big) as large:
        assert _post(big, [make(n) for n in range(3, N + 1)]) == ["APPLIED"] * (N - 2)
    assert len(large) == len(small) <= 13, large
    with statements(big) as repeat:
        assert _post(big, [make(n) for n in range(3, N + 1)]) == ["UNCHANGED"] * (N - 2)
    assert len(repeat) <= 7


def test_a_page_of_students_costs_the_same_statements_for_3_or_60_students(big: TestClient) -> None:
    _post(big, [f.pkh_item(n, 10) for n in range(1, N + 1)] + [f.kip_item(n, 11, f"K{n:05d}")
                                                              for n in range(1, N + 1)])
    with statements(big) as small:
        assert len(big.get("/api/v1/peserta-didik", params={"limit": 3}).json()["items"]) == 3
    with statements(big) as large:
        page = big.get("/api/v1/peserta-didik", params={"limit": N}).json()
    assert len(page["items"]) == N and all(len(s["provenance"]) == 7 for s in page["items"])
    # the students, their latest provenance, their months of attendance (kehadiran_pd), their validation findings
    # (vld_peserta_didik), whatever the page size
    assert len(large) == len(small) <= 5


def test_bulk_decisions_equal_one_by_one_decisions(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    """The same interleaved items (several per student: repeated, older, newer, KIP after PKH) posted as
    one batch and one item per request end in the same statuses, values, provenance and history."""
    items = []
    for n in range(1, 7):
        items += [f.pkh_item(n, 10, pid=f"a{n}"), f.pkh_item(n, 10, pid=f"b{n}"),
                  f.pkh_item(n, 9, penerima=False, outcome=Outcome.NOT_PKH_RECIPIENT, pid=f"c{n}"),
                  f.kip_item(n, 12, f"K{n:05d}", pid=f"d{n}"),
                  f.pkh_item(n, 13 + n % 2, penerima=n % 2 == 0, outcome=Outcome.NOT_PKH_RECIPIENT, pid=f"e{n}")]
    world = ([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 7)])
    together = make_client(*world, url=f"sqlite:///{tmp_path / 'together.db'}")
    apart = make_client(*world, url=f"sqlite:///{tmp_path / 'apart.db'}")
    bulk = _post(together, items)
    single = [_post(apart, [item])[0] for item in items]
    assert bulk == single
    assert {"APPLIED", "UNCHANGED", "STALE"} <= set(bulk)

    def state(client: TestClient, n: int) -> tuple[Any, ...]:
        s = client.get(f"/api/v1/peserta-didik/{f.uid(n)}").json()
        h = client.get(f"/api/v1/peserta-didik/{f.uid(n)}/riwayat").json()
        return ({k: v for k, v in s.items() if k not in ("last_sync", "last_update", "provenance")},
                sorted((p["field"], p["provenance_id"], p["value"]) for p in s["provenance"]),
                [(x["field"], x["old_value"], x["new_value"], x["provenance_id"]) for x in h])

    for n in range(1, 7):
        assert state(together, n) == state(apart, n)
