"""Identity search rules: block by birth year + region prefix, score by name, birth date, mother, sex.

Fallback matching for students without a usable NIK. The answer is a short ranked list per query (at
most five, each above a name floor and ``min_score``), never a listing of the block.

Score = weighted mean over the fields the query gives:

* ``nama`` (0.45): ``shared.names`` similarity after normalising (titles, Muhammad/M., old spellings...);
  a candidate below ``NAME_FLOOR`` is never returned.
* birth (0.25 with a date): 1 for the same date, 0.7 for day and month swapped or one day off, 0.3 for
  the same year only (the block guarantees the year). With only a year (0.10): 1.
* ``nama_ibu_kandung`` (0.20, when given): similarity; 0.5 when the registry has none.
* ``jenis_kelamin`` (0.10, when given): 1 or 0.

A field "agrees" when names score at least ``AGREE`` or the value is equal; the region always agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from services.kemensos_mock.identity import repository as repo
from services.kemensos_mock.identity.repository import Person
from services.kemensos_mock.registry import repository as registry
from services.kemensos_mock.registry.service import default_triwulan, to_anggota, to_keluarga
from services.kemensos_mock.storage import utcnow
from shared import names
from shared.contracts.kemensos import (
    IdentityCandidate,
    IdentityField,
    IdentityQuery,
    IdentitySearchRequest,
    IdentitySearchResponse,
    IdentitySearchResult,
)

log = logging.getLogger("jembatan.kemensos.identity")

NAME_FLOOR = 0.7
AGREE = 0.85
BLOCK_CAP = 20_000  # people scanned per query at most; a larger block asks for a narrower region
W_NAMA, W_DATE, W_YEAR, W_IBU, W_SEX = 0.45, 0.25, 0.10, 0.20, 0.10


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    name: float
    agreed: tuple[IdentityField, ...]
    member: Person


def _near_date(a: date, b: date) -> bool:
    """One day off, or day and month swapped (the two commonest birth-date slips)."""
    if abs((a - b).days) == 1:
        return True
    try:
        return a == date(b.year, b.day, b.month)
    except ValueError:
        return False


def score(query: IdentityQuery, nama: str, ibu: str | None, member: Person) -> Scored | None:
    """``nama``/``ibu``: the query's names, already normalised. None when the name is below the floor."""
    name = names.normalised_similarity(nama, names.normalise(member.nama))
    if name < NAME_FLOOR:
        return None
    total, weight = W_NAMA * name, W_NAMA
    agreed: list[IdentityField] = [IdentityField.NAMA] if name >= AGREE else []
    if query.tanggal_lahir is not None:
        if member.tanggal_lahir == query.tanggal_lahir:
            birth = 1.0
            agreed.append(IdentityField.TANGGAL_LAHIR)
        else:
            birth = 0.7 if _near_date(query.tanggal_lahir, member.tanggal_lahir) else 0.3
        total, weight = total + W_DATE * birth, weight + W_DATE
    else:
        total, weight = total + W_YEAR, weight + W_YEAR
    agreed.append(IdentityField.TAHUN_LAHIR)
    if ibu:
        theirs = names.normalise(member.nama_ibu_kandung)
        mother = names.normalised_similarity(ibu, theirs) if theirs else 0.5
        if theirs and mother >= AGREE:
            agreed.append(IdentityField.NAMA_IBU_KANDUNG)
        total, weight = total + W_IBU * mother, weight + W_IBU
    if query.jenis_kelamin is not None:
        same = member.jenis_kelamin == query.jenis_kelamin.value
        if same:
            agreed.append(IdentityField.JENIS_KELAMIN)
        total, weight = total + (W_SEX if same else 0.0), weight + W_SEX
    agreed.append(IdentityField.KODE_WILAYAH)
    return Scored(round(total / weight, 4), name, tuple(agreed), member)


def _rank(query: IdentityQuery, people: Sequence[Person], request: IdentitySearchRequest) -> list[Scored]:
    nama = names.normalise(query.nama)
    if not nama:
        return []
    ibu = names.normalise(query.nama_ibu_kandung) if query.nama_ibu_kandung else None
    scored = [s for m in people if (s := score(query, nama, ibu, m)) is not None and s.score >= request.min_score]
    scored.sort(key=lambda s: (-s.score, -s.name, s.member.nik))
    return scored[: request.max_candidates]


def search(session: Session, request: IdentitySearchRequest) -> IdentitySearchResponse:
    """Answer each query in request order. Queries sharing a block (year, prefix) are ranked together, one
    block in memory at a time."""
    seq = registry.observed_seq(session)
    retrieved_at = utcnow()
    by_block: dict[tuple[int, str], list[int]] = {}
    for index, query in enumerate(request.queries):
        by_block.setdefault((query.birth_year, query.kode_wilayah), []).append(index)
    sizes = [0] * len(request.queries)
    ranked: list[list[Scored]] = [[] for _ in request.queries]
    for (year, prefix), indices in by_block.items():
        people = repo.block(session, year, prefix, BLOCK_CAP + 1)
        for index in indices:
            sizes[index] = len(people)
            if len(people) <= BLOCK_CAP:
                ranked[index] = _rank(request.queries[index], people, request)
    rows = repo.members(session, {s.member.id for winners in ranked for s in winners})
    no_kks = {row.no_kk for row in rows.values()}
    families = repo.families(session, no_kks)
    latest = registry.latest_pkh(session, no_kks)
    bansos = registry.latest_bansos(session, no_kks)
    results: list[IdentitySearchResult] = []
    for query, size, winners in zip(request.queries, sizes, ranked, strict=True):
        candidates = []
        for s in winners:
            row = rows[s.member.id]
            candidates.append(IdentityCandidate(score=s.score, agreed=list(s.agreed), person=to_anggota(row),
                                                family=to_keluarga(families[row.no_kk], latest.get(row.no_kk),
                                                                   bansos.get(row.no_kk, ()))))
        detail = None
        if size > BLOCK_CAP:
            detail = f"more than {BLOCK_CAP} people in the block: give a longer kode_wilayah prefix"
        results.append(IdentitySearchResult(ref=query.ref, candidates=candidates, block_size=size, detail=detail))
    log.info("identity search: %d queries, %d blocks, %d with candidates, observed_seq=%d", len(request.queries),
             len(by_block), sum(1 for r in results if r.candidates), seq)
    return IdentitySearchResponse(observed_seq=seq,
                                  dtsen_triwulan=registry.current_triwulan(session) or default_triwulan(retrieved_at),
                                  retrieved_at=retrieved_at, results=results)
