"""The hub's Alembic revisions build exactly the tables its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.sync_hub.audit import models as _audit  # noqa: F401
from services.sync_hub.checks import models as _checks  # noqa: F401
from services.sync_hub.db import HubTable
from services.sync_hub.jobs.schema import hub_owns
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.mirror import models as _mirror  # noqa: F401
from services.sync_hub.provenance import models as _provenance  # noqa: F401
from services.sync_hub.replica import models as _replica  # noqa: F401
from services.sync_hub.runs import models as _runs  # noqa: F401
from shared.db import make_engine, migrate, session_scope

pytestmark = pytest.mark.usefixtures("real_migrations")  # these tests check the chain itself: no template


def test_migrations_reach_the_models(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": hub_owns})
            with warnings.catch_warnings():  # SQLite cannot reflect the ledger's expression index (hash prefix)
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
                assert compare_metadata(context, HubTable.metadata) == []
            tables = set(sa.inspect(conn).get_table_names())
        assert {"sync_run", "student_outcome", "outbox_item", "provenance", "alembic_version", "student_mirror",
                "feed_state", "mirror_refetch", "sync_unit", "student_status", "replica_touch", "replica_kip",
                "access_log", "access_log_subject", "ledger_verification"} <= tables
        if engine.dialect.name == "postgresql":  # the job queue's schema comes with the hub's migrations
            assert {"procrastinate_jobs", "procrastinate_workers"} <= tables
    finally:
        engine.dispose()


def test_migrations_downgrade_to_base_and_up_again(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    from alembic import command

    from shared.db import alembic_config

    command.downgrade(alembic_config(MIGRATIONS, db_url), "base")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert "sync_run" not in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    migrate(MIGRATIONS, db_url)


def test_0016_adds_nisn_to_the_students_already_mirrored_and_takes_it_back(db_url: str) -> None:
    """A mirror written before 0016 keeps its students (without a NISN until read again); the NISN is indexed for
    the console's search; the downgrade drops column and index and keeps the students."""
    from services.sync_hub.main import MIGRATIONS as scripts
    from shared.db import migrate_to

    migrate(scripts, db_url, "0015")
    engine = make_engine(db_url)
    row = {"system": "emis", "student_id": "s-1", "school": "111232010001", "region": "3201010001", "aktif": True,
           "source_version": 0, "held_back": False, "nama": "Siti", "jenis_kelamin": "P",
           "tanggal_lahir": "2014-03-03", "nama_ibu_kandung": "", "nama_ayah": "", "nama_wali": "",
           "current_json": "{}", "attested_json": "[]"}
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(sa.table("student_mirror", *(sa.column(k) for k in row))), [row])
        migrate(scripts, db_url, "0016")
        with engine.begin() as conn:
            assert "ix_student_mirror_nisn" in {i["name"] for i in sa.inspect(conn).get_indexes("student_mirror")}
            assert conn.execute(sa.text("SELECT student_id, nisn FROM student_mirror")).all() == [("s-1", None)]
            conn.execute(sa.text("UPDATE student_mirror SET nisn = '0141234567'"))
            found = conn.execute(sa.text("SELECT student_id FROM student_mirror WHERE nisn = '0141234567'")).all()
            assert found == [("s-1",)]
        migrate_to(scripts, db_url, "0015")
        with engine.connect() as conn:
            assert "nisn" not in {c["name"] for c in sa.inspect(conn).get_columns("student_mirror")}
            assert conn.execute(sa.text("SELECT student_id FROM student_mirror")).all() == [("s-1",)]
    finally:
        engine.dispose()


def test_0017_backfills_the_initials_of_every_members_name(db_url: str) -> None:
    """Members written before 0017 get ``inisial`` from their ``nama_norm`` (as the writer computes it), so the
    fallback's initials rules find them through the slice."""
    from services.sync_hub.matching.fallback import initials

    migrate(MIGRATIONS, db_url, "0016")
    engine = make_engine(db_url)
    names = ["muhammad rizky", "santoso budi", "siti", ""]
    try:
        with engine.begin() as conn:
            for i, name in enumerate(names):
                conn.execute(sa.text(
                    "INSERT INTO replica_anggota (nik, no_kk, nama, jenis_kelamin, tanggal_lahir, nama_ibu_kandung, "
                    "hubungan_keluarga, nama_norm, ibu_norm, kab) VALUES (:nik, '3201010101200001', :n, 'L', "
                    "'2014-03-09', '', 'ANAK', :n, '', '3201')"), {"nik": f"32010109031400{i:02d}", "n": name})
        migrate(MIGRATIONS, db_url)
        with engine.connect() as conn:
            got = dict(conn.execute(sa.text("SELECT nama_norm, inisial FROM replica_anggota")).all())
        assert got == {n: initials(n) for n in names} == {"muhammad rizky": "mr", "santoso budi": "bs", "siti": "ss",
                                                          "": None}
    finally:
        engine.dispose()


def test_0020_backfills_the_sample_key_of_every_member(db_url: str) -> None:
    """Members written before 0020 get ``sample_key`` from their NIK (as the writer computes it), so the fallback
    model's registry sample (``replica.sample.random_persons``) reaches them."""
    from services.sync_hub.replica.sample import random_persons, sample_key

    migrate(MIGRATIONS, db_url, "0019")
    engine = make_engine(db_url)
    niks = [f"32010109031400{i:02d}" for i in range(12)]
    try:
        with engine.begin() as conn:
            for nik in niks:
                conn.execute(sa.text(
                    "INSERT INTO replica_anggota (nik, no_kk, nama, jenis_kelamin, tanggal_lahir, nama_ibu_kandung, "
                    "hubungan_keluarga, nama_norm, ibu_norm, kab, inisial) VALUES (:nik, '3201010101200001', 'siti', "
                    "'P', '2014-03-09', '', 'ANAK', 'siti', '', '3201', 'ss')"), {"nik": nik})
        migrate(MIGRATIONS, db_url)
        with engine.connect() as conn:
            got = dict(conn.execute(sa.text("SELECT nik, sample_key FROM replica_anggota")).all())
        assert got == {nik: sample_key(nik) for nik in niks}
        with session_scope(engine) as session:
            assert sorted(random_persons(session, 20, seed=1)["nik"]) == niks
    finally:
        engine.dispose()
