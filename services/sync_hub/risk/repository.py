"""All SQL of the families-at-risk report: what a build reads (set-wise, joined in the database), what it writes,
and what the API pages through."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.replica.models import ReplicaAnggotaRow, ReplicaKeluargaRow, ReplicaKkLamaRow
from services.sync_hub.review.models import ReviewCaseRow
from services.sync_hub.risk import service
from services.sync_hub.risk.models import FamilyRiskReportRow, FamilyRiskRow
from services.sync_hub.runs.models import StudentOutcomeRow, StudentStatusRow
from services.sync_hub.verification.models import VerificationRow
from services.sync_hub.verification.service import Period
from shared import bulk
from shared.regions import code_range

K: sa.Table = ReplicaKeluargaRow.__table__  # type: ignore[assignment]
A: sa.Table = ReplicaAnggotaRow.__table__  # type: ignore[assignment]
L: sa.Table = ReplicaKkLamaRow.__table__  # type: ignore[assignment]
S: sa.Table = StudentStatusRow.__table__  # type: ignore[assignment]
M: sa.Table = StudentMirrorRow.__table__  # type: ignore[assignment]
OUT: sa.Table = StudentOutcomeRow.__table__  # type: ignore[assignment]
V: sa.Table = VerificationRow.__table__  # type: ignore[assignment]
R: sa.Table = ReviewCaseRow.__table__  # type: ignore[assignment]
RISK: sa.Table = FamilyRiskRow.__table__  # type: ignore[assignment]
REPORT: sa.Table = FamilyRiskReportRow.__table__  # type: ignore[assignment]
AKTIF = "AKTIF"
CHUNK = 1000


@dataclass(frozen=True)
class Inputs:
    members: pl.DataFrame
    linked: pl.Series
    verified: pl.DataFrame
    unlinked: pl.DataFrame
    attributions: pl.DataFrame


def _frame(session: Session, stmt: sa.Select[Any], schema: dict[str, Any]) -> pl.DataFrame:
    rows = session.execute(stmt).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def inputs(session: Session, period: Period) -> Inputs:
    """Everything a build reads, each a join the database makes (no per-student query)."""
    pkh = K.c.pkh_status == AKTIF
    members = _frame(session, sa.select(A.c.nik, A.c.no_kk, A.c.nama_norm, A.c.tanggal_lahir, A.c.hubungan_keluarga,
                                        K.c.kode_wilayah).select_from(A.join(K, K.c.no_kk == A.c.no_kk))
                     .where(pkh, A.c.hubungan_keluarga.in_(service.CHILD_RELATIONS)), service.MEMBERS_SCHEMA)
    linked = pl.Series("nik", [r[0] for r in session.execute(
        sa.select(S.c.child_nik).where(S.c.child_nik.is_not(None)).distinct())], dtype=pl.String)
    unlinked_where = sa.or_(S.c.outcome.in_([o for o in service.UNLINKED_OUTCOMES if o != "PKH_RECIPIENT"]),
                            sa.and_(S.c.outcome == "PKH_RECIPIENT", S.c.child_nik.is_(None)))
    sm = S.join(M, sa.and_(M.c.system == S.c.system, M.c.student_id == S.c.student_id))
    unlinked = _frame(session, sa.select(
        S.c.system, S.c.student_id, S.c.outcome, OUT.c.detail, M.c.nik, M.c.nama, M.c.tanggal_lahir, M.c.school,
        M.c.npsn, M.c.region, M.c.aktif, M.c.keluar_on, M.c.held_back)
        .select_from(sm.outerjoin(OUT, sa.and_(OUT.c.sync_run_id == S.c.sync_run_id, OUT.c.system == S.c.system,
                                             OUT.c.student_id == S.c.student_id)))
        .where(unlinked_where), service.UNLINKED_SCHEMA)
    return Inputs(members, linked, verified(session, period), unlinked, _attributions(session, sm, unlinked_where))


def verified(session: Session, period: Period) -> pl.DataFrame:
    """The period's verifications of children still linked as PKH children, with the child's PKH family and the
    record's NPSN and leaving date and reason."""
    still = sa.exists().where(S.c.child_nik == V.c.nik_anak, S.c.outcome == "PKH_RECIPIENT")
    stmt = (sa.select(V.c.nik_anak, A.c.no_kk, K.c.kode_wilayah, V.c.enrolled, V.c.active, V.c.months_below,
                      V.c.source_system, V.c.source_record, V.c.school, M.c.npsn, V.c.region, M.c.keluar_on,
                      M.c.keluar_reason)
            .select_from(V.join(A, A.c.nik == V.c.nik_anak).join(K, K.c.no_kk == A.c.no_kk)
                         .outerjoin(M, sa.and_(M.c.system == V.c.source_system, M.c.student_id == V.c.source_record)))
            .where(V.c.periode == period.periode, K.c.pkh_status == AKTIF, still))
    rows = [(*r[:5], [int(m) for m in (json.loads(r[5]) if isinstance(r[5], str) else r[5] or [])], *r[6:])
            for r in session.execute(stmt).all()]
    return pl.DataFrame(rows, schema=service.VERIFIED_SCHEMA, orient="row")


