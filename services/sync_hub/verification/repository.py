"""All SQL of education verification: which children to verify, their records, what was sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.domain.students import Month
from services.sync_hub.mirror.models import MirrorKehadiranRow, StudentMirrorRow
from services.sync_hub.runs.models import StudentStatusRow
from services.sync_hub.verification.models import VerificationRow
from services.sync_hub.verification.service import Period, SchoolRecord
from shared import bulk
from shared.regions import code_range

STATUS: sa.Table = StudentStatusRow.__table__  # type: ignore[assignment]
MIRROR: sa.Table = StudentMirrorRow.__table__  # type: ignore[assignment]
MONTHS: sa.Table = MirrorKehadiranRow.__table__  # type: ignore[assignment]
VERIFIED: sa.Table = VerificationRow.__table__  # type: ignore[assignment]
CHUNK = 1000
RECIPIENT = "PKH_RECIPIENT"
RESEND = ("PENDING", "FAILED")  # sent, but the answer never recorded (or the registry could not take it)


def _wanted(since: datetime | None, periode: str) -> tuple[sa.FromClause, sa.ColumnElement[bool]]:
    """PKH children (linked, member identified) whose verification for ``periode`` is missing or unanswered, or
    one of whose records was decided after ``since`` (``runs.repository.verified_through``; None: all)."""
    joined = STATUS.outerjoin(VERIFIED, sa.and_(VERIFIED.c.nik_anak == STATUS.c.child_nik,
                                                VERIFIED.c.periode == periode))
    changed = sa.true() if since is None else STATUS.c.updated_at > since
    where = sa.and_(STATUS.c.child_nik.is_not(None), STATUS.c.outcome == RECIPIENT,
                    sa.or_(changed, VERIFIED.c.nik_anak.is_(None), VERIFIED.c.status.in_(RESEND)))
    return joined, where


def partitions(session: Session, since: datetime | None, periode: str) -> list[str]:
    """The NIK province prefixes (2 digits) of the children a run has to verify."""
    joined, where = _wanted(since, periode)
    prefix = sa.func.substr(STATUS.c.child_nik, 1, 2)
    return sorted(r[0] for r in session.execute(sa.select(prefix).select_from(joined).where(where).distinct()))


def candidates(session: Session, since: datetime | None, periode: str, prefix: str) -> list[str]:
    joined, where = _wanted(since, periode)
    stmt = (sa.select(STATUS.c.child_nik).select_from(joined)
            .where(where, code_range(STATUS.c.child_nik, prefix)).distinct())
    return sorted(r[0] for r in session.execute(stmt))


def records_of(session: Session, child_niks: Sequence[str], period: Period) -> dict[str, list[SchoolRecord]]:
    """Every school record linked to each child, with its attendance in ``period``."""
    out: dict[str, list[SchoolRecord]] = {}
    rows: list[Any] = []
    for start in range(0, len(child_niks), CHUNK):
        stmt = (sa.select(STATUS.c.child_nik, STATUS.c.no_kk, MIRROR.c.system, MIRROR.c.student_id, MIRROR.c.school,
                          MIRROR.c.npsn, MIRROR.c.region, MIRROR.c.aktif, MIRROR.c.keluar_on, MIRROR.c.keluar_reason,
                          MIRROR.c.source_version)
                .join(MIRROR, sa.and_(MIRROR.c.system == STATUS.c.system, MIRROR.c.student_id == STATUS.c.student_id))
                .where(STATUS.c.child_nik.in_(child_niks[start:start + CHUNK]), STATUS.c.outcome == RECIPIENT))
        rows.extend(session.execute(stmt).mappings())
    months = _months(session, [(r["system"], r["student_id"]) for r in rows], period)
    for r in rows:
        key = (r["system"], r["student_id"])
        out.setdefault(r["child_nik"], []).append(SchoolRecord(
            system=r["system"], student_id=r["student_id"], school=r["school"], npsn=r["npsn"], region=r["region"],
            aktif=bool(r["aktif"]), keluar_on=r["keluar_on"], keluar_reason=r["keluar_reason"],
            source_version=int(r["source_version"]), no_kk=r["no_kk"], months=tuple(months.get(key, ()))))
    return out


def _months(session: Session, keys: list[tuple[str, str]], period: Period) -> dict[tuple[str, str], list[Month]]:
    out: dict[tuple[str, str], list[Month]] = {}
    in_period = sa.or_(*(sa.and_(MONTHS.c.tahun == y, MONTHS.c.bulan == m) for y, m in period.months))
    by_system: dict[str, list[str]] = {}
    for system, student_id in keys:
        by_system.setdefault(system, []).append(student_id)
    for system, ids in by_system.items():
        ids = sorted(set(ids))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            stmt = (sa.select(MONTHS).where(MONTHS.c.system == system, MONTHS.c.student_id.in_(chunk), in_period)
                    .order_by(MONTHS.c.student_id, MONTHS.c.tahun, MONTHS.c.bulan))
            for m in session.execute(stmt).mappings():
                out.setdefault((system, m["student_id"]), []).append(
                    Month(m["tahun"], m["bulan"], m["hari_efektif"], m["alpa"], m["izin"], m["sakit"]))
    return out


def sent(session: Session, child_niks: Sequence[str], periode: str) -> dict[str, dict[str, Any]]:
    """What was last decided for each child in ``periode`` (its hash, version, observation time, status)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(child_niks), CHUNK):
        stmt = sa.select(VERIFIED.c.nik_anak, VERIFIED.c.facts_hash, VERIFIED.c.version, VERIFIED.c.observed_at,
                         VERIFIED.c.status, VERIFIED.c.provenance_id, VERIFIED.c.payload).where(
            VERIFIED.c.periode == periode, VERIFIED.c.nik_anak.in_(child_niks[start:start + CHUNK]))
        out.update({r["nik_anak"]: dict(r) for r in session.execute(stmt).mappings()})
    return out


