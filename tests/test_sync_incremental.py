"""Incremental sync, in process (the four real apps, the hub's storage on SQLite and PostgreSQL): each run
reads only what changed at the gateways since the stored feed position, decides every student of the hub's
copy again (a registry change reaches students whose record did not change), and writes only differences."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from services.sync_hub.mirror import service as mirror
from shared.contracts.hub import RunStatus, SourceSystem, SyncRun, SyncRunCreate
from shared.db import make_engine
from tests.test_sync_in_process import BASE, apps, loaded, system  # noqa: F401  (fixtures)

ALL = [SourceSystem.EMIS, SourceSystem.DAPODIK]


def run(hub, body: SyncRunCreate | None = None) -> SyncRun:  # type: ignore[no-untyped-def]
    return hub.wait(hub.start_run(body).id, timeout=300, poll=0.05)


def positions(hub_app) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    engine = hub_app.app.state.engine
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT system, cursor FROM feed_state")).all())  # type: ignore[arg-type]


def recipient_family(ups) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(siswa_id, no_kk) of an EMIS student written as a PKH recipient, and the family it came from."""
    for page in ups.emis.iter_changes(limit=1000):
        for s in page.items:
            source = {p.field: p.source_record for p in s.provenance}.get("penerima_pkh", "")
            if s.pkh.penerima_pkh and source.startswith("keluarga/"):
                return s.siswa_id, source.removeprefix("keluarga/")
    raise AssertionError("no PKH recipient in EMIS")


def test_second_run_reads_nothing_and_a_registry_change_reaches_unchanged_students(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    first = run(hub)
    assert first.status is RunStatus.SUCCEEDED, first.errors
    assert first.full and first.students_from_feed >= first.students_read > 0
    stored = positions(clients["hub"])
    assert set(stored) == {"emis", "dapodik"} and all(stored.values())

    second = run(hub)
    assert second.status is RunStatus.SUCCEEDED, second.errors
    assert not second.full and second.students_from_feed == 0 and second.students_removed == 0
    assert second.students_read == first.students_read and second.outcomes == first.outcomes
    assert second.values_written == 0 and second.values_unchanged == first.values_unchanged + first.values_written

    # the registry changes one family (it leaves PKH); no student record changes
    siswa_id, no_kk = recipient_family(ups)
    r = clients["kemensos"].put("/api/v1/admin/pkh", json={"no_kk": no_kk, "status": "GRADUASI", "komponen": [],
                                                           "tahun": 2099, "tahap": 1},
                                headers={"Authorization": f"Bearer {clients['kemensos'].app.state.settings.admin_token.get_secret_value()}"})
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    third = run(hub)
    assert third.status is RunStatus.SUCCEEDED, third.errors
    assert third.students_from_feed == 0 and third.values_written > 0
    siswa = ups.emis.get_student(siswa_id)
    assert siswa.pkh.penerima_pkh is False and siswa.pkh.status_pkh.value == "NOT_PKH_RECIPIENT"
    written = [p for p in hub.provenance(SourceSystem.EMIS, siswa_id) if p.sync_run_id == third.id]
    assert {p.field for p in written} >= {"penerima_pkh", "status_pkh"}
    assert all(p.source_record == f"keluarga/{no_kk}" and p.source_version == version for p in written)
    assert run(hub).values_written == 0  # and then nothing again


def test_a_record_held_back_leaves_the_working_set_and_comes_back_when_fixed(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    first = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert first.status is RunStatus.SUCCEEDED, first.errors
    student = next(p for p in ups.dapodik.iter_students(1000) if p.nik)
    operator = {"Authorization": f"Bearer {clients['hub'].app.state.settings.api_tokens['operator'].get_secret_value()}"}
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}", json={"nik": "1234567890123456"},
                                 headers=operator)
    assert r.status_code == 200, r.text
    held = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert held.status is RunStatus.SUCCEEDED, held.errors
    assert held.students_removed == 1 and held.students_from_feed == 0
    assert held.students_read == first.students_read - 1 and held.values_written == 0
    assert held.outcomes != first.outcomes or sum(held.outcomes.values()) == first.students_read - 1
    r = clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}", json={"nik": student.nik},
                                 headers=operator)
    assert r.status_code == 200, r.text
    back = run(hub, SyncRunCreate(systems=[SourceSystem.DAPODIK]))
    assert back.students_from_feed == 1 and back.students_removed == 0
    assert back.students_read == first.students_read and back.outcomes == first.outcomes


def test_a_run_that_fails_before_its_end_keeps_the_old_position_and_the_next_reads_again(apps, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    assert run(hub).status is RunStatus.SUCCEEDED
    before = positions(clients["hub"])
    student = next(iter(ups.dapodik.iter_students(1000)))
    operator = {"Authorization": f"Bearer {clients['hub'].app.state.settings.api_tokens['operator'].get_secret_value()}"}
    assert clients["dapodik"].patch(f"/api/v1/peserta-didik/{student.peserta_didik_id}",
                                    json={"tempat_lahir": "Sukabumi"}, headers=operator).status_code == 200

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the hub stopped here")

    monkeypatch.setattr(mirror, "commit", crash)
    failed = run(hub)
    assert failed.status is RunStatus.FAILED and failed.students_from_feed == 1
    assert positions(clients["hub"]) == before  # nothing stored: the change is read again
    monkeypatch.undo()
    again = run(hub)
    assert again.status is RunStatus.SUCCEEDED and again.students_from_feed == 1 and again.values_written == 0
    assert positions(clients["hub"])["dapodik"] != before["dapodik"]
    assert run(hub).students_from_feed == 0


def test_full_run_rereads_everything_and_a_check_makes_the_next_run_read_its_students(apps) -> None:  # type: ignore[no-untyped-def]
    hub, ups, _, clients = apps
    first = run(hub)
    full = run(hub, SyncRunCreate(full=True))
    assert full.status is RunStatus.SUCCEEDED and full.full
    assert full.students_from_feed == first.students_from_feed and full.values_written == 0
    assert full.outcomes == first.outcomes
    ids = [s.siswa_id for s in ups.emis.list_students(limit=3).items]
    hub.check(SourceSystem.EMIS, ids)
    after = run(hub)
    assert after.students_from_feed == len(ids) and after.values_written == 0
    assert run(hub).students_from_feed == 0
    # the copy a fresh process loads from the database is the one the running process holds
    engine = clients["hub"].app.state.engine
    held = mirror.load(engine, SourceSystem.EMIS)
    mirror._cache.clear()
    fresh = mirror.load(engine, SourceSystem.EMIS)
    def same(view):  # type: ignore[no-untyped-def]  # the copy keeps which fields are attested, not the detail
        return dataclasses.replace(view, provenance=dict.fromkeys(view.provenance))

    assert {k: same(v) for k, v in fresh.views.items()} == {k: same(v) for k, v in held.views.items()}
    assert fresh.school == held.school and fresh.cursor == held.cursor
