"""Test helpers shared by every service's tests (imported by the root conftest.py)."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, NoReturn

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("JEMBATAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def new_token() -> str:
    return secrets.token_urlsafe(24)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test (or module) and drop it afterwards.

    Raises if PostgreSQL is unreachable; the conftest turns that into a failure on CI and a skip elsewhere.
    """
    name = f"jembatan_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        yield url
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def postgres_unreachable(exc: Exception) -> NoReturn:
    """A test that needs PostgreSQL and cannot reach it fails on CI (PostgreSQL tests never skip there) and is skipped
    elsewhere."""
    import pytest

    if on_ci():
        pytest.fail(f"PostgreSQL is required on CI but unreachable: {exc}")
    pytest.skip(f"PostgreSQL unreachable: {exc}")


def service_databases(ctx: ExitStack, backend: str, services: Iterable[str]) -> dict[str, str]:
    """The database URLs to give a stack's ``services`` for a test on ``backend``: none on ``sqlite`` (each service
    keeps its own file), a fresh PostgreSQL database each on ``postgres``, dropped when ``ctx`` closes."""
    if backend != "postgres":
        return {}
    try:
        return {s: ctx.enter_context(fresh_postgres_database()) for s in services}
    except sa.exc.OperationalError as exc:
        postgres_unreachable(exc)


# -- personal data never echoed (issue "Trust": no NIK in any error body or URL) ----------------------------

NIK_PROBE = "3172065511870016"  # a well-formed NIK no generated world holds
NIK_PROBE_VARIANTS = (NIK_PROBE, NIK_PROBE + "1", NIK_PROBE + "X", "X" + NIK_PROBE)  # unknown; malformed ones


def with_digits16(value: Any, replacement: str) -> Any:
    """``value`` (a JSON body) with every 16-digit string in it, at any depth, replaced by ``replacement``."""
    if isinstance(value, str):
        return replacement if len(value) == 16 and value.isdigit() else value
    if isinstance(value, list):
        return [with_digits16(v, replacement) for v in value]
    if isinstance(value, dict):
        return {k: with_digits16(v, replacement) for k, v in value.items()}
    return value


def path_probes(spec: dict[str, Any], value: str = NIK_PROBE) -> list[tuple[str, str]]:
    """(method, url) of every ``/api/`` operation with path parameters, each parameter filled with ``value``."""
    out: list[tuple[str, str]] = []
    for path, ops in spec["paths"].items():
        if path.startswith("/api/") and "{" in path:
            url = re.sub(r"\{[^}]+\}", value, path)
            out += [(method.upper(), url) for method in ops if method in ("get", "post", "put", "patch", "delete")]
    return out


