"""Every write path of the gateway at once, on SQLite and PostgreSQL: operator edits, student spreadsheet
imports, attendance imports, KIP SKs and hub results over the same students, each worker its own app (own
engine, own connections) against one database, many rounds started together. None may answer 5xx: on
PostgreSQL a deadlock (SQLSTATE 40P01) between two of them would be a 500. The lock order that prevents it is
in ``services/dapodik_gateway/README.md`` (*Locks*)."""

from __future__ import annotations

import csv
import io
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway import db
from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR, OPERATOR, load

NPSN = f.sekolah(1)["npsn"]
STUDENTS = list(range(1, 9))
ROUNDS = 30
KEHADIRAN_HEADER = ["peserta_didik_id", "nisn", "tahun", "bulan", "jml_hari_efektif", "jml_sakit", "jml_izin",
                    "jml_tanpa_keterangan"]


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def edit(client: TestClient, round_: int) -> Any:
    """An operator's edit of one student (a different one each round, so it meets every other writer)."""
    n = STUDENTS[round_ % len(STUDENTS)]
    return client.patch(f"/api/v1/peserta-didik/{f.uid(n)}", json={"nama_ayah": f"Ayah Edit {f.word(round_)}"},
                        headers=AS_OPERATOR)


def import_students(client: TestClient, round_: int) -> Any:
    """Every student of the school, rows against id order (the order a file gives is the user's)."""
    rows = [["ID Peserta Didik", "Nama Ayah"]] + [[f.uid(n), f"Ayah Import {f.word(round_)}"]
                                                 for n in sorted(STUDENTS, key=f.uid, reverse=True)]
    return client.post(f"/api/v1/sekolah/{NPSN}/peserta-didik/import", content=_csv(rows),
                       params={"format": "csv"}, headers=AS_OPERATOR)


def import_kehadiran(client: TestClient, round_: int) -> Any:
    """July of every student, a count that changes each round (so every student takes a change number)."""
    rows = [KEHADIRAN_HEADER] + [[f.uid(n), "", 2026, 7, 20, round_ % 5, 0, 0] for n in STUDENTS]
    return client.post(f"/api/v1/sekolah/{NPSN}/kehadiran/import", params={"tahun": 2026, "tahap": 3,
                                                                          "format": "csv"},
                       content=_csv(rows), headers=AS_OPERATOR)


def post_sk(client: TestClient, round_: int) -> Any:
    """A new SK each round (a later date), for half the students: a new KIP number each."""
    items = [{"peserta_didik_id": f.uid(n), "no_kip": f"K{round_:03d}{n:02d}", "nm_kip": f"SISWA {f.word(n)}"}
             for n in STUDENTS[round_ % 2::2]]
    day = f"2026-{1 + round_ // 28:02d}-{1 + round_ % 28:02d}"
    return client.post("/api/v1/kip/sk", json={
        "sk": {"nomor_sk": f"SK-{round_:04d}/PIP/2026", "tanggal_sk": day, "sumber": "puslapdik"}, "items": items},
        headers=AS_OPERATOR)


def post_results(client: TestClient, round_: int) -> Any:
    """A hub batch over every student (PKH values, newer each round), items against id order."""
    items = [f.pkh_item(n, seq=10 + round_, penerima=(n + round_) % 2 == 0, pid=f"prov-{round_}-{n}",
                        run=f"run-{round_}") for n in sorted(STUDENTS, key=f.uid, reverse=True)]
    return client.post("/api/v1/hub/results", json=f.body(f.batch(*items, run=f"run-{round_}")))


def read_feed(client: TestClient, round_: int) -> Any:
    """The hub reads its feed (its read position per school moves: a write too; two readers at once both
    create the school's position in the first round)."""
    return client.get("/api/v1/hub/peserta-didik", params={"limit": 3})


WRITERS: dict[str, Callable[[TestClient, int], Any]] = {
    "edit": edit, "import_students": import_students, "import_kehadiran": import_kehadiran, "kip_sk": post_sk,
    "hub_results": post_results, "hub_feed": read_feed, "hub_feed_again": read_feed,
}


@pytest.fixture
def apps(db_url: str, tmp_path: Path, token: str) -> Iterator[dict[str, TestClient]]:
    """One app per writer (each its own engine and connections) over one database: one school, 8 students."""
    load(db_url, tmp_path / "w", [f.sekolah(1)], [f.peserta_didik(n, 1) for n in STUDENTS])
    settings = Settings(database_url=db_url, api_tokens={"sync_hub": token, "operator": OPERATOR},
                        auto_migrate=False)
    clients = {name: TestClient(create_app(settings), raise_server_exceptions=False) for name in WRITERS}
    for client in clients.values():
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {token}"
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


# FastAPI silences this pydantic warning with warnings.catch_warnings(), which is not thread-safe: apps building
# their first request's schemas in several threads at once can let it through to pytest's "error" filter.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.UnsupportedFieldAttributeWarning")
def test_every_writer_at_once_never_fails_with_5xx(apps: dict[str, TestClient], db_url: str) -> None:
    barrier = threading.Barrier(len(WRITERS))
    answers: dict[str, list[tuple[int, int, str]]] = {name: [] for name in WRITERS}
    crashed: list[str] = []

    def work(name: str) -> None:
        try:
            for round_ in range(ROUNDS):
                barrier.wait(timeout=120)  # every writer starts each round together
                r = WRITERS[name](apps[name], round_)
                answers[name].append((round_, r.status_code, r.text[:300]))
        except BaseException:  # reported below
            crashed.append(f"{name}: {traceback.format_exc()}")
            barrier.abort()

    threads = [threading.Thread(target=work, args=(name,)) for name in WRITERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not crashed, crashed
    failed = {name: [(round_, status) for round_, status, _ in got if status != 200] for name, got in answers.items()}
    assert not any(failed.values()), {name: rounds for name, rounds in failed.items() if rounds}

    # What the writers left is consistent: every change took its own number, the last edit or import stands.
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            seqs = conn.execute(sa.text("SELECT DISTINCT change_seq FROM peserta_didik")).scalars().all()
            counter = conn.execute(sa.text("SELECT value FROM change_counter")).scalar_one()
    finally:
        engine.dispose()
    assert max(seqs) <= counter


def test_a_deadlock_that_still_happens_is_a_503_to_send_again(client: TestClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Should PostgreSQL still give a transaction up (deadlock 40P01, serialization failure 40001), the caller
    gets a structured 503 ``Contention`` with ``Retry-After``, not a 500."""
    from services.dapodik_gateway.edits import service as edits_service

    for error in (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        def give_up(*_: Any, error: type[Exception] = error) -> Any:
            raise sa.exc.OperationalError("UPDATE peserta_didik ...", {}, error("given up"))

        monkeypatch.setattr(edits_service, "edit", give_up)
        r = client.patch(f"/api/v1/peserta-didik/{f.uid(1)}", json={"nama_ayah": "Ayah Baru"}, headers=AS_OPERATOR)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "Contention"
        assert r.headers["Retry-After"] == "1"
