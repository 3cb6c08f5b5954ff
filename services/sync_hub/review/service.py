"""Review rules: which students need a person, what the person sees, and how a decision is kept.

* A sync run opens a case for every student the matcher sends to review (keys pointing at two families,
  or a fallback match in the band between "link" and "no link"), with the candidates and their evidence.
  The same question is not asked twice: an open case for the same student and the same candidates stays;
  one whose student or candidates changed is superseded by a new one.
* A decision (link to candidate X / no link) names the reviewer (the person: their token's subject) and a reason.
  It is provenance: later runs apply it (``matched_by=review``) while neither the student's record nor the
  chosen family's registry record changed; then the student is matched afresh (and asked again if needed).
* A decision can be reversed (who, when, why are kept); the next run matches the student afresh.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.audit.service import Access
from services.sync_hub.domain.students import StudentView
from services.sync_hub.matching.service import (
    Candidate,
    MatchDecision,
    ReviewedDecision,
    candidates_fingerprint,
    fingerprint,
)
from services.sync_hub.mirror import repository as mirror_repo
from services.sync_hub.replica import repository as replica_repo
from services.sync_hub.review import repository as repo
from services.sync_hub.review.models import ReviewCaseRow, ReviewDecisionRow
from services.sync_hub.review.schemas import (
    CandidateView,
    CasePage,
    CasesQuery,
    CaseStatus,
    CaseSummary,
    CaseView,
    DecisionCreate,
    DecisionView,
    FieldAgreement,
    ReversalCreate,
    StudentSnapshot,
    Verdict,
)
from shared import names
from shared.clock import as_utc, utcnow
from shared.contracts.common import Outcome
from shared.contracts.hub import SourceSystem
from shared.cursor import Cursor
from shared.db import session_scope
from shared.errors import Conflict, InvalidInput, NotFound
from shared.nik import normalise as normalise_nik

# ---- used by the work units --------------------------------------------------------------------------


def standing_decisions(engine: Engine, students: list[StudentView]) -> dict[tuple[str, str], ReviewedDecision]:
    with session_scope(engine) as session:
        return standing_decisions_in(session, students)


def standing_decisions_in(session: Session, students: list[StudentView]) -> dict[tuple[str, str], ReviewedDecision]:
    """:func:`standing_decisions` read in the caller's session."""
    rows = repo.standing(session, [(s.system.value, s.student_id) for s in students])
    return {k: ReviewedDecision(r.id, r.link, r.no_kk, r.family_version, r.student_fingerprint,
                                r.candidates_fingerprint, r.reviewer, r.reason) for k, r in rows.items()}


def standing_decisions_of(session: Session, system: str, student_ids: list[str]
                          ) -> dict[tuple[str, str], ReviewedDecision]:
    """:func:`standing_decisions_in` for a few students of one system (a check): one statement through the driver."""
    rows = repo.standing_of(session, system, student_ids)
    return {(system, sid): ReviewedDecision(*row) for sid, row in rows.items()}


def _snapshot(s: StudentView) -> str:
    return StudentSnapshot(nama=s.nama, jenis_kelamin=s.jenis_kelamin, tanggal_lahir=s.tanggal_lahir, nik=s.nik,
                           no_kk=s.no_kk, nama_ibu_kandung=s.nama_ibu_kandung, nik_ibu=s.nik_ibu,
                           nama_ayah=s.nama_ayah, nik_ayah=s.nik_ayah).model_dump_json()


def _candidates_json(candidates: tuple[Candidate, ...]) -> str:
    return json.dumps([{"no_kk": c.no_kk, "version": c.version, "nik": c.nik, "probability": c.probability,
                        "weight": c.weight, "evidence": c.evidence} for c in candidates])


def sync_cases(engine: Engine, run_id: str, students: list[StudentView], decisions: list[MatchDecision]) -> int:
    """Open, keep or supersede the review cases of the students of one run. Returns the cases opened."""
    now = utcnow()
    opened = 0
    with session_scope(engine) as session:
        existing = repo.open_cases(session, [(s.system.value, s.student_id) for s in students])
        for student, decision in zip(students, decisions, strict=True):
            key = (student.system.value, student.student_id)
            case = existing.get(key)
            wants = decision.outcome is Outcome.IN_REVIEW and decision.candidates
            if not wants:
                if case is not None:
                    case.status, case.updated_at = CaseStatus.SUPERSEDED.value, now
                continue
            sfp, cfp = fingerprint(student), candidates_fingerprint(decision.candidates)
            if case is not None and case.student_fingerprint == sfp and case.candidates_fingerprint == cfp:
                case.updated_at = now
                continue
            if case is not None:
                case.status, case.updated_at = CaseStatus.SUPERSEDED.value, now
            repo.add(session, ReviewCaseRow(
                id=str(uuid.uuid4()), system=key[0], student_id=key[1], status=CaseStatus.OPEN.value,
                reason=decision.review_reason or "conflict", detail=(decision.detail or "")[:300] or None,
                student_fingerprint=sfp, candidates_fingerprint=cfp, student_json=_snapshot(student),
                candidates_json=_candidates_json(decision.candidates), sync_run_id=run_id, created_at=now,
                updated_at=now))
            opened += 1
    return opened


