"""Registry routes: bulk NIK lookup, family read; admin edits. Parse and delegate only. NIKs and KK numbers
travel in JSON bodies, never in a path or query string."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.kemensos_mock.deps import ADMIN_DEPENDENCIES, API_DEPENDENCIES, SessionDep, WriteSessionDep
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, conflict, invalid, not_found, ok
from services.kemensos_mock.registry import reference, service
from services.kemensos_mock.registry.schemas import AnggotaRef, KeluargaEdit, KeluargaRef, PecahKk
from services.kemensos_mock.storage import reject_unstorable
from shared.contracts.kemensos import (
    AnggotaKeluargaRecord,
    BansosRecord,
    KeluargaDetail,
    KeluargaDihapusChange,
    KeluargaSearch,
    NikLookupRequest,
    NikLookupResponse,
    PkhRecord,
    ReferensiPkh,
)

router = APIRouter(prefix="/api/v1", tags=["registry"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=ADMIN_DEPENDENCIES,
                         responses={401: UNAUTHORIZED})

# A NIK or KK number is never put in a URL (paths and query strings end up in access logs, proxies and
# browser histories): every route naming a person or a family takes it in the JSON body.
KK_EXAMPLE = "3201010101260001"

_LOOKUP_EXAMPLE = {
    "observed_seq": 1042,
    "dtsen_triwulan": "2026-Q3",
    "retrieved_at": "2026-08-01T03:15:00Z",
    "results": [
        {"nik": "3201014705120001", "found": True,
         "person": {"nik": "3201014705120001", "nama": "SITI RAHAYU", "jenis_kelamin": "P",
                    "tempat_lahir": "BOGOR", "tanggal_lahir": "2012-05-07", "nama_ibu_kandung": "AMINAH",
                    "hubungan_keluarga": "ANAK"},
         "family": {"no_kk": "3201010101260001", "kode_wilayah": "3201011001", "desil": 2,
                    "dtsen_triwulan": "2026-Q3", "no_kks": None, "version": 1017,
                    "updated_at": "2026-07-30T10:00:00Z",
                    "pkh": {"status": "AKTIF", "komponen": ["SD"], "periode": "2026 tahap III",
                            "tahun": 2026, "tahap": 3}}},
        {"nik": "3578010101900002", "found": False, "person": None, "family": None},
    ],
}


_PERSON = _LOOKUP_EXAMPLE["results"][0]["person"]  # type: ignore[index]
_DETAIL_EXAMPLE = {
    "no_kk": "3201010101260001", "kode_wilayah": "3201011001", "desil": 2, "dtsen_triwulan": "2026-Q3",
    "no_kks": "3201019900000123", "version": 1017, "updated_at": "2026-07-30T10:00:00Z",
    "pkh": {"status": "AKTIF", "komponen": ["SD"], "periode": "2026 tahap III", "tahun": 2026, "tahap": 3,
            "penerima": [{"nik": "3201014705120001", "komponen": "SD"}], "nominal_tahap": 225000},
    "program": [{"program": "BPNT", "status": "AKTIF", "periode": "2026 tahap III", "tahun": 2026, "tahap": 3}],
    "asal_no_kk": None, "alamat": "KP. SUKAMAJU RT 01/02", "anggota": [_PERSON],
    "pkh_riwayat": [{"status": "AKTIF", "komponen": ["SD"], "periode": "2026 tahap III", "tahun": 2026,
                     "tahap": 3, "penerima": [{"nik": "3201014705120001", "komponen": "SD"}],
                     "nominal_tahap": 225000}],
    "no_kk_lama": ["3201010101200009"],
    "riwayat_kk": [{"no_kk_lama": "3201010101200009", "diganti_pada": "2020-01-15T00:00:00Z",
                    "alasan": "PINDAH_DOMISILI"}],
    "program_riwayat": [{"program": "BPNT", "status": "AKTIF", "periode": "2026 tahap III", "tahun": 2026,
                         "tahap": 3}],
}


@router.post(
    "/nik/lookup",
    response_model=NikLookupResponse,
    summary="Look up to 1,000 NIKs in the registry",
    description=(
        "Answers every requested NIK **in request order**; a NIK asked twice is answered twice. A found NIK "
        "carries the person (`Anggota`) and the family (`Keluarga`) with its latest PKH membership "
        "(`periode` like `2026 tahap III`). `observed_seq` is the registry change sequence the answer "
        "reflects; `family.version` is the sequence of the family's last change (its data or its latest "
        "PKH membership). More than 1,000 NIKs, or any item that is not 16 digits, is a 422 naming "
        "`niks` or `niks[i]` and the rule."
    ),
    responses={200: {"content": {"application/json": {"example": _LOOKUP_EXAMPLE}}},
               422: invalid("niks[1]", "string_pattern_mismatch", "String should match pattern '^\\d{16}$'")},
)
def lookup_niks(
    session: SessionDep,
    body: Annotated[NikLookupRequest, Body(openapi_examples={
        "two": {"summary": "Two NIKs", "value": {"niks": ["3201014705120001", "3578010101900002"]}},
    })],
) -> NikLookupResponse:
    return service.lookup_niks(session, body.niks)


@router.post(
    "/keluarga/search",
    response_model=KeluargaDetail,
    summary="Read one family (Kartu Keluarga; the KK number in the body)",
    description=(
        "The family with its members, address, PKH history and past KK numbers. A KK number the family "
        "held before is still found: the answer then has the current number in `no_kk` and the asked one "
        "in `no_kk_lama`. An unknown number is a 404. A search, not a GET: a KK number is never put in a URL."
    ),
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds or held this KK number"),
               422: invalid("no_kk", "string_pattern_mismatch", "String should match pattern '^\\d{16}$'")},
)
def get_keluarga(session: SessionDep, query: Annotated[KeluargaSearch, Body(openapi_examples={
        "kk": {"summary": "One family", "value": {"no_kk": KK_EXAMPLE}}})]) -> KeluargaDetail:
    return service.get_keluarga(session, query.no_kk)


@router.get(
    "/referensi/pkh",
    response_model=ReferensiPkh,
    summary="PKH reference data: components, caps, stages, yearly amounts (dated)",
    description=(
        "What `Pkh.nominal_tahap` is computed from: yearly rupiah per beneficiary per component, with the "
        "dates they are in force (DOMAIN.md §4.2: unchanged 2021-2025), the caps per component, at most 4 "
        "beneficiaries per family, and the months of the four stages."
    ),
    responses={200: ok(reference.referensi().model_dump(mode="json"))},
)
def get_referensi_pkh() -> ReferensiPkh:
    return reference.referensi()


@admin_router.patch(
    "/keluarga",
    response_model=KeluargaDetail,
    summary="Edit a family (admin; its KK number in the body)",
    description=(
        "Changes the fields given in `change` of the family `no_kk` and gives it a new version (it then "
        "appears in the change feed). A new `change.no_kk` keeps the old one in `no_kk_lama`; members and "
        "PKH memberships follow."
    ),
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               409: conflict("change.no_kk", "another family already holds the new KK number"),
               422: invalid("change.desil", "less_than_equal", "Input should be less than or equal to 10")},
)
def update_keluarga(
    session: WriteSessionDep,
    edit: Annotated[KeluargaEdit, Body(openapi_examples={
        "desil": {"summary": "New desil", "value": {"no_kk": KK_EXAMPLE, "change": {"desil": 3}}},
        "pindah": {"summary": "New KK number after a move", "value": {"no_kk": KK_EXAMPLE, "change": {
            "no_kk": "3578010101260099", "kode_wilayah": "3578011001", "alasan_ganti_kk": "PINDAH_DOMISILI"}}},
    })],
) -> KeluargaDetail:
    reject_unstorable(edit.change, prefix="change.")
    return service.update_keluarga(session, edit.no_kk, edit.change)


@admin_router.put(
    "/pkh",
    response_model=KeluargaDetail,
    summary="Set a family's PKH membership for a period (admin)",
    description=(
        "Inserts or replaces the membership of (`no_kk`, `tahun`, `tahap`) with a new version. `penerima` "
        "(optional) names the beneficiaries: at most 4, each a member of the family, within the caps per "
        "component (2 pregnancies, 2 young children, 1 elderly, 1 severe disability; see "
        "`GET /api/v1/referensi/pkh`)."
    ),
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               422: invalid("penerima[0].nik", "not_a_member", "a beneficiary must be a member of the family")},
)
def put_pkh(
    session: WriteSessionDep,
    record: Annotated[PkhRecord, Body(openapi_examples={
        "graduasi": {"summary": "Family graduates", "value": {
            "no_kk": "3201010101260001", "status": "GRADUASI", "komponen": [], "tahun": 2026, "tahap": 4}},
        "penerima": {"summary": "Two beneficiaries", "value": {
            "no_kk": "3201010101260001", "status": "AKTIF", "tahun": 2026, "tahap": 3, "penerima": [
                {"nik": "3201014705120003", "komponen": "SD"}, {"nik": "3201012311100004", "komponen": "SMP"}]}},
    })],
) -> KeluargaDetail:
    return service.put_pkh(session, record)


@admin_router.delete(
    "/keluarga",
    response_model=KeluargaDihapusChange,
    summary="Remove a family from the registry (admin; its KK number in the body)",
    description="Deletes the family with its members and PKH memberships; the change feed carries a "
                "`keluarga_dihapus` item with the returned version.",
    responses={200: ok({"kind": "keluarga_dihapus", "no_kk": "3201010101260001", "version": 1050,
                        "updated_at": "2026-08-01T03:15:00Z"}),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               422: invalid("no_kk", "string_pattern_mismatch", "String should match pattern '^\\d{16}$'")},
)
def delete_keluarga(session: WriteSessionDep, ref: Annotated[KeluargaRef, Body(openapi_examples={
        "kk": {"summary": "One family", "value": {"no_kk": KK_EXAMPLE}}})]) -> KeluargaDihapusChange:
    return service.delete_keluarga(session, ref.no_kk)


@admin_router.put(
    "/anggota",
    response_model=KeluargaDetail,
    summary="Insert, replace or move a family member (admin)",
    description=(
        "Keyed by `nik`. A NIK already in another family moves to `no_kk` (both families take new versions, "
        "the one losing the member first). Answers the family the member is now in."
    ),
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               422: invalid("nik", "string_pattern_mismatch", "String should match pattern '^\\d{16}$'")},
)
def put_anggota(
    session: WriteSessionDep,
    record: Annotated[AnggotaKeluargaRecord, Body(openapi_examples={"bayi": {"summary": "A newborn", "value": {
        "nik": "3201014101260007", "no_kk": "3201010101260001", "nama": "PUTRI AULIA", "jenis_kelamin": "P",
        "tempat_lahir": "BOGOR", "tanggal_lahir": "2026-01-01", "nama_ibu_kandung": "SRI WAHYUNI",
        "hubungan_keluarga": "ANAK"}}})],
) -> KeluargaDetail:
    return service.put_anggota(session, record)


@admin_router.delete(
    "/anggota",
    response_model=KeluargaDetail,
    summary="Remove a family member (admin; the NIK in the body)",
    description="The member leaves the registry (death, a move abroad); the family takes a new version.",
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("nik", "no member of the registry has this NIK"),
               422: invalid("nik", "string_pattern_mismatch", "String should match pattern '^\\d{16}$'")},
)
def delete_anggota(session: WriteSessionDep, ref: Annotated[AnggotaRef, Body(openapi_examples={
        "anggota": {"summary": "One member", "value": {"nik": "3201014705120001"}}})]) -> KeluargaDetail:
    return service.delete_anggota(session, ref.nik)


@admin_router.put(
    "/bansos",
    response_model=KeluargaDetail,
    summary="Set a family's BPNT/Sembako or PBI-JK membership for a period (admin)",
    description="Inserts or replaces the membership of (`no_kk`, `program`, `tahun`, `tahap`); the family takes "
                "a new version (the change feed carries it with its programme statuses).",
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               422: invalid("program", "enum", "Input should be 'PKH', 'BPNT' or 'PBI_JK'")},
)
def put_bansos(
    session: WriteSessionDep,
    record: Annotated[BansosRecord, Body(openapi_examples={"bpnt": {"summary": "BPNT active in stage III", "value": {
        "no_kk": "3201010101260001", "program": "BPNT", "status": "AKTIF", "tahun": 2026, "tahap": 3}}})],
) -> KeluargaDetail:
    return service.put_bansos(session, record)


@admin_router.post(
    "/keluarga/pecah",
    response_model=KeluargaDetail,
    summary="Split members off into a new family (pecah KK, admin)",
    description=(
        "The listed members leave the family for a new one with `no_kk_baru` (never held by any family), "
        "headed by `kepala_keluarga`. The family they leave keeps its number and takes a new version first; "
        "the new family (answered here) records it as `asal_no_kk`."
    ),
    responses={200: ok(_DETAIL_EXAMPLE),
               404: not_found("no_kk", "no family in the registry holds this KK number"),
               409: conflict("no_kk_baru", "a family holds or held this KK number; KK numbers are never reused"),
               422: invalid("anggota[0]", "not_a_member", "not a member of the family that splits")},
)
def pecah_kk(
    session: WriteSessionDep,
    split: Annotated[PecahKk, Body(openapi_examples={"menikah": {"summary": "A son marries and moves out",
                                                                 "value": {"no_kk": KK_EXAMPLE,
        "no_kk_baru": "3201010101260042", "anggota": ["3201012311100004"], "kepala_keluarga": "3201012311100004",
        "alamat": "KP. SUKAMAJU RT 03/02"}}})],
) -> KeluargaDetail:
    return service.pecah_kk(session, split)
