"""Database plumbing shared by the services: engines, sessions, Alembic.

Engines are made in each service's lifespan (never at import), one session per request or batch,
committed at the edge by ``session_scope``. SQLite is the embedded default; PostgreSQL is chosen by
setting the service's ``*_DATABASE_URL`` (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import json
import select
import threading
from collections.abc import Callable, Collection, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import sqlalchemy as sa
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

if TYPE_CHECKING:  # alembic is imported where a migration runs: a worker process never loads it
    from alembic.config import Config

# Execution option: start the SQLite transaction with BEGIN IMMEDIATE (take the write lock at once, so
# two writers queue on the busy timeout instead of failing when one upgrades a read snapshot).
SQLITE_IMMEDIATE = "sqlite_immediate"

# Named constraints, so that later revisions (batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# An autoincrement id of a table that takes rows by the million per run (a run's outcomes, a rebuilt report): BIGINT
# on PostgreSQL, where INTEGER's 2^31 would be reached within years of national runs; INTEGER on SQLite, where an
# INTEGER PRIMARY KEY is the 8-byte rowid (a BIGINT one would not be, and would not number itself).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text (fixed width, so text
    order is time order and keyset comparisons work). Values come back aware, in UTC. Naive values
    are refused: a naive time is ambiguous (WIB? UTC?) and the conventions require UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; store timezone-aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def unstorable_text(text: str) -> str | None:
    """Why neither database can store ``text`` (NUL: PostgreSQL refuses it; lone surrogates: not UTF-8),
    or None when it can."""
    if "\x00" in text:
        return "nul_character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not_utf8"
    return None


def _storable(text: str) -> str:
    if rule := unstorable_text(text):
        raise PydanticCustomError(rule, "text holding a NUL character (or not UTF-8) cannot be stored")
    return text


# A text field of an inbound model that goes to the database as it is: a NUL (or a lone surrogate) is a 422 naming
# the field, rule ``nul_character`` (``not_utf8``), instead of PostgreSQL's refusal (a 500) or SQLite storing it.
StorableText = Annotated[str, AfterValidator(_storable)]


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


POOL_SIZE, POOL_OVERFLOW, POOL_TIMEOUT = 5, 5, 120.0


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # The pysqlite driver does not emit BEGIN before a SAVEPOINT, so the first SAVEPOINT would
            # open the transaction and its RELEASE commit it: a later rollback of the request would not
            # undo earlier items. SQLAlchemy's documented remedy: take transaction control from the
            # driver (isolation_level=None) and emit BEGIN ourselves.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # PostgreSQL: at most POOL_SIZE + POOL_OVERFLOW connections per process (a stack is ~7 processes against a
    # server's default 100 connections: 15 each ran it out at 200 concurrent operators, "too many clients");
    # a request beyond that waits for a connection (up to POOL_TIMEOUT, the clients' own timeout) rather than fail
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_timeout=POOL_TIMEOUT)
    event.listen(engine, "checkout", _still_open)
    return engine


_READABLE = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP


def _still_open(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection checked out is first looked at without a round trip (in place of
    ``pool_pre_ping``'s ``SELECT 1`` on every checkout): psycopg's own view of it, then a poll of its socket that
    does not wait. An idle connection's socket has nothing to read unless the server closed it or said it is
    closing it (``pg_terminate_backend``, a restart, an idle timeout); then ``DisconnectionError`` makes the pool
    drop it and connect anew, so no request sees the dead connection."""
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if pgconn is None:  # not psycopg 3: nothing to look at
        return
    if dbapi_conn.closed or pgconn.status != 0:  # psycopg.pq.ConnStatus.OK
        raise exc.DisconnectionError("the connection is closed")
    poll = select.poll()
    poll.register(pgconn.socket, _READABLE)
    if poll.poll(0):
        raise exc.DisconnectionError("the server closed the connection, or is closing it")


