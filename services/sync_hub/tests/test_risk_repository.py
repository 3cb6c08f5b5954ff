"""The families-at-risk rows a build writes read back as given (COPY on PostgreSQL, executemany on SQLite), and a
build replaces the period's rows, not another period's."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.risk import repository as repo
from services.sync_hub.risk.models import FamilyRiskRow
from shared.db import session_scope
from shared.testing import ids_past_integer

RISK: sa.Table = FamilyRiskRow.__table__  # type: ignore[assignment]
AT = datetime(2026, 5, 1, 3, 4, 5, tzinfo=UTC)


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "family_seq": list(range(n)), "no_kk": [f"{3201000000000000 + i}" for i in range(n)],
        "family_region": ["3201010001"] * n, "region": ["3201010002"] * n,
        "child_nik": [None if i % 5 == 0 else f"{3201000000010000 + i}" for i in range(n)],
        "age": [None if i % 7 == 0 else 6 + i % 12 for i in range(n)],
        "reason": ["ATTENDANCE_BELOW_85" if i % 2 else "NOT_ENROLLED" for i in range(n)],
        "actor": ["school"] * n, "error": [bool(i % 3) for i in range(n)],
        "system": [None if i % 4 == 0 else "dapodik" for i in range(n)],
        "student_id": [None if i % 4 == 0 else f"pd-{i}" for i in range(n)],
        "school": [None if i % 4 == 0 else "sekolah\tsatu" for i in range(n)],
        "npsn": [None if i % 4 == 0 else "20100001" for i in range(n)],
        "months_below": [[7, 8] if i % 2 else [] for i in range(n)],
        "evidence": [None if i % 3 else "nik_ibu" for i in range(n)],
        "detail": [None if i % 2 else f"detail {i}\nline\\two" for i in range(n)],
    }, schema_overrides={"age": pl.Int64, "months_below": pl.List(pl.Int64)})


def test_a_build_s_rows_read_back_as_given_and_replace_only_their_period(engine: Engine) -> None:
    rows = _rows(150)  # more than a multi-row INSERT's few rows
    with session_scope(engine) as session:
        repo.replace(session, "2026-T1", _rows(3), {}, "run-0", AT)
        repo.replace(session, "2026-T2", _rows(10), {}, "run-1", AT)
        repo.replace(session, "2026-T2", rows, {"families": 150}, "run-2", AT)  # the period built again
    with engine.connect() as conn:
        stored = [dict(r._mapping) for r in conn.execute(sa.select(RISK).order_by(RISK.c.periode, RISK.c.family_seq))]
    assert [r["periode"] for r in stored] == ["2026-T1"] * 3 + ["2026-T2"] * 150
    got = [{k: v for k, v in r.items() if k not in ("id", "periode")} for r in stored[3:]]
    assert got == [r | {"sync_run_id": "run-2"} for r in rows.to_dicts()]


def test_builds_numbered_past_integer_are_written(engine: Engine) -> None:
    """Every build replaces the period's rows with new ids: a hub that has built for years is past INTEGER."""
    with session_scope(engine) as session:
        repo.replace(session, "2026-T1", _rows(3), {}, "run-0", AT)
    past = ids_past_integer(engine, "family_risk")
    with session_scope(engine) as session:
        repo.replace(session, "2026-T2", _rows(150), {}, "run-1", AT)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(RISK.c.id).where(RISK.c.periode == "2026-T2"))]
    assert len(ids) == 150 == len(set(ids)) and min(ids) > past
