"""Education verifications settled set-wise, on both databases: each row gets its own answer however many rows share
one, a row whose provenance was replaced since (or whose NIK differs) is left alone, other periods are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.verification import repository as repo
from shared.db import session_scope

AT = datetime(2026, 5, 1, 3, 4, 5, 678901, tzinfo=UTC)
PERIODE = "2026-T2"


def _row(n: int, periode: str) -> dict[str, Any]:
    return {"nik_anak": f"{3201000000000000 + n}", "periode": periode, "provenance_id": str(uuid.uuid4()),
            "version": 1, "observed_at": AT, "facts_hash": "h" * 64, "payload": "{}", "status": "PENDING",
            "detail": None, "enrolled": True, "active": True, "months_below": [], "source_system": "dapodik",
            "source_record": f"pd-{n}", "source_version": n, "school": "s", "region": "3201010001", "no_kk": None,
            "other_records": [], "sync_run_id": "run-1", "unit_id": "u-1", "decided_at": AT, "sent_at": None}


def test_verifications_are_settled_each_with_its_own_answer(engine: Engine) -> None:
    rows = [_row(n, PERIODE) for n in range(2105)]  # more than one UPDATE's key list
    other = [_row(n, "2026-T1") for n in range(10)]  # the same children in another period
    with session_scope(engine) as session:
        repo.write(session, PERIODE, rows)
        repo.write(session, "2026-T1", other)
    later = AT + timedelta(seconds=3)

    def answer(n: int) -> tuple[str, str | None, datetime]:
        if n % 7 == 0:
            return "REJECTED", f"reason {n % 3}", later
        return ("ACCEPTED" if n % 2 else "UNCHANGED"), None, AT

    answers = [{"b_nik": r["nik_anak"], "b_provenance": r["provenance_id"], "status": answer(n)[0],
                "detail": answer(n)[1], "sent_at": answer(n)[2]} for n, r in enumerate(rows[:2100])]
    answers[5]["b_provenance"] = str(uuid.uuid4())  # replaced by a newer decision since: left alone
    # two answers of one group with their NIKs swapped: each provenance with another child's NIK, both left alone
    answers[6]["b_nik"], answers[8]["b_nik"] = rows[8]["nik_anak"], rows[6]["nik_anak"]
    with session_scope(engine) as session:
        repo.settle(session, PERIODE, answers)
    with engine.connect() as conn:
        stored = {(r.nik_anak, r.periode): r for r in conn.execute(sa.select(repo.VERIFIED))}
    assert len(stored) == len(rows) + len(other)
    for n, row in enumerate(rows):
        got = stored[(row["nik_anak"], PERIODE)]
        if n >= 2100 or n in (5, 6, 8):
            assert (got.status, got.detail, got.sent_at) == ("PENDING", None, None), n
            continue
        status, detail, sent_at = answer(n)
        assert (got.status, got.detail) == (status, detail), n
        assert got.sent_at.replace(tzinfo=UTC) == sent_at  # SQLite hands UTC back naive
    assert all(stored[(r["nik_anak"], "2026-T1")].status == "PENDING" for r in other)


def test_written_verifications_read_back_as_given_and_replace_the_period_s_earlier_ones(engine: Engine) -> None:
    """``write`` goes by COPY on PostgreSQL: every column reads back as it was given (JSON lists, flags, exact times,
    nulls, text COPY would escape), and writing a child again for a period replaces its row, not another period's."""
    rows = [_row(n, PERIODE) | {"months_below": [7, 8] if n % 2 else [], "enrolled": bool(n % 3),
                                "detail": "tab\there\\back\nline" if n == 1 else None,
                                "payload": '{"a": "b"}', "observed_at": AT + timedelta(microseconds=n)}
            for n in range(70)]  # more than a multi-row INSERT's few rows
    with session_scope(engine) as session:
        repo.write(session, PERIODE, rows)
        repo.write(session, "2026-T1", [_row(0, "2026-T1")])
        repo.write(session, PERIODE, [rows[3] | {"version": 2, "status": "APPLIED"}])  # the child decided again
    with engine.connect() as conn:
        stored = {(r.nik_anak, r.periode): r._mapping for r in conn.execute(sa.select(repo.VERIFIED))}
    assert len(stored) == len(rows) + 1
    for n, row in enumerate(rows):
        got = dict(stored[(row["nik_anak"], PERIODE)])
        want = row | ({"version": 2, "status": "APPLIED"} if n == 3 else {})
        for name in ("observed_at", "decided_at"):
            got[name] = got[name].replace(tzinfo=UTC)  # SQLite hands UTC back naive
        assert got == want, n
    assert stored[(rows[0]["nik_anak"], "2026-T1")]["version"] == 1