def _attributions(session: Session, sm: sa.Join, unlinked_where: sa.ColumnElement[bool]) -> pl.DataFrame:
    pkh = K.c.pkh_status == AKTIF
    out: list[tuple[Any, ...]] = []

    def add(stmt: sa.Select[Any]) -> None:
        out.extend(tuple(r) for r in session.execute(stmt))

    evidence = sa.case((S.c.outcome == "PKH_RECIPIENT", sa.literal("linked")), else_=sa.literal("fallback"))
    add(sa.select(S.c.system, S.c.student_id, K.c.no_kk, K.c.kode_wilayah, evidence)
        .select_from(sm.join(K, K.c.no_kk == S.c.no_kk)).where(unlinked_where, pkh))
    add(sa.select(S.c.system, S.c.student_id, K.c.no_kk, K.c.kode_wilayah, sa.literal("no_kk"))
        .select_from(sm.join(K, K.c.no_kk == M.c.no_kk)).where(unlinked_where, pkh))
    add(sa.select(S.c.system, S.c.student_id, K.c.no_kk, K.c.kode_wilayah, sa.literal("no_kk_lama"))
        .select_from(sm.join(L, L.c.old_kk == M.c.no_kk).join(K, K.c.no_kk == L.c.no_kk)).where(unlinked_where, pkh))
    for parent in ("nik_ibu", "nik_ayah", "nik_wali"):
        add(sa.select(S.c.system, S.c.student_id, K.c.no_kk, K.c.kode_wilayah, sa.literal(parent))
            .select_from(sm.join(A, A.c.nik == M.c[parent]).join(K, K.c.no_kk == A.c.no_kk))
            .where(unlinked_where, pkh))
    cases = session.execute(sa.select(R.c.system, R.c.student_id, R.c.candidates_json)
                            .select_from(R.join(S, sa.and_(S.c.system == R.c.system, S.c.student_id == R.c.student_id)))
                            .where(R.c.status == "OPEN", S.c.outcome == "IN_REVIEW")).all()
    named = [(c[0], c[1], cand["no_kk"]) for c in cases for cand in json.loads(c[2]) if cand.get("no_kk")]
    kks = sorted({n[2] for n in named})
    regions: dict[str, str] = {}
    for start in range(0, len(kks), CHUNK):
        regions.update({r[0]: r[1] for r in session.execute(
            sa.select(K.c.no_kk, K.c.kode_wilayah).where(K.c.no_kk.in_(kks[start:start + CHUNK]), pkh))})
    out.extend((s, i, kk, regions[kk], "review") for s, i, kk in named if kk in regions)
    return pl.DataFrame(out, schema=service.ATTRIBUTION_SCHEMA, orient="row")


# -- writing ------------------------------------------------------------------------------------------------------


