"""Identity search route. Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.kemensos_mock.deps import API_DEPENDENCIES, SessionDep
from services.kemensos_mock.identity import service
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid
from shared.contracts.kemensos import IdentitySearchRequest, IdentitySearchResponse

router = APIRouter(prefix="/api/v1", tags=["identity"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})

_PERSON = {"nik": "3201014705120001", "nama": "SITI RAHAYU", "jenis_kelamin": "P", "tempat_lahir": "BOGOR",
           "tanggal_lahir": "2012-05-07", "nama_ibu_kandung": "SRI WAHYUNI", "hubungan_keluarga": "ANAK"}
_FAMILY = {"no_kk": "3201010101260001", "kode_wilayah": "3201011001", "desil": 1, "dtsen_triwulan": "2026-Q2",
           "no_kks": None, "version": 1017, "updated_at": "2026-07-30T10:00:00Z",
           "pkh": {"status": "AKTIF", "komponen": ["SD"], "periode": "2026 tahap II", "tahun": 2026, "tahap": 2}}


@router.post(
    "/identity/search",
    response_model=IdentitySearchResponse,
    summary="Find registry people by name, birth date and region (fallback matching)",
    description=(
        "For records without a usable NIK. Up to 1,000 queries per call, answered **in request order**. Each "
        "query names a person (`nama`), a birth date (`tanggal_lahir`) or only a year (`tahun_lahir`), a "
        "region prefix of the family's address (`kode_wilayah`, 2-6 digits) and optionally the mother's "
        "name and the sex.\\n\\n"
        "Candidates come from the query's block: people born in that year whose family lives under the "
        "prefix (an index on birth year + region). Within the block they are ranked by a weighted agreement "
        "of name (after normalising titles, Muhammad/M., old spellings), birth date (a swapped day and month "
        "or one day off still counts for something), mother's name and sex. At most `max_candidates` (≤ 5) "
        "scoring at least `min_score` come back, each with its `score`, the fields that `agreed`, the "
        "person and the family with its latest PKH. A block of more than 20,000 people is not ranked "
        "(`detail` asks for a longer prefix): the answer is never a listing of the registry."
    ),
    responses={200: {"content": {"application/json": {"example": {
        "observed_seq": 1042, "dtsen_triwulan": "2026-Q2", "retrieved_at": "2026-08-01T03:15:00Z",
        "results": [
            {"ref": "siswa-17", "block_size": 41, "detail": None, "candidates": [
                {"score": 0.9625, "agreed": ["nama", "tahun_lahir", "nama_ibu_kandung", "jenis_kelamin",
                                             "kode_wilayah"], "person": _PERSON, "family": _FAMILY}]},
            {"ref": "siswa-18", "block_size": 12, "detail": None, "candidates": []},
        ]}}}},
        422: invalid("queries[0]", "birth_required", "give tanggal_lahir or tahun_lahir")},
)
def search_identities(
    session: SessionDep,
    body: Annotated[IdentitySearchRequest, Body(openapi_examples={
        "siswa": {"summary": "A student without NIK, mother's name known", "value": {"queries": [
            {"ref": "siswa-17", "nama": "St. Rahayu", "tanggal_lahir": "2012-07-05", "nama_ibu_kandung": "SRI WAHYUNI",
             "jenis_kelamin": "P", "kode_wilayah": "320101"},
            {"ref": "siswa-18", "nama": "MOCH. FAUZI", "tahun_lahir": 2010, "kode_wilayah": "3201"}]}},
    })],
) -> IdentitySearchResponse:
    return service.search(session, body)
