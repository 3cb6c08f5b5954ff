"""Education verification routes: intake from the hub (one or a batch), read per child and per family.
Parse and delegate only. No NIK or KK number is ever part of a URL: searches are POSTs with a body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from services.kemensos_mock.deps import API_DEPENDENCIES, ClientDep, SessionDep, WriteSessionDep
from services.kemensos_mock.education import service
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid
from shared.contracts.kemensos import (
    KomitmenPendidikanRequest,
    KomitmenPendidikanResponse,
    VerifikasiPendidikan,
    VerifikasiPendidikanAnak,
    VerifikasiPendidikanBatch,
    VerifikasiPendidikanBatchResponse,
    VerifikasiPendidikanItemStatus,
    VerifikasiPendidikanSearch,
)

router = APIRouter(prefix="/api/v1/education-verification", tags=["education"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})

ANAK = "3201014705120001"
_MONTHS = [{"bulan": 4, "hari_efektif": 22, "alpa": 0, "izin": 1, "sakit": 1},
           {"bulan": 5, "hari_efektif": 20, "alpa": 4, "izin": 0, "sakit": 0},
           {"bulan": 6, "hari_efektif": 18, "alpa": 0, "izin": 0, "sakit": 0}]
_PROVENANCE = {"provenance_id": "prov-000123", "source_system": "DAPODIK", "source_record": "pd-7a1c",
               "source_version": 4, "observed_seq": 1822}
_ITEM: dict[str, Any] = {
    "nik_anak": ANAK, "periode": "2026-T2", "enrolled": True, "active": True, "npsn": "20212345", "nsm": None,
    "sumber": "DAPODIK", "kehadiran": _MONTHS, "keterangan": "alpa 4 hari di bulan Mei",
    "provenance": _PROVENANCE, "observed_at": "2026-07-01T03:15:00Z", "version": 1}
_PUTUS = {**_ITEM, "periode": "2026-T3", "enrolled": False, "active": False, "npsn": None, "sumber": None,
          "kehadiran": [{"bulan": 7, "hari_efektif": 15, "alpa": 15, "izin": 0, "sakit": 0}],
          "keterangan": "putus sekolah", "observed_at": "2026-10-01T03:15:00Z", "version": 2}
_HELD = [{**{k: v for k, v in _ITEM.items() if k not in ("nik_anak", "kehadiran")},
          "kehadiran": [{**m, "persen_hadir": p, "memenuhi_85": p >= 85} for m, p in zip(_MONTHS, (90.91, 80.0, 100.0),
                                                                                         strict=True)],
          "received_at": "2026-07-01T03:16:00Z", "client": "sync_hub"}]
_RULES = ("Attendance per month (VERKOM): `hari_efektif`, `alpa`, `izin`, `sakit`; the registry computes "
          "`persen_hadir` = (hari_efektif - alpa - izin - sakit) / hari_efektif and `memenuhi_85` (a sender may "
          "send them, and must send the computed values). A malformed item (bad NIK, an unknown field, an "
          "absence count above the effective days, a negative count, a month outside the period or twice, an "
          "active child not enrolled, an enrolled child without a school, `observed_at` in the future) is a "
          "422 naming the field and the rule, and nothing is stored. **Idempotent per (child, period)**: "
          "`APPLIED` (new facts: stored and kept in the history), `UNCHANGED` (the same facts as stored: "
          "nothing stored), `STALE` (ordered by (`observed_at`, `version`) before the stored facts: nothing "
          "stored) or `NOT_FOUND` (the NIK is no member of the registry: not stored).")


@router.put(
    "",
    response_model=VerifikasiPendidikanBatchResponse,
    summary="Receive education verifications from the hub, in a batch (PKH education commitment)",
    description="Up to 1,000 items, all validated before any is applied, then applied in order; each says "
                "whether a child (`nik_anak`) was enrolled and active in a PKH period (`2026-T1`..`2026-T4`), "
                "at which school (`npsn` and/or `nsm`) and the attendance of each month. " + _RULES,
    responses={200: {"content": {"application/json": {"example": {"results": [
        {"nik_anak": ANAK, "periode": "2026-T2", "status": "APPLIED"},
        {"nik_anak": ANAK, "periode": "2026-T2", "status": "UNCHANGED"}]}}}},
        422: invalid("items[0].kehadiran[1]", "absences_exceed_effective_days",
                     "alpa + izin + sakit (23) exceed the effective days (20)")},
)
def put_verifications(
    session: WriteSessionDep,
    client: ClientDep,
    batch: Annotated[VerifikasiPendidikanBatch, Body(openapi_examples={
        "triwulan": {"summary": "One child, PKH stage II 2026 (April-June)", "value": {"items": [_ITEM]}},
        "putus": {"summary": "A child who dropped out in July", "value": {"items": [_PUTUS]}},
    })],
) -> VerifikasiPendidikanBatchResponse:
    return service.put_batch(session, batch, client)


@router.put(
    "/item",
    response_model=VerifikasiPendidikanItemStatus,
    summary="Receive one education verification from the hub",
    description="The batch route with a single item (the body is the item itself). " + _RULES,
    responses={200: {"content": {"application/json": {"example": {
        "nik_anak": ANAK, "periode": "2026-T2", "status": "APPLIED"}}}},
        422: invalid("kehadiran", "month_outside_period", "kehadiran[0].bulan 7 is outside 2026-T2 (months 4, 5, 6)")},
)
def put_verification(
    session: WriteSessionDep,
    client: ClientDep,
    item: Annotated[VerifikasiPendidikan, Body(openapi_examples={
        "triwulan": {"summary": "One child, PKH stage II 2026", "value": _ITEM},
        "putus": {"summary": "A child who dropped out in July", "value": _PUTUS},
    })],
) -> VerifikasiPendidikanItemStatus:
    return service.put_batch(session, VerifikasiPendidikanBatch(items=[item]), client, prefix="").results[0]


@router.post(
    "/search",
    response_model=VerifikasiPendidikanAnak,
    summary="Education verifications of one child (NIK in the body)",
    description="The current verification per period (newest period first) and the history of every state "
                "accepted (newest first). A child without any is answered with empty lists. A search, not a "
                "GET: a NIK is never put in a URL.",
    responses={200: {"content": {"application/json": {"example": {
        "nik_anak": ANAK, "current": _HELD, "history": _HELD}}}},
        422: invalid("nik_anak", "string_pattern_mismatch", "String should match pattern '^\\\\d{16}$'")},
)
def search_verifications(
    session: SessionDep,
    query: Annotated[VerifikasiPendidikanSearch, Body(openapi_examples={
        "anak": {"summary": "One child", "value": {"nik_anak": ANAK}}})],
) -> VerifikasiPendidikanAnak:
    return service.of_child(session, query.nik_anak)


@router.post(
    "/family-commitment",
    response_model=KomitmenPendidikanResponse,
    summary="PKH education commitment per family for a period (KK numbers in the body)",
    description="For up to 1,000 KK numbers (a number the family held before resolves to it): `MET` (every "
                "education child verified enrolled, active, each reported month at 85% or more), `NOT_MET` "
                "(a child not enrolled, not active, or under 85% in a month: the education component is at "
                "risk; the child's reasons and months say why), `NO_VERIFICATION` (a child, none failing, "
                "with no verification or no month reported), `NOT_APPLICABLE` (no active PKH with an "
                "education component in the period) or `NOT_FOUND`. The children are the family's PKH "
                "beneficiaries of SD/SMP/SMA in the period, or, when the PKH record names none, its children "
                "of school age (6-21).",
    responses={200: {"content": {"application/json": {"example": {"periode": "2026-T2", "results": [
        {"no_kk": "3201010101260001", "status": "NOT_MET", "anak": [
            {"nik_anak": ANAK, "komponen": "SD", "status": "NOT_MET", "reasons": ["ATTENDANCE_BELOW_85"],
             "bulan_di_bawah_85": [5], "observed_at": "2026-07-01T03:15:00Z"}]}]}}}},
        422: invalid("periode", "string_pattern_mismatch", "String should match pattern '^\\\\d{4}-T[1-4]$'")},
)
def family_commitment(
    session: SessionDep,
    request: Annotated[KomitmenPendidikanRequest, Body(openapi_examples={
        "keluarga": {"summary": "Two families, stage II 2026",
                     "value": {"periode": "2026-T2", "no_kk": ["3201010101260001", "3201010101260002"]}}})],
) -> KomitmenPendidikanResponse:
    return service.family_commitment(session, request)
