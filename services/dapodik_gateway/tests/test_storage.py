"""Storage on SQLite and PostgreSQL (``db_url``): schema, timestamps, paging, per-item SAVEPOINTs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from services.dapodik_gateway import db
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.results import service as results_service
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import load
from shared.contracts.common import ResultStatus


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    load(db_url, tmp_path / "world", [f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 4)])
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.mark.usefixtures("real_migrations")  # the chain itself, not its template
def test_migration_creates_exactly_the_models(db_url: str) -> None:
    db.migrate(db_url)
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, db.DapodikTable.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_timestamps_come_back_aware_utc_to_the_microsecond(engine: Engine) -> None:
    wib = timezone(timedelta(hours=7))
    at = datetime(2026, 3, 4, 12, 30, 45, 123456, tzinfo=wib)
    with db.shared_db.session_scope(engine) as session:
        row = pd_repository.get(session, f.uid(1))
        assert row is not None
        pd_repository.write_hub_values(session, row, {"no_kps": "X"}, at)
    with Session(engine) as session:
        row = pd_repository.get(session, f.uid(1))
        assert row is not None and row.last_sync is not None
        assert row.last_sync.tzinfo is not None and row.last_sync.utcoffset() == timedelta(0)
        assert row.last_sync == at and row.last_sync.hour == 5
        assert row.last_update.tzinfo is not None


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(sa.exc.StatementError), db.shared_db.session_scope(engine) as session:
        row = pd_repository.get(session, f.uid(1))
        assert row is not None
        pd_repository.write_hub_values(session, row, {}, datetime(2026, 1, 1))


def test_a_rolled_back_batch_leaves_nothing_even_after_released_savepoints(engine: Engine) -> None:
    """On SQLite the driver's own transaction handling would let the first SAVEPOINT's RELEASE commit."""
    with Session(engine) as session:
        out = results_service.apply_batch(session, f.batch(f.pkh_item(1, 10), f.pkh_item(2, 10)), "t")
        assert out.count(ResultStatus.APPLIED) == 2
        session.rollback()
    assert _count(engine, "field_provenance") == 0 and _count(engine, "value_history") == 0
    with Session(engine) as session:
        assert all(not pd_repository.get(session, f.uid(n)).penerima_kps for n in (1, 2))  # type: ignore[union-attr]


def test_a_storage_failure_undoes_only_its_own_item(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk write fails (student 2's row is refused after its provenance and history rows were written):
    the batch falls back to one SAVEPOINT per item, and only student 2's item is undone."""
    real = pd_repository.set_hub_values
    calls: list[list[str]] = []

    def failing(session: Session, values, fields, at) -> None:  # type: ignore[no-untyped-def]
        calls.append(sorted(values))
        if f.uid(2) in values:
            raise sa.exc.IntegrityError("UPDATE peserta_didik", {}, Exception("simulated"))
        real(session, values, fields, at)

    monkeypatch.setattr(pd_repository, "set_hub_values", failing)
    with db.shared_db.session_scope(engine) as session:
        out = results_service.apply_batch(session, f.batch(f.pkh_item(1, 10), f.pkh_item(2, 10),
                                                           f.pkh_item(3, 10), f.pkh_item(1, 11, pid="p11")), "t")
    assert [r.status for r in out.results] == [ResultStatus.APPLIED, ResultStatus.REJECTED, ResultStatus.APPLIED,
                                               ResultStatus.UNCHANGED]
    assert calls[0] == sorted(f.uid(n) for n in (1, 2, 3))  # the bulk attempt, then one per item
    assert calls[1:] == [[f.uid(1)], [f.uid(2)], [f.uid(3)], []]
    fields = ("penerima_kps", "status_padan", "keterangan_padan")
    assert [r.held for r in out.results] == [dict.fromkeys(fields, "prov-pkh"), {}, dict.fromkeys(fields, "prov-pkh"),
                                             dict.fromkeys(fields, "prov-pkh")]  # p11 confirmed what prov-pkh wrote
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT DISTINCT peserta_didik_id FROM field_provenance")).scalars().all()
        history = conn.execute(sa.text("SELECT DISTINCT peserta_didik_id FROM value_history")).scalars().all()
        observed = conn.execute(sa.text("SELECT DISTINCT peserta_didik_id FROM field_observation")).scalars().all()
        seq = conn.execute(sa.text("SELECT max(observed_seq) FROM field_observation WHERE peserta_didik_id = :p"),
                           {"p": f.uid(1)}).scalar_one()
    assert set(rows) == set(history) == {f.uid(1), f.uid(3)}
    # the fourth item, applied after the fallback, confirmed student 1's values at a newer sequence
    assert set(observed) == {f.uid(1)} and seq == 11