def write(session: Session, periode: str, rows: list[dict[str, Any]]) -> None:
    """Insert or replace these children's verifications for ``periode``."""
    niks = [str(r["nik_anak"]) for r in rows]
    for start in range(0, len(niks), CHUNK):
        session.execute(VERIFIED.delete().where(VERIFIED.c.periode == periode,
                                                VERIFIED.c.nik_anak.in_(niks[start:start + CHUNK])))
    bulk.insert(session, VERIFIED, rows)  # COPY on PostgreSQL (a first sync writes one row per PKH child)


def settle(session: Session, periode: str, answers: list[dict[str, Any]]) -> None:
    """``answers``: dicts of ``b_nik``, ``b_provenance``, ``status``, ``detail``, ``sent_at`` (a row replaced by a
    newer decision since is left alone: its provenance differs).

    One UPDATE per distinct answer (status, detail, time) and ``CHUNK`` rows, the (NIK, provenance id) pairs bound
    as one JSON parameter, not one statement per row: a batch's answers are nearly all the same, and the per-row
    statement was planned on ``(periode, region)`` whenever the table's statistics were older than its rows (every
    row of the period read per answer: n² in a first sync)."""
    groups: dict[tuple[Any, Any, Any], list[tuple[str, str]]] = {}
    for a in answers:
        groups.setdefault((a["status"], a["detail"], a["sent_at"]), []).append((a["b_nik"], a["b_provenance"]))
    if not groups:
        return
    param = sa.bindparam("pairs", type_=sa.String)
    if session.get_bind().dialect.name == "postgresql":
        v = sa.func.json_array_elements(sa.cast(param, sa.JSON)).table_valued("value").alias("v")
        pairs = sa.select(v.c.value.op("->>")(0), v.c.value.op("->>")(1))
    else:
        value = sa.literal_column("value")
        pairs = sa.select(sa.func.json_extract(value, "$[0]"), sa.func.json_extract(value, "$[1]")).select_from(
            sa.func.json_each(param))
    named = sa.tuple_(VERIFIED.c.nik_anak, VERIFIED.c.provenance_id).in_(pairs)
    for (status, detail, sent_at), keys in groups.items():
        stmt = VERIFIED.update().where(VERIFIED.c.periode == periode, named).values(
            status=status, detail=detail, sent_at=sent_at)
        for start in range(0, len(keys), CHUNK):
            session.execute(stmt, {"pairs": json.dumps(keys[start:start + CHUNK])})


def latest_month(session: Session) -> tuple[int, int] | None:
    """The newest month of attendance the copy holds (which PKH period the schools last reported)."""
    row = session.execute(sa.select(MONTHS.c.tahun, MONTHS.c.bulan)
                          .order_by(MONTHS.c.tahun.desc(), MONTHS.c.bulan.desc()).limit(1)).first()
    return (int(row[0]), int(row[1])) if row else None


def page(session: Session, periode: str, status: str | None, province: str | None, after: str | None,
         limit: int) -> list[dict[str, Any]]:
    """A page of ``periode``'s verifications in provenance id order (keyset: no NIK ever in a cursor)."""
    stmt = sa.select(VERIFIED).where(VERIFIED.c.periode == periode)
    if status:
        stmt = stmt.where(VERIFIED.c.status == status)
    if province:
        stmt = stmt.where(code_range(VERIFIED.c.region, province))
    if after:
        stmt = stmt.where(VERIFIED.c.provenance_id > after)
    stmt = stmt.order_by(VERIFIED.c.provenance_id).limit(limit)
    return [dict(r) for r in session.execute(stmt).mappings()]
