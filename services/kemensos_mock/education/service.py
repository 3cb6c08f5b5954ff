"""Education verification rules: idempotent per (child, period), newest facts win, history kept; the PKH
education commitment of a family read from them.

An item is compared with what the registry holds for its (nik_anak, periode). Facts are ordered by
``(observed_at, version)``: an item ordered before the stored one is STALE (nothing stored); an item with
the same facts as the stored one is UNCHANGED (nothing stored, whatever its order: a repeated item, or
the same facts observed again); otherwise it is APPLIED: it becomes the current verification and is
appended to the history (an item ordered equal to the stored one but with other facts is applied too:
the hub gives changed facts a new ``version``). The facts are enrolled, active, the school, the months of
attendance and the remark; the provenance is kept with them but does not make facts differ. A NIK that
is no member of the registry is NOT_FOUND and not stored. Items are applied in request order, so a batch
naming the same child and period twice behaves like two batches.

The commitment (PKH, 85% rule): a child meets it when the current verification of the period says
enrolled and active with at least one month reported and every month at 85% or more.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.kemensos_mock.education import repository as repo
from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.storage import utcnow
from shared.contracts.kemensos import (
    AlasanKomitmen,
    KehadiranTercatat,
    KomitmenAnak,
    KomitmenKeluarga,
    KomitmenPendidikan,
    KomitmenPendidikanRequest,
    KomitmenPendidikanResponse,
    KomponenPkh,
    ProvenansiTercatat,
    StatusPkh,
    StatusVerifikasi,
    SumberPendidikan,
    VerifikasiPendidikan,
    VerifikasiPendidikanAnak,
    VerifikasiPendidikanBatch,
    VerifikasiPendidikanBatchResponse,
    VerifikasiPendidikanItemStatus,
    VerifikasiPendidikanTercatat,
)
from shared.errors import InvalidInput
from shared.nik import mask

log = logging.getLogger("jembatan.kemensos.education")

CLOCK_SKEW = timedelta(minutes=5)  # an observed_at further in the future than this is refused
UNIQUE_KEY = "uq_verifikasi_pendidikan_nik_anak_periode"  # one current row per child and period
WRITE_ATTEMPTS = 3  # a batch whose first write of a key another batch won is decided again (each time it waited)
_FACTS = ("enrolled", "active", "npsn", "nsm", "sumber", "kehadiran", "keterangan")
EDUCATION = {KomponenPkh.SD.value, KomponenPkh.SMP.value, KomponenPkh.SMA.value}
SCHOOL_AGE = (6, 21)  # PKH education: children 6-21 who have not completed 12 years of schooling


def _values(item: VerifikasiPendidikan) -> dict[str, Any]:
    p = item.provenance
    return {"enrolled": item.enrolled, "active": item.active, "npsn": item.npsn, "nsm": item.nsm,
            "sumber": item.sumber.value if item.sumber else None,
            "kehadiran": [m.model_dump() for m in item.kehadiran], "keterangan": item.keterangan,
            "provenance_id": p.provenance_id, "source_system": p.source_system.value,
            "source_record": p.source_record, "source_version": p.source_version, "observed_seq": p.observed_seq,
            "observed_at": item.observed_at, "version": item.version}


def put_batch(session: Session, batch: VerifikasiPendidikanBatch, client: str,
              prefix: str = "items") -> VerifikasiPendidikanBatchResponse:
    """Check every item, then apply them in order. ``prefix`` names the items in a 422 (``items[i]``, or
    nothing for the single-item route). Written set-wise: the batch's new current rows and its history rows in
    one bulk insert each (``shared.bulk``: COPY on PostgreSQL), a stored row that changes by the ORM."""
    now = utcnow()
    for index, item in enumerate(batch.items):  # checked before anything is written
        if item.observed_at > now + CLOCK_SKEW:
            field = f"{prefix}[{index}].observed_at" if prefix else "observed_at"
            raise InvalidInput.field(field, "in_future", "observed_at is in the future")
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                results = _write(session, batch, client, now)
            break
        except sa.exc.IntegrityError as exc:
            if attempt == WRITE_ATTEMPTS or not _first_write_lost(exc):
                raise
            session.expire_all()  # what the savepoint read is gone with it
            log.info("education verification from %s: another batch first wrote a key of this one; again", client)
    response = VerifikasiPendidikanBatchResponse(results=results)
    log.info("education verification from %s: %d items, %d applied, %d unchanged, %d stale, %d not found",
             client, len(results), *(response.count(s) for s in StatusVerifikasi))
    return response


def _write(session: Session, batch: VerifikasiPendidikanBatch, client: str,
           now: datetime) -> list[VerifikasiPendidikanItemStatus]:
    """Decide every item against what is stored (the stored rows locked: a second writer of a key waits, then reads
    what the first stored) and write the batch."""
    known = repo.known_niks(session, {i.nik_anak for i in batch.items})
    stored: dict[tuple[str, str], Any] = dict(repo.current(session, {(i.nik_anak, i.periode) for i in batch.items},
                                                           lock=True))
    created: dict[tuple[str, str], dict[str, Any]] = {}  # current rows this batch adds (a later item may replace)
    history: list[dict[str, Any]] = []
    results: list[VerifikasiPendidikanItemStatus] = []
    for item in batch.items:
        status = _apply(item, known, stored, created, history, client, now)
        results.append(VerifikasiPendidikanItemStatus(nik_anak=item.nik_anak, periode=item.periode, status=status))
    repo.insert_current(session, list(created.values()))
    repo.insert_history(session, history)
    return results


def _first_write_lost(error: sa.exc.IntegrityError) -> bool:
    """Whether the unique index of (child, period) refused a first write: a key no row held when this batch read,
    written meanwhile by another batch that committed first (PostgreSQL made this one wait for it). The batch is
    decided again, against that row."""
    return getattr(getattr(error.orig, "diag", None), "constraint_name", None) == UNIQUE_KEY


def _apply(item: VerifikasiPendidikan, known: set[str], stored: dict[tuple[str, str], Any],
           created: dict[tuple[str, str], dict[str, Any]], history: list[dict[str, Any]], client: str,
           now: datetime) -> StatusVerifikasi:
    """``stored``: the current row of each key, a ``VerifikasiRow`` of the session or the values of one this batch
    created (also in ``created``, inserted after the batch); an APPLIED item appends its history row."""
    if item.nik_anak not in known:
        log.info("education verification for %s: not in the registry", mask(item.nik_anak))
        return StatusVerifikasi.NOT_FOUND
    key = (item.nik_anak, item.periode)
    values = _values(item)
    row = stored.get(key)
    if row is not None:
        held = row if isinstance(row, dict) else {f: getattr(row, f) for f in (*_FACTS, "observed_at", "version")}
        if (held["observed_at"], held["version"]) > (item.observed_at, item.version):
            return StatusVerifikasi.STALE
        if all(held[f] == values[f] for f in _FACTS):
            return StatusVerifikasi.UNCHANGED
    values.update(nik_anak=item.nik_anak, periode=item.periode, received_at=now, client=client)
    if row is None or isinstance(row, dict):  # new in this batch
        stored[key] = created[key] = dict(values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    history.append(values)
    return StatusVerifikasi.APPLIED


def _public(row: VerifikasiRow | VerifikasiRiwayatRow) -> VerifikasiPendidikanTercatat:
    return VerifikasiPendidikanTercatat(
        periode=row.periode, enrolled=row.enrolled, active=row.active, npsn=row.npsn, nsm=row.nsm,
        sumber=SumberPendidikan(row.sumber) if row.sumber else None,
        kehadiran=[KehadiranTercatat.model_validate(m) for m in row.kehadiran or []], keterangan=row.keterangan,
        provenance=ProvenansiTercatat(
            provenance_id=row.provenance_id, source_record=row.source_record,
            source_system=SumberPendidikan(row.source_system) if row.source_system else None,
            source_version=row.source_version, observed_seq=row.observed_seq),
        observed_at=row.observed_at, version=row.version, received_at=row.received_at, client=row.client)


def of_child(session: Session, nik: str) -> VerifikasiPendidikanAnak:
    """What the registry holds for one child (empty lists when nothing was received)."""
    rows, history = repo.of_child(session, nik)
    return VerifikasiPendidikanAnak(nik_anak=nik, current=[_public(r) for r in rows],
                                    history=[_public(r) for r in history])


# ---- the family's PKH education commitment -------------------------------------------------------


def _child(nik: str, komponen: str | None, row: VerifikasiRow | None) -> KomitmenAnak:
    komponen_ = KomponenPkh(komponen) if komponen else None
    if row is None:
        return KomitmenAnak(nik_anak=nik, komponen=komponen_, status=KomitmenPendidikan.NO_VERIFICATION,
                            reasons=[AlasanKomitmen.NO_VERIFICATION], bulan_di_bawah_85=[], observed_at=None)
    below = [m["bulan"] for m in row.kehadiran or [] if not m["memenuhi_85"]]
    reasons = []
    if not row.enrolled:
        reasons.append(AlasanKomitmen.NOT_ENROLLED)
    elif not row.active:
        reasons.append(AlasanKomitmen.NOT_ACTIVE)
    if below:
        reasons.append(AlasanKomitmen.ATTENDANCE_BELOW_85)
    if reasons:
        status = KomitmenPendidikan.NOT_MET
    elif not row.kehadiran:
        status, reasons = KomitmenPendidikan.NO_VERIFICATION, [AlasanKomitmen.NO_ATTENDANCE]
    else:
        status = KomitmenPendidikan.MET
    return KomitmenAnak(nik_anak=nik, komponen=komponen_, status=status, reasons=reasons,
                        bulan_di_bawah_85=below, observed_at=row.observed_at)


def _family(no_kk: str, children: list[KomitmenAnak]) -> KomitmenKeluarga:
    statuses = {c.status for c in children}
    if KomitmenPendidikan.NOT_MET in statuses:
        status = KomitmenPendidikan.NOT_MET
    elif KomitmenPendidikan.NO_VERIFICATION in statuses or not children:
        status = KomitmenPendidikan.NO_VERIFICATION
    else:
        status = KomitmenPendidikan.MET
    return KomitmenKeluarga(no_kk=no_kk, status=status, anak=children)


def family_commitment(session: Session, request: KomitmenPendidikanRequest) -> KomitmenPendidikanResponse:
    """Per family: is the PKH education commitment of the period met? The children counted are the
    family's PKH beneficiaries of an education component (SD/SMP/SMA) in the period; when the PKH record
    names none (components only), the family's children (ANAK) of school age (6-21) that year."""
    tahun, tahap = int(request.periode[:4]), int(request.periode[-1])
    current_kk = repo.current_kk(session, set(request.no_kk))
    pkh = repo.pkh_of(session, set(current_kk.values()), tahun, tahap)
    by_komponen: dict[str, list[tuple[str, str | None]]] = {}
    unnamed: set[str] = set()
    for kk, row in pkh.items():
        if row.status != StatusPkh.AKTIF.value or not EDUCATION & set(row.komponen):
            continue
        named = [(p["nik"], p["komponen"]) for p in row.penerima or []
                 if p.get("komponen") in EDUCATION and p.get("nik")]
        if named:
            by_komponen[kk] = named
        else:
            unnamed.add(kk)
    for kk, nik in repo.children_of(session, unnamed, tahun - SCHOOL_AGE[1], tahun - SCHOOL_AGE[0]):
        by_komponen.setdefault(kk, []).append((nik, None))
    for kk in unnamed:
        by_komponen.setdefault(kk, [])
    rows = repo.current_for(session, {nik for children in by_komponen.values() for nik, _ in children},
                            request.periode)
    results = []
    for asked in request.no_kk:
        kk = current_kk.get(asked)
        if kk is None:
            results.append(KomitmenKeluarga(no_kk=asked, status=KomitmenPendidikan.NOT_FOUND, anak=[]))
        elif kk not in by_komponen:
            results.append(KomitmenKeluarga(no_kk=asked, status=KomitmenPendidikan.NOT_APPLICABLE, anak=[]))
        else:
            results.append(_family(asked, [_child(nik, k, rows.get(nik)) for nik, k in by_komponen[kk]]))
    return KomitmenPendidikanResponse(periode=request.periode, results=results)