def test_api_on_both_databases(db_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client([f.sekolah(1), f.sekolah(2)],
                         [f.peserta_didik(n, 1 + n % 2) for n in range(1, 24)], url=db_url)
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/api/v1/peserta-didik", params={"limit": 4, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        seen += [s["peserta_didik_id"] for s in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f.uid(n) for n in range(1, 24))
    kps = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 9, no_kps="KPS-1")))).json()
    assert kps["results"][0]["status"] == "APPLIED"
    # once a KIP number is linked, the PKH item leaves no_kps to the KIP item (as the hub does)
    batch = f.body(f.batch(f.pkh_item(1, 10), f.kip_item(1, 11, "Z9Y8X7"), f.pkh_item(77, 1)))
    first = client.post("/api/v1/hub/results", json=batch).json()["results"]
    assert [r["status"] for r in first] == ["UNCHANGED", "APPLIED", "NOT_FOUND"]
    again = client.post("/api/v1/hub/results", json=batch).json()["results"]
    assert [r["status"] for r in again] == ["UNCHANGED", "UNCHANGED", "NOT_FOUND"]
    s = client.get(f"/api/v1/peserta-didik/{f.uid(1)}").json()
    assert s["no_kps"] == "Z9Y8X7" and len(s["provenance"]) == 7
    history = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/riwayat").json()
    assert [(h["old_value"], h["new_value"]) for h in history if h["field"] == "no_kps"] == [
        (None, "KPS-1"), ("KPS-1", "Z9Y8X7")]
    sekolah = {s["npsn"]: s for s in client.get("/api/v1/sekolah").json()["items"]}
    assert sekolah[f.sekolah(2)["npsn"]]["last_sync"] is not None  # student 1 is in school 2
    assert sekolah[f.sekolah(2)["npsn"]]["jumlah_peserta_didik"] == 12
    stale = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 5, penerima=False)))).json()
    assert stale["results"][0]["status"] == "STALE"
    assert datetime.fromisoformat(s["last_sync"]) > datetime(2026, 1, 1, tzinfo=UTC)