def one_of(session: Session, column: sa.ColumnElement[Any], name: str = "one_of"
           ) -> tuple[sa.ColumnElement[bool], Callable[[Collection[str]], str]]:
    """``column IN (values)`` with the values bound as ONE parameter ``name``: a JSON array, read by ``json_each`` on
    SQLite and ``json_array_elements_text`` on PostgreSQL. A chunk of thousands of keys is then neither rendered into
    the statement (compiled and parsed key by key) nor adapted by the driver value by value; the column's index is
    still used. Returns the condition and the function that makes the parameter's value from the keys:
    ``where, bind = one_of(session, col, "ids")``, then ``session.execute(stmt.where(where), {"ids": bind(keys)})``.

    On PostgreSQL the condition is ``column = ANY(ARRAY(SELECT json_array_elements_text(:name)))``: the array is an
    init plan, and the index can take ``= ANY`` as its condition. As ``IN (SELECT ...)`` it was a join, planned
    from the statistics: on a table last analyzed while it was empty (the hub's copy during a first sync's plan)
    PostgreSQL hash-joined the keys with every row of the table, for every page. Whether the index is used is
    still the planner's choice from the statistics: on stale ones (a table filled since its last ANALYZE) it can
    pick a seq scan per lookup, so the write paths that fill a table during a first sync keep them in step
    (``Growing``, below)."""
    param = sa.bindparam(name, type_=sa.String)
    if session.get_bind().dialect.name == "postgresql":
        listed = sa.select(sa.func.json_array_elements_text(sa.cast(param, sa.JSON))).scalar_subquery()
        return column == sa.any_(sa.func.array(listed)), lambda values: json.dumps(list(values))
    listed = sa.select(sa.literal_column("value")).select_from(sa.func.json_each(param)).scalar_subquery()
    return column.in_(listed), lambda values: json.dumps(list(values))


_T = TypeVar("_T")
_BUILT: dict[Hashable, Any] = {}


def built_once(key: Hashable, build: Callable[[], _T]) -> _T:
    """The statement ``build()`` makes, built once per process under ``key`` (which must name everything the statement
    depends on) and reused. A statement built per call costs its construction each time, and SQLAlchemy memoises a
    statement's cache key and column collections on the statement object, so a new object pays for them again:
    ``each_key``'s lateral subquery proxies every column of its table (measured: the attendance and provenance
    reads of a "Request Data PKH" press were ~20 % of the EMIS gateway's CPU, mostly in building them)."""
    try:
        return _BUILT[key]  # type: ignore[no-any-return]
    except KeyError:
        return _BUILT.setdefault(key, build())  # type: ignore[no-any-return]


def each_key(seek: Callable[[sa.ColumnElement[str]], sa.Select[Any]], name: str = "keys") -> sa.Select[Any]:
    """PostgreSQL: the rows ``seek(key)`` selects, for every key of the JSON array bound as ``name`` (make its value
    with ``json.dumps(keys)``), as ``SELECT seek.* FROM json_array_elements_text(:name) AS k JOIN LATERAL
    (seek(k.value) OFFSET 0) AS seek ON true``: a nested loop that runs ``seek`` once per key, so each key is an
    index seek whatever the table's statistics say. A plain ``column IN (...)`` / ``= ANY(...)`` of a page's keys
    is planned from the statistics: while a page's keys are a few per cent of the table (a first sync; a table
    analyzed when it was small) PostgreSQL reads the whole table for every page instead. ``OFFSET 0`` keeps the
    planner from flattening the subquery into a join it would plan the same way. Order the result through
    ``stmt.selected_columns``."""
    keys = sa.func.json_array_elements_text(sa.cast(sa.bindparam(name, type_=sa.String), sa.JSON))
    k = keys.table_valued("value").alias("k")
    inner = seek(k.c.value).offset(sa.literal_column("0")).lateral("seek")
    return sa.select(inner).select_from(k).join(inner, sa.true())


def together(*parts: tuple[sa.Select[Any], tuple[str, ...]]) -> sa.Select[Any]:
    """Several reads of unrelated shapes in one statement (one round trip, one execution instead of several):
    ``parts`` are (an unordered ``SELECT``, the names of its columns to order it by). Every row carries a column
    ``part`` (the read's index) and every read's columns, labelled ``r<index>_<name>``, NULL (cast to the column's
    own type) outside its own read, as ``SELECT ... UNION ALL SELECT ...`` ordered by ``part`` and then each read's
    order: each read's rows come out as its own statement, ordered, would give them (the same values through the
    same types, the same collation). Split the rows with ``apart``."""
    columns = [list(read.selected_columns) for read, _ in parts]
    branches = []
    for i, (stmt, _) in enumerate(parts):
        labelled: list[sa.ColumnElement[Any]] = [sa.literal_column(str(i), sa.Integer).label("part")]
        for j, read in enumerate(columns):
            labelled += [(c if j == i else sa.cast(sa.null(), c.type)).label(f"r{j}_{c.key}") for c in read]
        branches.append(stmt.with_only_columns(*labelled, maintain_column_froms=False))
    union = sa.union_all(*branches).subquery("together")
    order = [union.c.part, *(union.c[f"r{j}_{name}"] for j, (_, names) in enumerate(parts) for name in names)]
    return sa.select(union).order_by(*order)


