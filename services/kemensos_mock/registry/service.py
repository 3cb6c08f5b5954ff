"""Registry rules: bulk NIK lookup, family read, admin edits, and the row -> contract mapping."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from services.kemensos_mock.registry import repository as repo
from services.kemensos_mock.registry.models import AnggotaRow, KeluargaRow, PkhRow
from services.kemensos_mock.registry.schemas import KeluargaUpdate
from services.kemensos_mock.storage import reject_unstorable, utcnow
from shared.contracts.common import JenisKelamin
from shared.contracts.kemensos import (
    Anggota,
    AnggotaKeluargaRecord,
    HubunganKeluarga,
    Keluarga,
    KeluargaDetail,
    KeluargaDihapusChange,
    KomponenPkh,
    NikLookupResponse,
    NikLookupResult,
    Pkh,
    PkhRecord,
    StatusPkh,
)
from shared.errors import Conflict, NotFound
from shared.nik import mask

log = logging.getLogger("jembatan.kemensos.registry")

TAHAP = {1: "I", 2: "II", 3: "III", 4: "IV"}


# ---- mapping ---------------------------------------------------------------------------------


def periode(tahun: int, tahap: int) -> str:
    """``2026 tahap III``: how Kemensos names a PKH stage."""
    return f"{tahun} tahap {TAHAP[tahap]}"


def to_pkh(row: PkhRow) -> Pkh:
    return Pkh(status=StatusPkh(row.status), komponen=[KomponenPkh(k) for k in row.komponen],
               periode=periode(row.tahun, row.tahap), tahun=row.tahun, tahap=row.tahap)


def to_anggota(row: AnggotaRow) -> Anggota:
    return Anggota(nik=row.nik, nama=row.nama, jenis_kelamin=JenisKelamin(row.jenis_kelamin),
                   tempat_lahir=row.tempat_lahir, tanggal_lahir=row.tanggal_lahir,
                   nama_ibu_kandung=row.nama_ibu_kandung,
                   hubungan_keluarga=HubunganKeluarga(row.hubungan_keluarga))


def _state(row: KeluargaRow, pkh: PkhRow | None) -> tuple[int, datetime]:
    """A family's version is its last change *including its latest PKH membership*: the answer a client
    gets changes when either does, so the version it records must too."""
    if pkh is not None and pkh.version > row.version:
        return pkh.version, pkh.updated_at
    return row.version, row.updated_at


def to_keluarga(row: KeluargaRow, pkh: PkhRow | None) -> Keluarga:
    version, updated_at = _state(row, pkh)
    return Keluarga(no_kk=row.no_kk, kode_wilayah=row.kode_wilayah, desil=row.desil,
                    dtsen_triwulan=row.dtsen_triwulan, no_kks=row.no_kks, version=version,
                    updated_at=updated_at, pkh=to_pkh(pkh) if pkh else None)


def default_triwulan(at: datetime) -> str:
    return f"{at.year}-Q{(at.month - 1) // 3 + 1}"


# ---- reads -----------------------------------------------------------------------------------


def lookup_niks(session: Session, niks: Sequence[str]) -> NikLookupResponse:
    """Answer each requested NIK in request order (a repeated NIK is answered each time).

    Two IN queries whatever the number of NIKs: members joined with their families, then the latest PKH
    membership of those families.
    """
    seq = repo.observed_seq(session)  # first: the data read below reflects at least this sequence
    retrieved_at = utcnow()
    wanted = list(dict.fromkeys(niks))
    found = {m.nik: (m, k) for m, k in repo.members_with_family(session, wanted)}
    latest = repo.latest_pkh(session, {k.no_kk for _, k in found.values()})
    families: dict[str, Keluarga] = {}
    results: list[NikLookupResult] = []
    for nik in niks:
        hit = found.get(nik)
        if hit is None:
            results.append(NikLookupResult(nik=nik, found=False))
            continue
        member, fam = hit
        if fam.no_kk not in families:
            families[fam.no_kk] = to_keluarga(fam, latest.get(fam.no_kk))
        results.append(NikLookupResult(nik=nik, found=True, person=to_anggota(member),
                                       family=families[fam.no_kk]))
    log.info("nik lookup: %d asked (%d distinct), %d found, observed_seq=%d",
             len(niks), len(wanted), len(found), seq)
    return NikLookupResponse(observed_seq=seq,
                             dtsen_triwulan=repo.current_triwulan(session) or default_triwulan(retrieved_at),
                             retrieved_at=retrieved_at, results=results)


def _detail(session: Session, row: KeluargaRow) -> KeluargaDetail:
    history = repo.pkh_history(session, row.no_kk)
    base = to_keluarga(row, history[0] if history else None)
    assert row.id is not None
    return KeluargaDetail(**base.model_dump(), alamat=row.alamat,
                          anggota=[to_anggota(m) for m in repo.members_of(session, row.no_kk)],
                          pkh_riwayat=[to_pkh(p) for p in history], no_kk_lama=repo.past_kks(session, row.id))


def get_keluarga(session: Session, no_kk: str) -> KeluargaDetail:
    """The family holding ``no_kk`` now, or else the family that held it before (its answer then carries
    the current number in ``no_kk`` and the asked one in ``no_kk_lama``)."""
    row = repo.family(session, no_kk) or repo.family_by_past_kk(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds or held this KK number")
    return _detail(session, row)


# ---- admin edits (the registry changing over time) -------------------------------------------


def update_keluarga(session: Session, no_kk: str, change: KeluargaUpdate) -> KeluargaDetail:
    reject_unstorable(change)
    row = repo.family(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    fields = change.model_dump(exclude_unset=True)
    new_kk = fields.pop("no_kk", None)
    if new_kk is not None and new_kk != row.no_kk:
        if repo.family(session, new_kk) is not None:
            raise Conflict.field("no_kk", "unique", "another family already holds the new KK number")
        held = repo.family_by_past_kk(session, new_kk)
        if held is not None and held.id != row.id:
            raise Conflict.field("no_kk", "unique", "another family held the new KK number before; KK numbers "
                                 "are never reused")
    versions = repo.take_versions(session, 1)
    if new_kk is not None and new_kk != row.no_kk:
        repo.change_kk(session, row, new_kk, versions.last, versions.at)
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
    row = repo.family(session, record.no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    versions = repo.take_versions(session, 1)
    pkh = repo.pkh_of(session, record.no_kk, record.tahun, record.tahap)
    komponen = [k.value for k in record.komponen]
    if pkh is None:
        pkh = PkhRow(no_kk=record.no_kk, tahun=record.tahun, tahap=record.tahap, status=record.status.value,
                     komponen=komponen, version=versions.last, created_at=versions.at, updated_at=versions.at)
    else:
        pkh.status, pkh.komponen = record.status.value, komponen
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
    row = repo.family(session, no_kk)
    if row is None:
        raise NotFound.field("no_kk", "not_found", "no family in the registry holds this KK number")
    versions = repo.take_versions(session, 1)
    repo.remove_family(session, row, versions.last, versions.at)
    log.info("family %s removed (version %d)", mask(no_kk), versions.last)
    return KeluargaDihapusChange(no_kk=no_kk, version=versions.last, updated_at=versions.at)
