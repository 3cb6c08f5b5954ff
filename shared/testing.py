"""Test helpers shared by every service's tests (imported by the root conftest.py)."""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