def terminate_all_but(database: str) -> list[int]:
    """Close, from the server's side, every connection to ``database`` (as ``pg_terminate_backend``, a restart or an
    idle timeout would); return their pids once they are gone."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            pids = [int(p) for p in conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": database}).scalars()]
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            deadline = time.monotonic() + 10
            while conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                               {"p": pids}).scalar_one() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        admin.dispose()
    return pids


def ids_past_integer(engine: sa.Engine, *tables: str, pointers: Iterable[tuple[str, str]] = ()) -> int:
    """Renumber the rows of ``tables`` past INTEGER, and their next ids after them, as on a database that has taken
    rows for years (a run's outcomes, a rebuilt report, a gateway's audit trail). ``pointers``: ``(table, column)``
    pairs that hold such ids (foreign keys), moved with them. Returns
    the first id past INTEGER. Before a column was BIGINT, PostgreSQL refuses the UPDATE (out of range)."""
    past = 2**31 + 10
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        # the foreign keys are checked at the commit (SQLite), or not at all for this transaction (PostgreSQL)
        conn.execute(sa.text("SET LOCAL session_replication_role = replica" if postgres
                             else "PRAGMA defer_foreign_keys = ON"))
        for table in tables:
            conn.execute(sa.text(f"UPDATE {table} SET id = id + {past}"))
        for table, column in pointers:
            conn.execute(sa.text(f"UPDATE {table} SET {column} = {column} + {past} WHERE {column} IS NOT NULL"))
        if postgres:  # SQLite's rowid goes on from the largest one
            for table in tables:
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {past + 10**6})"))
    return past


def second_waits_for_first(engine: sa.Engine, first: Callable[[Any], Any], second: Callable[[Any], Any],
                           timeout: float = 60.0) -> tuple[Any, Any]:
    """Two writers of one thing at once, on PostgreSQL, in a fixed order: ``first(session)`` runs in a transaction
    left open; ``second(session)`` then starts in a thread, in a transaction of its own, and must wait on a lock
    the first holds (row or advisory: ``pg_stat_activity`` says so) before the first commits. Returns the first's
    result and the second's (or the exception it raised; its transaction is rolled back then). Asserts that the
    second waited: a writer that does not wait decided on what it read before the first committed."""
    from sqlmodel import Session

    outcome: list[Any] = []

    def run_second() -> None:
        with Session(engine) as session:
            try:
                outcome.append(second(session))
                session.commit()
            except Exception as exc:  # the caller asserts on what it was
                session.rollback()
                outcome.append(exc)

    with Session(engine) as session:
        result = first(session)
        thread = threading.Thread(target=run_second)
        thread.start()
        waited = False
        with engine.connect() as probe:
            deadline = time.monotonic() + timeout
            while not waited and thread.is_alive() and time.monotonic() < deadline:
                waited = bool(probe.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one())
                probe.rollback()  # a new snapshot of pg_stat_activity each time
                time.sleep(0.02)
        session.commit()
    thread.join(timeout)
    assert not thread.is_alive(), "the second writer did not finish"
    assert waited, f"the second writer did not wait for the first (it answered {outcome!r})"
    return result, outcome[0]


# -- migrations replayed from a template (the suite's time) -------------------------------------------------------
# A service's Alembic chain costs ~1 s on SQLite and ~1.5-2.5 s on PostgreSQL (mostly building and compiling the DDL
# of batch operations), and most tests start from an empty database. ``MigrationTemplates`` runs each chain for real
# once per test process and backend, keeps the database it made as SQL (SQLite's ``iterdump``, PostgreSQL's
# ``pg_dump``), and answers a later upgrade to head of an *empty* database by running that SQL in the migration's own
# transaction: the same tables, indexes, constraints, functions, seeded rows and ``alembic_version``. Any other
# upgrade (a given revision, a database that holds anything) runs the chain as before; so do the tests that check
# the chain itself (fixture ``real_migrations``).


def _is_empty(connection: sa.Connection) -> bool:
    if connection.dialect.name == "sqlite":
        return not connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one()
    return not connection.exec_driver_sql(
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND left(n.nspname, 8) <> 'pg_toast'"
    ).scalar_one() and not connection.exec_driver_sql(
        "SELECT count(*) FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = 'public'").scalar_one()


def _pg_script(dump: str) -> str:
    """``pg_dump``'s plain output as one script for the migration's transaction: its session settings made local
    to the transaction (they would otherwise stay on a pooled connection), psql's meta-commands left out."""
    out: list[str] = []
    for line in dump.splitlines():
        if line.startswith("\\"):
            continue
        if line.startswith("SET "):
            line = "SET LOCAL " + line[4:]
        elif line.startswith("SELECT pg_catalog.set_config("):
            line = line.replace(", false);", ", true);")
        out.append(line)
    return "\n".join(out)


class MigrationTemplates:
    """Replace ``alembic.command.upgrade`` while installed (see above); one per test process."""

    def __init__(self) -> None:
        import threading

        from alembic import command

        self._real = command.upgrade
        self._scripts: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self.enabled = True
        self.replayed = 0

    def install(self) -> None:
        from alembic import command

        command.upgrade = self.upgrade  # type: ignore[assignment]

    def uninstall(self) -> None:
        from alembic import command

        command.upgrade = self._real  # type: ignore[assignment]

    def upgrade(self, config: Any, revision: str, *args: Any, **kwargs: Any) -> None:
        connection = config.attributes.get("connection")
        if (not self.enabled or revision != "head" or args or kwargs or not isinstance(connection, sa.Connection)
                or not _is_empty(connection)):
            return self._real(config, revision, *args, **kwargs)
        location = config.get_main_option("script_location") or ""
        script = self._script(connection.dialect.name, location)
        if script is None:
            return self._real(config, revision, *args, **kwargs)
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            if connection.dialect.name == "sqlite":
                cur.execute("PRAGMA defer_foreign_keys = ON")
                for statement in script:
                    cur.execute(statement)
            else:
                cur.execute(script)
        finally:
            cur.close()
        self.replayed += 1
        return None

    def _script(self, dialect: str, location: str) -> Any:
        with self._lock:
            key = (dialect, location)
            if key not in self._scripts:
                self._scripts[key] = self._build(dialect, location)
            return self._scripts[key]

    def _build(self, dialect: str, location: str) -> Any:
        import shutil
        import sqlite3
        import subprocess
        import tempfile
        from pathlib import Path

        from shared.db import migrate

        self.enabled = False  # this thread's migration of the template, and any other meanwhile, run the chain
        try:
            if dialect == "sqlite":
                directory = tempfile.mkdtemp(prefix="migration-template-")
                try:
                    path = Path(directory) / "template.db"
                    migrate(Path(location), f"sqlite:///{path}")
                    with sqlite3.connect(path) as conn:
                        return [s for s in conn.iterdump() if s not in ("BEGIN TRANSACTION;", "COMMIT;")]
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
            if dialect != "postgresql" or shutil.which("pg_dump") is None:
                return None
            with fresh_postgres_database() as url:
                migrate(Path(location), url)
                libpq = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
                dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--inserts", "--dbname", libpq],
                                      capture_output=True, text=True, check=True).stdout
            return _pg_script(dump)
        finally:
            self.enabled = True