def apart(stmt: sa.Select[Any], rows: Iterator[sa.Row[Any]] | list[sa.Row[Any]]) -> list[list[dict[str, Any]]]:
    """The rows of a ``together`` statement, each read's apart and in its order: every row as a dict of that read's
    columns under their own names (what ``.mappings()`` of the read alone gives, for reading by name)."""
    names: list[list[tuple[int, str]]] = []  # per read: (position in the row, the column's own name)
    for position, column in enumerate(stmt.selected_columns):
        if column.key == "part":
            continue
        index, _, name = column.key[1:].partition("_")
        while len(names) <= int(index):
            names.append([])
        names[int(index)].append((position, name))
    out: list[list[dict[str, Any]]] = [[] for _ in names]
    for row in rows:
        part = row[0]
        out[part].append({name: row[position] for position, name in names[part]})
    return out


_AUTOCOMMIT = "_jembatan_statement_at_a_time"  # where the engine keeps its variant (made once: ~0.1 ms to make)


def statement_at_a_time(engine: Engine) -> Engine:
    """``engine`` for work whose every write is ONE statement and whose reads need no snapshot in common: on
    PostgreSQL each statement is its own transaction (``AUTOCOMMIT``: no ``BEGIN`` and ``COMMIT`` round trips, two
    of a short press's few); on SQLite ``engine`` itself (a transaction there is one snapshot, and its round trips
    are calls in process). At PostgreSQL's isolation, READ COMMITTED, a statement inside a transaction reads from
    a snapshot of its own too, so reads see what they saw inside one; what is lost is only the atomicity of
    several writes, which such work does not have. ``session_scope`` takes it as it takes any engine."""
    if engine.dialect.name != "postgresql":
        return engine
    found: Engine | None = engine.__dict__.get(_AUTOCOMMIT)
    if found is None:
        found = engine.execution_options(isolation_level="AUTOCOMMIT")
        setattr(engine, _AUTOCOMMIT, found)
    return found


