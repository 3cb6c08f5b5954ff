"""The hub's copy of the students (``mirror``): a page stored, stored again (replaced, attendance too), students
dropped, on SQLite and PostgreSQL (rows written with COPY there, ids bound as one array)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.config import Settings
from services.sync_hub.domain.students import Enrolment, Month, StudentView
from services.sync_hub.main import create_app
from services.sync_hub.mirror import service as mirror
from services.sync_hub.mirror.repository import CHUNK, KEHADIRAN
from shared.contracts.hub import SourceSystem
from shared.db import session_scope

AT = datetime(2026, 8, 1, 3, 15, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    app = create_app(Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app):
            yield app.state.engine


def stored(i: int, region: str, months: int = 2) -> mirror.Stored:
    view = StudentView(system=SourceSystem.DAPODIK, student_id=f"pd-{i:05d}", nama=f"SISWA {i}", jenis_kelamin="P",
                       tanggal_lahir=date(2014, 1, 1 + i % 28), nik=None if i % 3 else f"32010147051{i:05d}",
                       no_kk=None, nama_ibu_kandung="AMINAH", nik_ibu=None, nama_ayah="", nik_ayah=None,
                       nama_wali="", nik_wali=None, current={"status_padan": "PADAN", "no_kip": None},
                       provenance=dict.fromkeys(["status_padan"]))
    return mirror.Stored(view, "sekolah-1", region, "SD", Enrolment(
        npsn="20200001", aktif=i % 5 != 0, keluar_on=None if i % 5 else date(2026, 7, 1),
        keluar_reason=None if i % 5 else "LULUS", source_version=i,
        months=tuple(Month(2026, m, 20, i % 2, 0, 1) for m in range(1, months + 1))))


def test_a_page_is_stored_replaced_and_dropped(engine: sa.Engine) -> None:
    many = CHUNK + 7  # more ids than one bound array: two chunks
    with session_scope(engine) as session:
        assert mirror.store(session, [stored(i, "3201011001") for i in range(many)], AT) == {}
    with session_scope(engine) as session:  # again, some elsewhere now: the regions they had come back
        before = mirror.store(session, [stored(i, "3301011001", months=1) for i in range(0, many, 2)], AT)
        assert before == {f"pd-{i:05d}": "3201011001" for i in range(0, many, 2)}
    with session_scope(engine) as session:
        assert mirror.region_counts(session, SourceSystem.DAPODIK, 2) == {"32": many // 2, "33": many - many // 2}
        students = {s.view.student_id: s for s in mirror.in_region(session, SourceSystem.DAPODIK, "33")}
        assert students["pd-00000"].view.nik == "3201014705100000" and students["pd-00002"].view.nik is None
        assert students["pd-00004"].view.current == {"status_padan": "PADAN", "no_kip": None}
        months = session.execute(sa.select(KEHADIRAN.c.student_id, sa.func.count()).group_by(KEHADIRAN.c.student_id))
        assert dict(months.all()) == {f"pd-{i:05d}": 1 if i % 2 == 0 else 2 for i in range(many)}
    with session_scope(engine) as session:
        gone = mirror.drop(session, SourceSystem.DAPODIK, [f"pd-{i:05d}" for i in range(many)] + ["pd-missing"])
        assert len(gone) == many and gone["pd-00001"] == "3201011001"
        assert mirror.region_counts(session, SourceSystem.DAPODIK, 2) == {}
        assert session.execute(sa.select(sa.func.count()).select_from(KEHADIRAN)).scalar() == 0


def test_in_region_reads_back_the_view_that_was_stored(engine: sa.Engine) -> None:
    """Every field of the view comes back as stored (``in_region`` reads its columns by position: a distinct value
    in each field catches a field read into another)."""
    view = StudentView(system=SourceSystem.EMIS, student_id="s-1", nama="SITI", jenis_kelamin="P",
                       tanggal_lahir=date(2013, 5, 6), nik="3201014705130001", no_kk="3201010101130002",
                       nama_ibu_kandung="AMINAH", nik_ibu="3201014101850003", nama_ayah="BUDI",
                       nik_ayah="3201010101800004", nama_wali="WATI", nik_wali="3201014101700005",
                       current={"penerima_pkh": True, "status_pkh": "PKH_RECIPIENT"},
                       provenance=dict.fromkeys(["penerima_pkh"]), nisn="0123456789")
    with session_scope(engine) as session:
        mirror.store(session, [mirror.Stored(view, "madrasah-9", "3201011001", None)], AT)
    with session_scope(engine) as session:
        (got,) = mirror.in_region(session, SourceSystem.EMIS, "32")
    assert got == mirror.Stored(view, "madrasah-9", "3201011001", None)


def _deletes(engine: sa.Engine) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, sql, params, *_: seen.append((sql, params))
                    if sql.lstrip().upper().startswith("DELETE") else None)
    return seen


def test_storing_deletes_only_the_students_stored_already(engine: sa.Engine) -> None:
    deletes = _deletes(engine)
    with session_scope(engine) as session:  # a first sync's page: nobody stored, nothing to delete
        mirror.store(session, [stored(i, "3201011001") for i in range(10)], AT)
    assert deletes == []
    with session_scope(engine) as session:  # 5 of them again and 5 new: the 5 stored ones are deleted, nobody else
        mirror.store(session, [stored(i, "3301011001", months=1) for i in range(5, 15)], AT)
    assert len(deletes) == 2  # the students, their attendance
    for _sql, params in deletes:
        assert all(f"pd-{i:05d}" in str(params) for i in range(5, 10))
        assert not any(f"pd-{i:05d}" in str(params) for i in range(10, 15))
    with session_scope(engine) as session:
        assert mirror.region_counts(session, SourceSystem.DAPODIK, 2) == {"32": 5, "33": 10}
        months = session.execute(sa.select(sa.func.count()).select_from(KEHADIRAN)).scalar()
        assert months == 5 * 2 + 10 * 1


def test_a_growing_mirror_is_analyzed_on_postgres(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.sync_hub.mirror import repository
    from shared.db import Growing

    fresh = {name: Growing(g.table, g.columns) for name, g in repository.GROWING.items()}
    monkeypatch.setattr(repository, "GROWING", fresh)
    with session_scope(engine) as session:
        mirror.store(session, [stored(i, "3201011001") for i in range(1200)], AT)
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            assert fresh["student_mirror"].rows == 0  # no-op on SQLite
            return
        tuples = conn.execute(sa.text("SELECT relname, reltuples FROM pg_class WHERE relname IN "
                                      "('student_mirror', 'mirror_kehadiran')")).all()
        stats = conn.execute(sa.text("SELECT attname FROM pg_stats WHERE tablename = 'student_mirror'")).scalars()
    assert dict(tuples) == {"student_mirror": 1200, "mirror_kehadiran": 2400}
    assert {"student_id", "region", "nik"} <= set(stats)


def test_holds_writes_what_the_gateway_now_holds_in_one_statement_per_chunk(engine: sa.Engine) -> None:
    """``mirror.holds`` merges the values into each student's ``current_json`` / ``attested_json`` (keys sorted, the
    texts exactly as ``json.dumps`` makes them) with one UPDATE per ``CHUNK`` students, the rows bound as one JSON
    parameter (it was one UPDATE per student); ids and values that JSON escapes come back exactly; students not
    named are left alone."""
    import json

    odd = ['pd-"q\\uote', "pd-ü\u2028é", "pd-\x01tab\t", "pd-😀"]
    students = [stored(i, "3201011001") for i in range(CHUNK + 7)]
    students += [mirror.Stored(dataclasses.replace(students[0].view, student_id=s), "sekolah-1", "3201011001")
                 for s in odd]
    with session_scope(engine) as session:
        mirror.store(session, students, AT)
    named = [s.view.student_id for s in students if s.view.student_id != "pd-00003"]
    values: dict[str, dict[str, object]] = {
        sid: {"no_kip": f'K"{n}\\ é\u2028', "status_padan": None if n % 2 else "TIDAK_PADAN",
              "penerima_pkh": n % 3 == 0, "desil": n} for n, sid in enumerate(named)}
    seen: list[tuple[str, bool]] = []
    sa.event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, _p, _ctx, many: seen.append((sql, many))
                    if "UPDATE student_mirror" in sql else None)
    with session_scope(engine) as session:
        mirror.holds(session, SourceSystem.DAPODIK, values)  # type: ignore[arg-type]
    assert len(seen) == 2 and not any(many for _, many in seen)  # two chunks, each one statement
    with session_scope(engine) as session:
        got = {s.view.student_id: s.view for s in mirror.in_region(session, SourceSystem.DAPODIK, "32")}
        texts = dict(session.execute(sa.select(sa.column("student_id"), sa.column("current_json")).select_from(
            sa.table("student_mirror"))).all())
    assert set(got) == {s.view.student_id for s in students}
    before = {"status_padan": "PADAN", "no_kip": None}
    for sid, view in got.items():
        want = before if sid == "pd-00003" else {**before, **values[sid]}
        assert view.current == want
        assert texts[sid] == json.dumps(want, sort_keys=True)
        assert list(view.provenance) == (["status_padan"] if sid == "pd-00003"
                                         else sorted({"status_padan", *values[sid]}))


def test_holds_probes_the_key_per_row_on_sqlite(engine: sa.Engine) -> None:
    """SQLite plans the batch's UPDATE as a loop over the bound rows with a primary-key probe each, not a scan of the
    copy with a scan of the bound rows per student (what a bare ``json_each`` in the FROM was planned as)."""
    from services.sync_hub.mirror.repository import _current_rows

    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return
        sql = str(_current_rows("sqlite").compile(dialect=conn.dialect))
        plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, ("[]", "dapodik")).all()]
    assert any("student_mirror" in p and "student_id=?" in p for p in plan), plan