def test_migration_0002_keeps_rows_and_startup_validates_them(db_url: str, tmp_path: Path) -> None:
    """A database at 0001 with a loaded student: after 0002 the student is 'not validated yet' (NULL) and
    the app validates it when it starts."""
    db.migrate(db_url, "0001_initial")
    engine = db.make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(sa.table("sekolah", *(sa.column(k) for k in (*f.sekolah(1), "create_date",
                                                                                  "last_update", "soft_delete")))),
                         [{**f.sekolah(1), "create_date": "2026-01-01 00:00:00.000000",
                           "last_update": "2026-01-01 00:00:00.000000", "soft_delete": False}])
            rec = f.peserta_didik(1, nik="1234567890123456")
            rec["tanggal_lahir"] = datetime.fromisoformat(rec["tanggal_lahir"]).date()
            extra = {"nama_wali": "", "nik_wali": None, "penerima_kps": False, "no_kps": None, "penerima_kip": False,
                     "no_kip": None, "nm_kip": None, "layak_pip": False, "no_kks": None, "status_padan": None,
                     "keterangan_padan": None, "create_date": "2026-01-01 00:00:00.000000",
                     "last_update": "2026-01-01 00:00:00.000000", "last_sync": None, "soft_delete": False}
            row = {**rec, **extra}
            conn.execute(sa.insert(sa.table("peserta_didik", *(sa.column(k) for k in row))), [row])
        db.migrate(db_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT status_validasi FROM peserta_didik")).scalar_one() is None
    finally:
        engine.dispose()
    from services.dapodik_gateway.config import Settings
    from services.dapodik_gateway.main import create_app

    with TestClient(create_app(Settings(database_url=db_url, api_tokens={"sync_hub": "t" * 20}))) as client:
        client.headers["Authorization"] = "Bearer " + "t" * 20
        body = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/validasi").json()
        assert body["status_validasi"] == 2 and [t["kode"] for t in body["temuan"]] == ["nik_placeholder"]


def test_feed_positions_sync_log_and_incoming_on_both_databases(db_url: str,
                                                                make_client: Callable[..., TestClient]) -> None:
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 6)], url=db_url)
    npsn = f.sekolah(1)["npsn"]
    ids, cursor = [], None
    while True:
        page = client.get("/api/v1/hub/peserta-didik", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        ids += [s["peserta_didik_id"] for s in page.json()["items"]]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert ids == sorted(f.uid(n) for n in range(1, 6))  # one load: one change_seq, ties broken by id
    post = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10), f.pkh_item(2, 10),
                                                                   f.pkh_item(2, 9, pid="old"))))
    assert [r["status"] for r in post.json()["results"]] == ["APPLIED", "APPLIED", "STALE"]
    screen = client.get(f"/api/v1/sekolah/{npsn}/sinkronisasi").json()
    assert screen["local_changes_waiting"] == 0 and screen["last_run"]["n_create"] == 2
    assert screen["last_run"]["n_konflik"] == 1
    incoming = client.get(f"/api/v1/sekolah/{npsn}/sinkronisasi/masuk").json()["items"]
    assert {(i["peserta_didik_id"], i["jenis"]) for i in incoming} == {(f.uid(1), "create"), (f.uid(2), "create")}
    programmes = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/kesejahteraan").json()
    assert [(p["jenis_kesejahteraan_id"], p["aktif"]) for p in programmes] == [(12, True)]
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 11, penerima=False, pid="p11"))))
    programmes = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/kesejahteraan").json()
    assert [(p["jenis_kesejahteraan_id"], p["aktif"]) for p in programmes] == [(12, False)]


def _pages(engine: Engine) -> dict[str, int]:
    """peserta_didik_id -> the heap page its row is on (PostgreSQL's ``ctid``)."""
    with engine.connect() as conn:
        stmt = sa.text("SELECT peserta_didik_id, (ctid::text::point)[0]::int FROM peserta_didik")
        return dict(conn.execute(stmt).all())


def test_the_hubs_write_leaves_most_loaded_students_on_their_pages(
        make_client: Callable[..., TestClient], db_url: str) -> None:
    """PostgreSQL: a load leaves room on every page of ``peserta_didik`` (fillfactor, migration 0009), so writing
    the hub's values to every student keeps most rows on their pages (a HOT update: no new entry in any of the
    table's indexes); on full pages every row moved. SQLite has no fillfactor: the write is the same there."""
    n = 120
    client = make_client([f.sekolah(1)], [f.peserta_didik(k) for k in range(1, n + 1)], url=db_url)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    postgres = engine.dialect.name == "postgresql"
    before = _pages(engine) if postgres else {}
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(*[f.pkh_item(k, 10, no_kps=f"KPS-{k:05d}")
                                                                  for k in range(1, n + 1)])))
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"APPLIED"}
    if postgres:
        after = _pages(engine)
        assert sum(after[pid] == page for pid, page in before.items()) >= 0.75 * n  # 104 of 120; 2 at fillfactor 100
        with engine.connect() as conn:
            options = conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'peserta_didik'")).scalar()
        assert options == ["fillfactor=50"]
