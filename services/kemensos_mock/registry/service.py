"""Registry rules: bulk NIK lookup, family read, admin edits, and the row -> contract mapping."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session

from services.kemensos_mock.registry import reference
from services.kemensos_mock.registry import repository as repo
from services.kemensos_mock.registry.models import AnggotaRow, BansosRow, KeluargaRow, PkhRow
from services.kemensos_mock.registry.schemas import KeluargaUpdate, PecahKk
from services.kemensos_mock.storage import reject_unstorable, utcnow
from shared.contracts.kemensos import (
    AlasanGantiKk,
    Anggota,
    AnggotaKeluargaRecord,
    BansosRecord,
    HubunganKeluarga,
    Keluarga,
    KeluargaDetail,
    KeluargaDihapusChange,
    KomponenPkh,
    NikLookupResponse,
    NikLookupResult,
    Pkh,
    PkhRecord,
    Program,
    RiwayatKk,
    StatusProgram,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.nik import mask

log = logging.getLogger("jembatan.kemensos.registry")

TAHAP = {1: "I", 2: "II", 3: "III", 4: "IV"}


# ---- mapping ---------------------------------------------------------------------------------


def periode(tahun: int, tahap: int) -> str:
    """``2026 tahap III``: how Kemensos names a PKH stage."""
    return f"{tahun} tahap {TAHAP[tahap]}"


# Each mapping has two forms: ``*_data`` gives the contract's fields as plain values in the model's field order
# (enums as their stored text), and ``to_*`` validates them into the model. The change feed's page of 1,000
# families with their members is served from the data (``changes.service.page_data``), without a model per
# family, member and membership.


def pkh_data(row: PkhRow) -> dict[str, Any]:
    komponen = [KomponenPkh(k) for k in row.komponen]
    return {"status": row.status, "komponen": komponen, "periode": periode(row.tahun, row.tahap),
            "tahun": row.tahun, "tahap": row.tahap,
            "penerima": [{"nik": p.get("nik"), "komponen": p["komponen"]} for p in row.penerima or []],
            "nominal_tahap": reference.nominal_tahap(row.tahun, row.tahap, komponen)}


def to_pkh(row: PkhRow) -> Pkh:
    return Pkh.model_validate(pkh_data(row))


def status_data(row: PkhRow | BansosRow) -> dict[str, Any]:
    return {"program": Program.PKH if isinstance(row, PkhRow) else row.program, "status": row.status,
            "periode": periode(row.tahun, row.tahap), "tahun": row.tahun, "tahap": row.tahap}


def to_status(row: PkhRow | BansosRow) -> StatusProgram:
    return StatusProgram.model_validate(status_data(row))


def anggota_data(row: AnggotaRow | Row[Any]) -> dict[str, Any]:
    """From a member row: the table class or a plain row of its table (same attribute names)."""
    return {"nik": row.nik, "nama": row.nama, "jenis_kelamin": row.jenis_kelamin, "tempat_lahir": row.tempat_lahir,
            "tanggal_lahir": row.tanggal_lahir, "nama_ibu_kandung": row.nama_ibu_kandung,
            "hubungan_keluarga": row.hubungan_keluarga}


def to_anggota(row: AnggotaRow | Row[Any]) -> Anggota:
    return Anggota.model_validate(anggota_data(row))


def _state(row: KeluargaRow | Row[Any], pkh: PkhRow | None) -> tuple[int, datetime]:
    """A family's version is its last change *including its latest PKH membership*: the answer a client
    gets changes when either does, so the version it records must too."""
    if pkh is not None and pkh.version > row.version:
        return pkh.version, pkh.updated_at
    return row.version, row.updated_at


def keluarga_data(row: KeluargaRow | Row[Any], pkh: PkhRow | None, bansos: Sequence[BansosRow] = ()
                  ) -> dict[str, Any]:
    """From a family row (the table class or a plain row of its table). ``pkh``: the family's latest PKH
    membership; ``bansos``: its latest BPNT and PBI-JK ones."""
    version, updated_at = _state(row, pkh)
    return {"no_kk": row.no_kk, "kode_wilayah": row.kode_wilayah, "desil": row.desil,
            "dtsen_triwulan": row.dtsen_triwulan, "no_kks": row.no_kks, "version": version,
            "updated_at": updated_at, "pkh": pkh_data(pkh) if pkh else None,
            "program": [status_data(b) for b in sorted(bansos, key=lambda b: b.program)],
            "asal_no_kk": row.asal_no_kk}


def to_keluarga(row: KeluargaRow | Row[Any], pkh: PkhRow | None, bansos: Sequence[BansosRow] = ()) -> Keluarga:
    return Keluarga.model_validate(keluarga_data(row, pkh, bansos))


def default_triwulan(at: datetime) -> str:
    return f"{at.year}-Q{(at.month - 1) // 3 + 1}"


# ---- reads -----------------------------------------------------------------------------------


def lookup_niks(session: Session, niks: Sequence[str]) -> NikLookupResponse:
    """Answer each requested NIK in request order (a repeated NIK is answered each time).

    Four IN queries whatever the number of NIKs: the members, their families, the latest PKH membership
    and the latest BPNT/PBI-JK memberships of those families.
    """
    seq = repo.observed_seq(session)  # first: the data read below reflects at least this sequence
    retrieved_at = utcnow()
    wanted = list(dict.fromkeys(niks))
    found = {m.nik: (m, k) for m, k in repo.members_with_family(session, wanted)}
    latest = repo.latest_pkh(session, {k.no_kk for _, k in found.values()})
    bansos = repo.latest_bansos(session, {k.no_kk for _, k in found.values()})
    families: dict[str, Keluarga] = {}
    results: list[NikLookupResult] = []
    for nik in niks:
        hit = found.get(nik)
        if hit is None:
            results.append(NikLookupResult(nik=nik, found=False))
            continue
        member, fam = hit
        if fam.no_kk not in families:
            families[fam.no_kk] = to_keluarga(fam, latest.get(fam.no_kk), bansos.get(fam.no_kk, ()))
        results.append(NikLookupResult(nik=nik, found=True, person=to_anggota(member),
                                       family=families[fam.no_kk]))
    log.info("nik lookup: %d asked (%d distinct), %d found, observed_seq=%d",
             len(niks), len(wanted), len(found), seq)
    return NikLookupResponse(observed_seq=seq,
                             dtsen_triwulan=repo.current_triwulan(session) or default_triwulan(retrieved_at),
                             retrieved_at=retrieved_at, results=results)


def _detail(session: Session, row: KeluargaRow) -> KeluargaDetail:
    history = repo.pkh_history(session, row.no_kk)
    bansos = repo.bansos_history(session, row.no_kk)
    latest: dict[str, BansosRow] = {}
    for b in bansos:  # newest first: the first of each programme is its latest
        latest.setdefault(b.program, b)
    base = to_keluarga(row, history[0] if history else None, list(latest.values()))
    assert row.id is not None
    past = repo.past_kk_rows(session, row.id)
    return KeluargaDetail(**base.model_dump(), alamat=row.alamat,
                          anggota=[to_anggota(m) for m in repo.members_of(session, row.no_kk)],
                          pkh_riwayat=[to_pkh(p) for p in history], no_kk_lama=[p.no_kk for p in past],
                          riwayat_kk=[RiwayatKk(no_kk_lama=p.no_kk, diganti_pada=p.replaced_at,
                                                alasan=AlasanGantiKk(p.alasan) if p.alasan else None) for p in past],
                          program_riwayat=[to_status(b) for b in bansos])


def get_keluarga(session: Session, no_kk: str) -> KeluargaDetail:
    """The family holding ``no_kk`` now, or else the family that held it before (its answer then carries
    the current number in ``no_kk`` and the asked one in ``no_kk_lama``)."""
    row = repo.family(session, no_kk) or repo.family_by_past_kk(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds or held this KK number")
    return _detail(session, row)


# ---- admin edits (the registry changing over time) -------------------------------------------


def update_keluarga(session: Session, no_kk: str, change: KeluargaUpdate) -> KeluargaDetail:
    repo.begin_edit(session)
    reject_unstorable(change)
    row = repo.family(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    fields = change.model_dump(exclude_unset=True)
    new_kk = fields.pop("no_kk", None)
    if new_kk is not None and new_kk != row.no_kk:
        if repo.family(session, new_kk) is not None:
            raise Conflict.field("change.no_kk", "unique", "another family already holds the new KK number")
        held = repo.family_by_past_kk(session, new_kk)
        if held is not None and held.id != row.id:
            raise Conflict.field("change.no_kk", "unique", "another family held the new KK number before; KK numbers "
                                 "are never reused")
    versions = repo.take_versions(session, 1)
    alasan = fields.pop("alasan_ganti_kk", None)
    if new_kk is not None and new_kk != row.no_kk:
        repo.change_kk(session, row, new_kk, versions.last, versions.at, alasan.value if alasan else None)
        log.info("family %s now has KK %s", mask(no_kk), mask(new_kk))
    for name, value in fields.items():
        setattr(row, name, value)
    row.version, row.updated_at = versions.last, versions.at
    repo.add(session, row)
    if "kode_wilayah" in fields:  # the members' search key follows the family's address
        repo.set_members_region(session, row.no_kk, row.kode_wilayah)
    return _detail(session, row)


def put_pkh(session: Session, record: PkhRecord) -> KeluargaDetail:
    """Insert or replace a family's PKH membership of one period; takes a new version either way."""
    repo.begin_edit(session)
    row = repo.family(session, record.no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    members = {m.nik for m in repo.members_of(session, record.no_kk)}
    for index, penerima in enumerate(record.penerima):
        if penerima.nik is not None and penerima.nik not in members:
            raise InvalidInput.field(f"penerima[{index}].nik", "not_a_member",
                                     "a beneficiary must be a member of the family")
    versions = repo.take_versions(session, 1)
    pkh = repo.pkh_of(session, record.no_kk, record.tahun, record.tahap)
    komponen = [k.value for k in record.komponen]
    penerima = [p.model_dump(mode="json") for p in record.penerima]
    if pkh is None:
        pkh = PkhRow(no_kk=record.no_kk, tahun=record.tahun, tahap=record.tahap, status=record.status.value,
                     komponen=komponen, penerima=penerima, version=versions.last, created_at=versions.at,
                     updated_at=versions.at)
    else:
        pkh.status, pkh.komponen, pkh.penerima = record.status.value, komponen, penerima
        pkh.version, pkh.updated_at = versions.last, versions.at
    repo.add(session, pkh)
    log.info("PKH %s of family %s set to %s (version %d)", periode(record.tahun, record.tahap),
             mask(record.no_kk), record.status.value, versions.last)
    return _detail(session, row)


def put_anggota(session: Session, record: AnggotaKeluargaRecord) -> KeluargaDetail:
    """Insert or replace the member ``nik`` in family ``no_kk``; a member of another family moves.

    Every family whose member list changes takes a new version (so it moves to the change feed's end with
    its members); on a move the family losing the member takes the lower one, so a replica following the
    feed never holds one NIK in two families."""
    repo.begin_edit(session)
    reject_unstorable(record)
    target = repo.family(session, record.no_kk)
    if target is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    row = repo.member(session, record.nik)
    values = record.model_dump(mode="python")
    values["jenis_kelamin"], values["hubungan_keluarga"] = record.jenis_kelamin.value, record.hubungan_keluarga.value
    values["tahun_lahir"], values["kode_wilayah"] = record.tanggal_lahir.year, target.kode_wilayah
    changed = [record.no_kk] if row is None or row.no_kk == record.no_kk else [row.no_kk, record.no_kk]
    versions = repo.take_versions(session, len(changed))
    if row is None:
        row = AnggotaRow(**values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    repo.add(session, row)
    repo.bump_families(session, changed, versions.first, versions.at)
    log.info("member %s set in family %s (version %d)", mask(record.nik), mask(record.no_kk), versions.last)
    return _detail(session, target)


def delete_anggota(session: Session, nik: str) -> KeluargaDetail:
    """Remove a member (death, a move out of the registry); the family takes a new version."""
    repo.begin_edit(session)
    row = repo.member(session, nik)
    if row is None:
        raise NotFound.field("nik", "not_found", "no member of the registry has this NIK")
    family = repo.family(session, row.no_kk)
    assert family is not None  # a member always belongs to a family (foreign key)
    versions = repo.take_versions(session, 1)
    repo.remove_member(session, row)
    repo.bump_families(session, [family.no_kk], versions.first, versions.at)
    log.info("member %s removed from family %s", mask(nik), mask(family.no_kk))
    return _detail(session, family)


def delete_keluarga(session: Session, no_kk: str) -> KeluargaDihapusChange:
    """Remove a family with its members and PKH rows; the change feed carries a tombstone."""
    repo.begin_edit(session)
    row = repo.family(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    versions = repo.take_versions(session, 1)
    repo.remove_family(session, row, versions.last, versions.at)
    log.info("family %s removed (version %d)", mask(no_kk), versions.last)
    return KeluargaDihapusChange(no_kk=no_kk, version=versions.last, updated_at=versions.at)


def put_bansos(session: Session, record: BansosRecord) -> KeluargaDetail:
    """Insert or replace a family's BPNT or PBI-JK membership of one period. The row and the family take
    one new version together (the change feed carries the family with its new programme statuses)."""
    repo.begin_edit(session)
    row = repo.family(session, record.no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    versions = repo.take_versions(session, 1)
    bansos = repo.bansos_of(session, record.no_kk, record.program.value, record.tahun, record.tahap)
    if bansos is None:
        bansos = BansosRow(no_kk=record.no_kk, program=record.program.value, tahun=record.tahun, tahap=record.tahap,
                           status=record.status.value, version=versions.last, created_at=versions.at,
                           updated_at=versions.at)
    else:
        bansos.status, bansos.version, bansos.updated_at = record.status.value, versions.last, versions.at
    repo.add(session, bansos)
    repo.bump_families(session, [record.no_kk], versions.last, versions.at)
    log.info("%s %s of family %s set to %s (version %d)", record.program.value,
             periode(record.tahun, record.tahap), mask(record.no_kk), record.status.value, versions.last)
    return _detail(session, row)


def pecah_kk(session: Session, split: PecahKk) -> KeluargaDetail:
    """Members leave a family for a new one of their own (pecah KK).

    The origin keeps its number and takes the lower version (it loses the members first), the new family
    the next one; the new family's ``asal_no_kk`` names the origin. The members' search region follows the
    new family's address."""
    repo.begin_edit(session)
    reject_unstorable(split)
    no_kk = split.no_kk
    origin = repo.family(session, no_kk)
    if origin is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    if repo.family_holds_or_held(session, split.no_kk_baru):
        raise Conflict.field("no_kk_baru", "unique", "a family holds or held this KK number; KK numbers are "
                             "never reused")
    members = {m.nik: m for m in repo.members_of(session, no_kk)}
    for index, nik in enumerate(split.anggota):
        if nik not in members:
            raise InvalidInput.field(f"anggota[{index}]", "not_a_member", "not a member of the family that splits")
    if len(split.anggota) == len(members):
        raise InvalidInput.field("anggota", "origin_empty", "every member would leave: give the family a new "
                                 "no_kk instead (PATCH)")
    versions = repo.take_versions(session, 2)
    region = split.kode_wilayah or origin.kode_wilayah
    new = KeluargaRow(no_kk=split.no_kk_baru, kode_wilayah=region,
                      alamat=split.alamat if split.alamat is not None else origin.alamat,
                      desil=split.desil if split.desil is not None else origin.desil,
                      dtsen_triwulan=origin.dtsen_triwulan, asal_no_kk=origin.no_kk, version=versions.last,
                      created_at=versions.at, updated_at=versions.at)
    repo.add(session, new)
    repo.move_members(session, split.anggota, split.no_kk_baru, region)
    head = repo.member(session, split.kepala_keluarga)
    assert head is not None
    head.hubungan_keluarga = HubunganKeluarga.KEPALA_KELUARGA.value
    repo.add(session, head)
    repo.bump_families(session, [no_kk], versions.first, versions.at)
    log.info("family %s: %d member(s) split off into %s", mask(no_kk), len(split.anggota), mask(split.no_kk_baru))
    return _detail(session, new)
