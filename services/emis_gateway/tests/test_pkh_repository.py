"""``pkh.repository.record_one``: a one-student request's answer and its finishing (one statement on PostgreSQL,
two on SQLite), and nothing written when the item was answered already."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.pkh import repository
from services.emis_gateway.pkh.models import PkhRequestItemRow, PkhRequestRow
from shared.db import make_engine, migrate, session_scope, statement_at_a_time

NOW = datetime(2026, 3, 1, 8, tzinfo=UTC)


def add(session: sa.orm.Session, request_id: str) -> None:
    repository.add_one(session, {
        "id": request_id, "scope": "SISWA", "nsm": "111", "siswa_id": "s-1", "requested_by": "op",
        "status": "PENDING", "total": 1, "done": 0, "failed": 0, "attempts": 0, "next_attempt_at": NOW,
        "lease_until": NOW + timedelta(minutes=5), "created_at": NOW, "updated_at": NOW}, "s-1")


def test_a_one_student_answer_finishes_its_request_once(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    later = NOW + timedelta(seconds=3)
    try:
        with session_scope(engine) as session:
            add(session, "r-done")
            add(session, "r-failed")
        with session_scope(engine) as session:
            row = repository.record_one(session, "r-done", repository.Answer(
                0, repository.DONE, "PKH_RECIPIENT", "KPM PKH aktif (nik_ibu)", "nik_ibu", "check-1"), later)
            assert row is not None
            assert (row.status, row.done, row.failed, row.lease_until, row.last_error) == ("DONE", 1, 0, None, None)
            assert row.finished_at == row.updated_at and row.finished_at.replace(tzinfo=UTC) == later
            failed = repository.record_one(session, "r-failed", repository.Answer(
                0, repository.FAILED, None, "student not found", None, None), later)
            assert failed is not None and (failed.status, failed.done, failed.failed) == ("FAILED", 0, 1)
        with session_scope(engine) as session:  # answered already: nothing written, None
            assert repository.record_one(session, "r-done", repository.Answer(
                0, repository.DONE, "NOT_PKH_RECIPIENT", "x", None, "check-2"), later + timedelta(seconds=1)) is None
        with session_scope(engine) as session:
            item = session.get(PkhRequestItemRow, ("r-done", 0))
            request = session.get(PkhRequestRow, "r-done")
            assert item is not None and request is not None
            assert (item.state, item.outcome, item.matched_by, item.sync_run_id) == (
                "DONE", "PKH_RECIPIENT", "nik_ibu", "check-1")
            assert request.updated_at.replace(tzinfo=UTC) == later
    finally:
        engine.dispose()


def test_a_record_with_its_institution_reads_as_the_two_reads_it_replaces(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.emis_gateway.siswa import repository as siswa_repository
    from services.emis_gateway.tests.conftest import NSM_B, seed

    seed(db_url, tmp_path / "world", n_siswa=3)
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:  # a pesantren (its region its own), and a student of it
            session.execute(sa.update(repository.MADRASAH).where(repository.MADRASAH.c.nsm == NSM_B)
                            .values(jenis_lembaga="PESANTREN", kode_wilayah="3273010002"))
            session.execute(sa.update(repository.SISWA).where(repository.SISWA.c.siswa_id == "siswa-0002")
                            .values(nsm=NSM_B))
        with session_scope(statement_at_a_time(engine)) as session:
            for sid in ("siswa-0000", "siswa-0001", "siswa-0002"):
                row = repository.record_with_institution(session, sid)
                alone = siswa_repository.get_record(session, sid)
                assert row is not None and alone is not None
                assert {k: row._mapping[k] for k in alone._mapping} == dict(alone._mapping)
                assert repository.institution_of(row) == repository.institutions_of(session, [alone.nsm])
            assert repository.institution_of(repository.record_with_institution(session, "siswa-0002")) == {
                NSM_B: ("PESANTREN", "3273010002")}
            assert repository.record_with_institution(session, "siswa-9999") is None
    finally:
        engine.dispose()


def test_a_one_student_request_is_stored_as_two_rows_with_or_without_a_transaction(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    try:
        with session_scope(statement_at_a_time(engine)) as session:  # PostgreSQL: one statement, no BEGIN
            add(session, "r-1")
        with session_scope(engine) as session:
            request = session.execute(sa.select(repository.REQUEST)).mappings().one()
            item = session.execute(sa.select(repository.ITEM)).mappings().one()
        assert {**request, "next_attempt_at": request["next_attempt_at"].replace(tzinfo=UTC),
                "lease_until": request["lease_until"].replace(tzinfo=UTC),
                "created_at": request["created_at"].replace(tzinfo=UTC),
                "updated_at": request["updated_at"].replace(tzinfo=UTC)} == {
            "id": "r-1", "scope": "SISWA", "nsm": "111", "siswa_id": "s-1", "requested_by": "op",
            "status": "PENDING", "total": 1, "done": 0, "failed": 0, "attempts": 0, "next_attempt_at": NOW,
            "lease_until": NOW + timedelta(minutes=5), "created_at": NOW, "updated_at": NOW, "finished_at": None,
            "last_error": None}
        assert dict(item) == {"request_id": "r-1", "position": 0, "siswa_id": "s-1", "state": "PENDING",
                              "outcome": None, "detail": None, "matched_by": None, "sync_run_id": None,
                              "answered_at": None}
    finally:
        engine.dispose()


def test_answers_recorded_together_write_what_each_recorded_alone_writes(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    later = NOW + timedelta(seconds=3)
    answers = {"done": repository.Answer(0, repository.DONE, "PKH_RECIPIENT", "KPM PKH aktif", "nik_ibu", "check-1"),
               "failed": repository.Answer(0, repository.FAILED, None, "the hub refused the check", None, None),
               "quoted": repository.Answer(0, repository.DONE, "NOT_PKH_RECIPIENT", 'a "quoted" \\ detail', None,
                                           "check-2"),
               "answered": repository.Answer(0, repository.DONE, "NOT_PKH_RECIPIENT", "x", None, "check-3")}
    try:
        with session_scope(engine) as session:
            for name in answers:
                add(session, f"alone-{name}")
                add(session, f"together-{name}")
        with session_scope(engine) as session:  # answered already (by the worker): nothing written either way
            for way in ("alone", "together"):
                assert repository.record_one(session, f"{way}-answered", answers["done"], NOW) is not None
        with session_scope(engine) as session:
            alone = {name: repository.record_one(session, f"alone-{name}", a, later) for name, a in answers.items()}
            together = repository.record_ones(session, [(f"together-{n}", a) for n, a in answers.items()], later)
        assert together["together-answered"] is None and alone["answered"] is None
        with session_scope(engine) as session:
            requests = {r["id"]: dict(r) for r in session.execute(sa.select(repository.REQUEST)).mappings()}
            items = {r["request_id"]: dict(r) for r in session.execute(sa.select(repository.ITEM)).mappings()}
        for name in answers:
            one, both = alone[name], together[f"together-{name}"]
            if name != "answered":
                assert one is not None and both is not None
                assert {**both._asdict(), "id": None} == {**one._asdict(), "id": None}  # the rows as returned
            assert {**requests[f"together-{name}"], "id": None} == {**requests[f"alone-{name}"], "id": None}
            assert {**items[f"together-{name}"], "request_id": None} == {**items[f"alone-{name}"], "request_id": None}
        assert requests["together-failed"]["status"] == "FAILED" and items["together-quoted"]["detail"] == (
            'a "quoted" \\ detail')
    finally:
        engine.dispose()