# ---- the API ----------------------------------------------------------------------------------------


def _summary(row: ReviewCaseRow) -> CaseSummary:
    return CaseSummary(id=row.id, system=SourceSystem(row.system), student_id=row.student_id,
                       status=CaseStatus(row.status), reason=row.reason, detail=row.detail,
                       candidates=len(json.loads(row.candidates_json)), created_at=as_utc(row.created_at))


def list_cases(session: Session, query: CasesQuery) -> CasePage:
    after = None
    if query.cursor:
        cursor = Cursor.decode(query.cursor)
        if len(cursor.key) > 36:
            raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
        after = (cursor.at, cursor.key)
    rows = repo.page_cases(session, query.status.value, after, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = Cursor(as_utc(rows[-1].created_at), rows[-1].id).encode() if more and rows else None
    return CasePage(items=[_summary(r) for r in rows], next_cursor=next_cursor)


def _agreement(a: str | None, b: str | None, kind: str) -> str:
    if not a or not b:
        return "missing"
    if kind == "name":
        sim = names.similarity(a, b)
        return "exact" if sim >= 0.999 else f"similar {sim:.2f}" if sim >= 0.80 else f"differs {sim:.2f}"
    return "exact" if a == b else "differs"


def _fields(student: StudentSnapshot, member: replica_repo.ReplicaAnggotaRow | None, no_kk: str,
            old_kks: set[str]) -> list[FieldAgreement]:
    out = [FieldAgreement(field="no_kk", student=student.no_kk, candidate=no_kk,
                          agreement="exact" if normalise_nik(student.no_kk) == no_kk else
                          "former KK number" if normalise_nik(student.no_kk) in old_kks else
                          _agreement(student.no_kk, no_kk, "id"))]
    if member is None:
        return out
    dob_s, dob_c = student.tanggal_lahir.isoformat(), member.tanggal_lahir.isoformat()
    near = abs((student.tanggal_lahir - member.tanggal_lahir).days) <= 1
    out += [
        FieldAgreement(field="nama", student=student.nama, candidate=member.nama,
                       agreement=_agreement(student.nama, member.nama, "name")),
        FieldAgreement(field="tanggal_lahir", student=dob_s, candidate=dob_c,
                       agreement="exact" if dob_s == dob_c else "a day apart" if near else "differs"),
        FieldAgreement(field="jenis_kelamin", student=student.jenis_kelamin, candidate=member.jenis_kelamin,
                       agreement=_agreement(student.jenis_kelamin, member.jenis_kelamin, "id")),
        FieldAgreement(field="nama_ibu_kandung", student=student.nama_ibu_kandung, candidate=member.nama_ibu_kandung,
                       agreement=_agreement(student.nama_ibu_kandung, member.nama_ibu_kandung, "name")),
        FieldAgreement(field="nik", student=student.nik, candidate=member.nik,
                       agreement=_agreement(normalise_nik(student.nik), member.nik, "id")),
    ]
    return out


def _best_member(student: StudentSnapshot, members: list[replica_repo.ReplicaAnggotaRow],
                 nik: str | None) -> replica_repo.ReplicaAnggotaRow | None:
    if nik:
        for m in members:
            if m.nik == nik:
                return m
    if not members:
        return None
    return max(members, key=lambda m: (names.similarity(student.nama, m.nama)
                                       - abs((student.tanggal_lahir - m.tanggal_lahir).days) / 3650))


def _decision_view(r: ReviewDecisionRow) -> DecisionView:
    return DecisionView(id=r.id, case_id=r.case_id, system=SourceSystem(r.system), student_id=r.student_id,
                        verdict=Verdict.LINK if r.link else Verdict.NO_LINK, no_kk=r.no_kk, reviewer=r.reviewer,
                        reason=r.reason, decided_at=as_utc(r.decided_at),
                        reversed_at=as_utc(r.reversed_at) if r.reversed_at else None, reversed_by=r.reversed_by,
                        reversal_reason=r.reversal_reason)


def get_case(session: Session, case_id: str) -> CaseView:
    row = repo.get_case(session, case_id)
    if row is None:
        raise NotFound("no review case with this id")
    student = StudentSnapshot.model_validate_json(row.student_json)
    cands = json.loads(row.candidates_json)
    members = replica_repo.members_of(session, [c["no_kk"] for c in cands])
    views = []
    for c in cands:
        fam = replica_repo.family(session, c["no_kk"])
        own = [m for m in members if m.no_kk == c["no_kk"]]
        member = _best_member(student, own, c.get("nik"))
        old = {r.old_kk for r in replica_repo.kk_lama_of(session, c["no_kk"])}
        views.append(CandidateView(
            no_kk=c["no_kk"], family_version=c["version"], kode_wilayah=fam.kode_wilayah if fam else None,
            pkh_status=fam.pkh_status if fam else None, person_nik=member.nik if member else None,
            probability=c.get("probability"), weight=c.get("weight"),
            evidence={k: str(v) for k, v in (c.get("evidence") or {}).items()},
            fields=_fields(student, member, c["no_kk"], old)))
    decisions = [_decision_view(d) for d in repo.decisions_for(session, row.system, row.student_id)]
    return CaseView(**_summary(row).model_dump(), student=student, candidate_families=views, decisions=decisions)


def decide(session: Session, case_id: str, reviewer: str, body: DecisionCreate) -> DecisionView:
    row = repo.get_case(session, case_id, lock=True)
    if row is None:
        raise NotFound("no review case with this id")
    if row.status != CaseStatus.OPEN.value:
        raise Conflict(f"the review case is {row.status}, not OPEN")
    cands = {c["no_kk"]: c for c in json.loads(row.candidates_json)}
    version = None
    if body.verdict is Verdict.LINK:
        if not body.no_kk:
            raise InvalidInput.field("no_kk", "required", "a link names the candidate family's no_kk")
        if body.no_kk not in cands:
            raise InvalidInput.field("no_kk", "not_a_candidate", "no_kk is not one of this case's candidates")
        version = int(cands[body.no_kk]["version"])
    elif body.no_kk:
        raise InvalidInput.field("no_kk", "not_allowed", "no_link names no family")
    now = utcnow()
    decision = ReviewDecisionRow(
        id=str(uuid.uuid4()), case_id=row.id, system=row.system, student_id=row.student_id,
        link=body.verdict is Verdict.LINK, no_kk=body.no_kk, family_version=version,
        student_fingerprint=row.student_fingerprint, candidates_fingerprint=row.candidates_fingerprint,
        reviewer=reviewer, reason=body.reason, decided_at=now)
    repo.add(session, decision)
    row.status, row.updated_at = CaseStatus.DECIDED.value, now
    _decide_again(session, row.system, row.student_id, now)
    return _decision_view(decision)


def _decide_again(session: Session, system: str, student_id: str, at: datetime) -> None:
    """The next run plans the student's region again (a decision, or its reversal, changes its outcome)."""
    mirror_repo.ask_refetch(session, system, {student_id}, at)


def reverse(session: Session, decision_id: str, reviewer: str, body: ReversalCreate) -> DecisionView:
    row = repo.get_decision(session, decision_id, lock=True)
    if row is None:
        raise NotFound("no review decision with this id")
    if row.reversed_at is not None:
        raise Conflict("the review decision was already reversed")
    row.reversed_at, row.reversed_by, row.reversal_reason = utcnow(), reviewer, body.reason
    _decide_again(session, row.system, row.student_id, row.reversed_at)
    session.flush()
    return _decision_view(row)


def case_access(view: CaseView) -> Access:
    """What a case view shows of people: the student's and parents' NIKs, KK numbers, the candidates'."""
    access = Access(records=[("review_case", view.id), (f"{view.system.value}_student", view.student_id)])
    s = view.student
    access.nik(s.nik, s.nik_ibu, s.nik_ayah, *(c.person_nik for c in view.candidate_families))
    access.kk(s.no_kk, *(c.no_kk for c in view.candidate_families), *(d.no_kk for d in view.decisions))
    return access


def decisions_access(views: list[DecisionView]) -> Access:
    access = Access(records=[("review_decision", v.id) for v in views]
                    + sorted({(f"{v.system.value}_student", v.student_id) for v in views}))
    access.kk(*(v.no_kk for v in views))
    return access


def decisions_for(session: Session, system: SourceSystem, student_id: str) -> list[DecisionView]:
    return [_decision_view(d) for d in repo.decisions_for(session, system.value, student_id)]
