"""The job queue's schema in the hub's PostgreSQL database, applied by the hub's migrations (0008).

procrastinate ships its schema as SQL; it is applied as it is. A later procrastinate release that changes its
schema ships migration scripts (``procrastinate/sql/migrations``): a hub migration applies them when the pinned
version moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from procrastinate.schema import SchemaManager


def apply_queue_schema(conn: sa.Connection) -> None:
    exists = conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar()
    if not exists:
        # on the driver's own connection, without parameters: the schema's PL/pgSQL holds '%' placeholders
        conn.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def drop_queue_schema(conn: sa.Connection) -> None:
    """Everything procrastinate created (tables, functions, types), by its name prefix (``left``, not ``LIKE``:
    a '%' would be taken for a driver placeholder)."""
    for (name,) in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND left(tablename, 13) = 'procrastinate'").all():
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    for (sig,) in conn.exec_driver_sql(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND left(p.proname, 13) = 'procrastinate'").all():
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {sig} CASCADE")
    for (name,) in conn.exec_driver_sql(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = current_schema() AND left(t.typname, 13) = 'procrastinate' AND t.typtype IN ('e', 'c')"
    ).all():
        conn.exec_driver_sql(f'DROP TYPE IF EXISTS "{name}" CASCADE')


def hub_owns(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic's ``include_name``: everything but the queue's own tables and their indexes and constraints
    (they are procrastinate's, not the hub's models)."""
    table = name if type_ == "table" else parent_names.get("table_name")
    return not (table or "").startswith("procrastinate")