def inputs_stamp(session: Session, period: Period) -> dict[str, Any]:
    """What a build of ``period`` reads, summarised by where each of its inputs stands: the registry replica's
    feed sequence; the number and the latest write of the hub's copies of the students (a copy and its attendance
    are stored together), of their statuses, of the period's verifications and of the open review cases. Equal
    stamps, equal inputs: a build would give the report it replaces (``build.rebuild`` then keeps it).
    Each part is one indexed aggregate, whatever the number of students."""
    from services.sync_hub.replica.models import ReplicaStateRow

    def at(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    state = session.get(ReplicaStateRow, 1)
    n_mirror, mirror_at = session.execute(sa.select(sa.func.count(), sa.func.max(M.c.read_at))).one()
    n_status, status_at = session.execute(sa.select(sa.func.count(), sa.func.max(S.c.updated_at))).one()
    n_verified, verified_at = session.execute(sa.select(sa.func.count(), sa.func.max(V.c.decided_at))
                                              .where(V.c.periode == period.periode)).one()
    n_open, review_at = session.execute(sa.select(sa.func.count(), sa.func.max(R.c.updated_at))
                                        .where(R.c.status == "OPEN")).one()
    return {"replica_seq": state.observed_seq if state is not None else 0, "mirror": [int(n_mirror), at(mirror_at)],
            "status": [int(n_status), at(status_at)], "verifications": [int(n_verified), at(verified_at)],
            "open_reviews": [int(n_open), at(review_at)]}


def current_build(session: Session, periode: str) -> sa.Row[Any] | None:
    """The period's report row (build id, counts, the inputs stamp it was built from), if any."""
    return session.execute(sa.select(REPORT.c.build_id, REPORT.c.counts, REPORT.c.inputs)
                           .where(REPORT.c.periode == periode)).one_or_none()


def replace(session: Session, periode: str, rows: pl.DataFrame, counts: dict[str, Any], run_id: str,
            now: datetime, stamp: dict[str, Any] | None = None) -> str:
    """The period's rows replaced by ``rows`` (``service.build``) and its report row by a new build; returns the
    build id."""
    session.execute(RISK.delete().where(RISK.c.periode == periode))
    records = rows.with_columns(pl.lit(periode).alias("periode"), pl.lit(run_id).alias("sync_run_id")).select(
        "periode", "family_seq", "no_kk", "family_region", "region", "child_nik", "age", "reason", "actor", "error",
        "system", "student_id", "school", "npsn", "months_below", "evidence", "detail", "sync_run_id").to_dicts()
    for start in range(0, len(records), 5000):
        bulk.insert(session, RISK, records[start:start + 5000])  # COPY on PostgreSQL
    build_id = str(uuid.uuid4())
    session.execute(REPORT.delete().where(REPORT.c.periode == periode))
    session.execute(REPORT.insert().values(periode=periode, build_id=build_id, sync_run_id=run_id, built_at=now,
                                           counts=counts, inputs=stamp))
    return build_id


# -- reading (the API) ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    province: str | None = None
    kabupaten: str | None = None
    school: str | None = None
    reason: str | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        if self.kabupaten:
            out.append(code_range(RISK.c.region, self.kabupaten))
        elif self.province:
            out.append(code_range(RISK.c.region, self.province))
        if self.school:
            out.append(sa.or_(RISK.c.school == self.school, RISK.c.npsn == self.school))
        if self.reason:
            out.append(RISK.c.reason == self.reason)
        return out


def report(session: Session, periode: str | None) -> FamilyRiskReportRow | None:
    """The report of ``periode``, or the latest built when none is named."""
    stmt = sa.select(FamilyRiskReportRow)
    stmt = stmt.where(REPORT.c.periode == periode) if periode else stmt.order_by(REPORT.c.built_at.desc()).limit(1)
    return session.execute(stmt).scalars().first()


def families(session: Session, periode: str, filters: Filters, after_seq: int, limit: int) -> list[int]:
    """The next ``limit`` families (their report positions) after ``after_seq`` with a row the filters keep."""
    stmt = (sa.select(RISK.c.family_seq).where(RISK.c.periode == periode, RISK.c.family_seq > after_seq,
                                               *filters.where())
            .group_by(RISK.c.family_seq).order_by(RISK.c.family_seq).limit(limit))
    return [int(r[0]) for r in session.execute(stmt)]


def rows_of(session: Session, periode: str, filters: Filters, seqs: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of these families the filters keep, in report order."""
    if not seqs:
        return []
    stmt = (sa.select(RISK).where(RISK.c.periode == periode, RISK.c.family_seq.in_(list(seqs)), *filters.where())
            .order_by(RISK.c.family_seq, RISK.c.id))
    return [dict(r) for r in session.execute(stmt).mappings()]


def iter_rows(session: Session, periode: str, filters: Filters, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every row the filters keep, in report order, read a batch of families at a time."""
    after = 0
    while True:
        seqs = families(session, periode, filters, after, batch)
        if not seqs:
            return
        yield from rows_of(session, periode, filters, seqs)
        after = seqs[-1]
