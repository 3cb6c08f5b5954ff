"""Two writers of one thing at once (PostgreSQL; SQLite's write transaction holds the whole database): the second
waits for the first, then decides on what the first committed. Found by firing 24 identical requests at once at the
running service: a second split into one new KK number was a 500 (the unique index refused it), two deletions of
one family both answered 200 and left two tombstones in the change feed, and two first verifications of one child
and period were a 500, and an older update of a stored one could overwrite a newer one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from services.kemensos_mock.education import service as education
from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import service as registry
from services.kemensos_mock.registry.models import KeluargaHapusRow
from services.kemensos_mock.registry.schemas import PecahKk
from services.kemensos_mock.tests.test_education import item
from services.kemensos_mock.tests.world import ANAK1, ANAK2, KK1, KK2
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import StatusVerifikasi, VerifikasiPendidikan, VerifikasiPendidikanBatch
from shared.db import make_engine, migrate
from shared.errors import Conflict, NotFound
from shared.testing import second_waits_for_first

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, postgres_url)
    engine = make_engine(postgres_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def batch(**change: object) -> VerifikasiPendidikanBatch:
    return VerifikasiPendidikanBatch(items=[VerifikasiPendidikan.model_validate(item(**change))])


def put(b: VerifikasiPendidikanBatch) -> object:
    return lambda session: education.put_batch(session, b, "sync_hub").results[0].status


def count(engine: Engine, table: type) -> int:
    with Session(engine) as s:
        return int(s.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize(("second", "answer"), [
    ({}, StatusVerifikasi.UNCHANGED),  # the same item again (a retry while the first is in flight)
    ({"observed_at": "2026-06-01T00:00:00+00:00", "active": False}, StatusVerifikasi.STALE),  # an older one
])
def test_two_first_verifications_of_a_child_and_period_take_turns(engine: Engine, second: dict[str, object],
                                                                  answer: StatusVerifikasi) -> None:
    first, then = second_waits_for_first(engine, put(batch()), put(batch(**second)))
    assert (first, then) == (StatusVerifikasi.APPLIED, answer)
    with Session(engine) as s:
        [stored] = s.scalars(select(VerifikasiRow).where(VerifikasiRow.nik_anak == ANAK1)).all()
    assert stored.active is True  # the newer observation stands
    assert count(engine, VerifikasiRiwayatRow) == 1


def test_an_older_update_of_a_stored_verification_waits_and_does_not_overwrite_a_newer_one(engine: Engine) -> None:
    with Session(engine) as s:  # stored: observed 2026-08-01
        assert put(batch())(s) == StatusVerifikasi.APPLIED
        s.commit()
    newer = batch(observed_at="2026-08-20T00:00:00+00:00", active=False)
    between = batch(observed_at="2026-08-10T00:00:00+00:00", keterangan="pindah rombel")
    first, then = second_waits_for_first(engine, put(newer), put(between))
    assert (first, then) == (StatusVerifikasi.APPLIED, StatusVerifikasi.STALE)
    with Session(engine) as s:
        [stored] = s.scalars(select(VerifikasiRow).where(VerifikasiRow.nik_anak == ANAK1)).all()
    assert stored.active is False and stored.keterangan is None  # the newest observation stands
    assert count(engine, VerifikasiRiwayatRow) == 2


def test_verifications_of_other_children_do_not_wait(engine: Engine) -> None:
    """The lock is the child and period's, not the table's: a verification of another child goes through while the
    first is open."""
    with Session(engine) as first:
        assert put(batch())(first) == StatusVerifikasi.APPLIED
        with Session(engine) as other:
            assert put(batch(nik_anak=ANAK2))(other) == StatusVerifikasi.APPLIED
            other.commit()
        first.commit()


def test_two_splits_into_one_new_kk_number_are_a_success_and_a_conflict(engine: Engine) -> None:
    split = PecahKk(no_kk=KK1, no_kk_baru="3201010707260077", anggota=[ANAK2], kepala_keluarga=ANAK2)
    first, then = second_waits_for_first(engine, lambda s: registry.pecah_kk(s, split),
                                         lambda s: registry.pecah_kk(s, split))
    assert first.no_kk == "3201010707260077"
    assert isinstance(then, Conflict), then


def test_two_deletions_of_one_family_leave_one_tombstone(engine: Engine) -> None:
    first, then = second_waits_for_first(engine, lambda s: registry.delete_keluarga(s, KK2),
                                         lambda s: registry.delete_keluarga(s, KK2))
    assert first.no_kk == KK2
    assert isinstance(then, NotFound), then
    assert count(engine, KeluargaHapusRow) == 1