@contextmanager
def advisory_lock(engine: Engine, key: int, *, wait: bool = False) -> Iterator[bool]:
    """A PostgreSQL session-level advisory lock on ``key``, on a connection of its own, held for the block. Yields
    whether this process holds it (``wait``: blocks until the holder lets it go, then True). The server lets it go
    when the block ends or when the holding process dies (its connection closes)."""
    with engine.connect() as conn:
        if wait:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            got = True
        else:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def database_unavailable(error: BaseException) -> str | None:
    """Why the database could not do this now though it may later (None: the error is of another kind, a bug): the
    connection was lost (a restart, a failover, an administrator ending it), none could be opened, the pool had none
    free in time, PostgreSQL chose this transaction to end a deadlock or a serialization conflict, SQLite stayed busy
    past its timeout. A job tries such an error again later, as it does an upstream it could not reach. The words are
    the driver's first line (no statement, no parameters: they may hold a NIK)."""
    import sqlite3

    import psycopg

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, exc.TimeoutError):
            return "no database connection was free in time"
        if isinstance(seen, exc.DBAPIError):
            orig = seen.orig
            first = (str(orig).strip().splitlines() or [""])[0][:200]
            if seen.connection_invalidated or isinstance(orig, psycopg.OperationalError):
                return f"the database was not available ({type(orig).__name__}: {first})"
            if isinstance(orig, sqlite3.OperationalError) and ("locked" in first or "busy" in first):
                return f"the database was busy ({first})"
            return None
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(script_location: Path, url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(script_location: Path, url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` with the service's Alembic scripts."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(script_location, url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


class RevisionError(ValueError):
    """A revision the service's migrations do not have (or name ambiguously)."""


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is really at (``None``: not migrated at all)."""
    from alembic.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def migrate_to(script_location: Path, url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``, upgrading or **downgrading** (an older revision than the database's
    is a downgrade, which ``migrate`` would silently skip); ``base`` drops every table. Returns the revision before
    and the revision the database is really at afterwards. Raises ``RevisionError`` for a revision the scripts
    do not have (a unique prefix of one is accepted, as in Alembic)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config(script_location, url))
    before = current_revision(url)
    if revision in ("head", "heads"):
        target: str | None = script.get_current_head()
    elif revision == "base":
        target = None
    else:
        try:
            found = script.get_revision(revision)
        except CommandError as exc:
            raise RevisionError(str(exc)) from exc
        if found is None:
            raise RevisionError(f"no revision {revision!r}")
        target = found.revision
    if target == before:
        return before, before
    older = before is not None and (target is None or target in {
        r.revision for r in script.iterate_revisions(before, "base")})
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(script_location, url)
            cfg.attributes["connection"] = connection
            if older:
                command.downgrade(cfg, target or "base")
            else:
                command.upgrade(cfg, target or "head")
    finally:
        engine.dispose()
    return before, current_revision(url)


def migrate_command(script_location: Path, url: str, revision: str) -> None:
    """The ``migrate [REVISION]`` command every service's CLI has: says where the database was and where it
    really is now; an unknown revision exits 2 naming the revisions there are."""
    import typer

    try:
        before, after = migrate_to(script_location, url, revision)
    except RevisionError as exc:
        from alembic.script import ScriptDirectory

        known = [r.revision for r in ScriptDirectory.from_config(alembic_config(script_location, url)).walk_revisions()]
        typer.echo(f"error: {exc}; the revisions are: {', '.join(reversed(known))} (or head, base)", err=True)
        raise typer.Exit(2) from exc
    if before == after:
        typer.echo(f"database already at {after or 'base (empty)'}; nothing to do")
    else:
        typer.echo(f"database migrated from {before or 'base (empty)'} to {after or 'base (empty)'}")


def run_migrations_env(target_metadata, include_name=None) -> None:  # type: ignore[no-untyped-def]
    """Body of every service's ``migrations/env.py`` (online mode, with an optional passed-in connection).
    ``include_name``: Alembic's filter of the database objects autogenerate compares (objects the service does
    not own, such as a job queue's tables, are left out)."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# ---- statistics of tables a first sync fills (h-plan5) ----------------------------------------------------------


def analyze_due(before: int, after: int, first: int = 1000) -> bool:
    """Whether growing from ``before`` to ``after`` rows passes a point of ``Growing``'s schedule: ``first`` rows,
    then each doubling (``first``, ``2 * first``, ``4 * first``, ...)."""
    if after < first or after <= before:
        return False
    mark = first
    while mark <= before:
        mark *= 2
    return mark <= after


class Growing:
    """Keeps a table's statistics in step while a process fills it (a first sync: the mirror, the replica): after
    ``first`` rows are inserted, then on each doubling, ``ANALYZE`` of the table's key columns in the writer's
    own transaction (it counts the rows that transaction inserted). PostgreSQL only; on SQLite a no-op.

    Why: a table last analyzed while empty (autovacuum off, or not yet run) is planned as if it had no rows; the
    lookups that read it right after its writes (``one_of`` deletes and reads per page) then got seq scans, each
    reading the whole table, so a first sync grew quadratic. Doubling keeps the cost of the ANALYZEs (a sample of
    at most 30,000 rows each) logarithmic in the rows written. ``SKIP_LOCKED``: a writer never waits for another
    one analyzing the same table (the statistics it would make are as good). Counted per process."""

    def __init__(self, table: str, columns: Collection[str], first: int = 1000) -> None:
        self.table, self.columns, self.first = table, tuple(columns), first
        self.rows = 0
        self._lock = threading.Lock()

    def added(self, session: Session, rows: int) -> bool:
        """Count ``rows`` inserted into the table by ``session``'s transaction; ANALYZE when the schedule says so.
        Returns whether it did."""
        if rows <= 0 or session.get_bind().dialect.name != "postgresql":
            return False
        with self._lock:
            before, self.rows = self.rows, self.rows + rows
        if not analyze_due(before, before + rows, self.first):
            return False
        session.connection().exec_driver_sql(
            f"ANALYZE (SKIP_LOCKED) {self.table} ({', '.join(self.columns)})")
        return True
