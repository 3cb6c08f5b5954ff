"""Education verification rules: idempotent per (child, period), newest verification wins, history kept.

An item is compared with what the registry holds for its (nik_anak, periode): nothing stored -> CREATED;
the same facts and the same ``verified_at`` -> UNCHANGED (a repeated item changes nothing); verified
earlier than the stored one -> STALE (ignored); otherwise UPDATED. CREATED and UPDATED items are also
appended to the history. A NIK that is no member of the registry is NOT_FOUND and not stored. Items are
applied in request order, so a batch naming the same child and period twice behaves like two batches.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from services.kemensos_mock.education import repository as repo
from services.kemensos_mock.education.models import VerifikasiRiwayatRow, VerifikasiRow
from services.kemensos_mock.storage import utcnow
from shared.contracts.kemensos import (
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

CLOCK_SKEW = timedelta(minutes=5)  # a verified_at further in the future than this is refused
_FACTS = ("enrolled", "active", "npsn", "nsm", "sumber")


def _facts(item: VerifikasiPendidikan) -> dict[str, object]:
    return {"enrolled": item.enrolled, "active": item.active, "npsn": item.npsn, "nsm": item.nsm,
            "sumber": item.sumber.value if item.sumber else None}


def put_batch(session: Session, batch: VerifikasiPendidikanBatch, client: str) -> VerifikasiPendidikanBatchResponse:
    now = utcnow()
    for index, item in enumerate(batch.items):  # checked before anything is written
        if item.verified_at > now + CLOCK_SKEW:
            raise InvalidInput.field(f"items[{index}].verified_at", "in_future",
                                     "verified_at is in the future")
    niks = {i.nik_anak for i in batch.items}
    known = repo.known_niks(session, niks)
    stored = repo.current(session, niks)
    results: list[VerifikasiPendidikanItemStatus] = []
    for item in batch.items:
        status = _apply(session, item, known, stored, client, now)
        results.append(VerifikasiPendidikanItemStatus(nik_anak=item.nik_anak, periode=item.periode, status=status))
    response = VerifikasiPendidikanBatchResponse(results=results)
    log.info("education verification from %s: %d items, %d created, %d updated, %d unchanged, %d stale, "
             "%d not found", client, len(results), *(response.count(s) for s in StatusVerifikasi))
    return response


def _apply(session: Session, item: VerifikasiPendidikan, known: set[str],
           stored: dict[tuple[str, str], VerifikasiRow], client: str, now: datetime) -> StatusVerifikasi:
    if item.nik_anak not in known:
        log.info("education verification for %s: not in the registry", mask(item.nik_anak))
        return StatusVerifikasi.NOT_FOUND
    key = (item.nik_anak, item.periode)
    facts = _facts(item)
    row = stored.get(key)
    if row is not None:
        if row.verified_at > item.verified_at:
            return StatusVerifikasi.STALE
        if row.verified_at == item.verified_at and all(getattr(row, f) == facts[f] for f in _FACTS):
            return StatusVerifikasi.UNCHANGED
    values = {**facts, "verified_at": item.verified_at, "received_at": now, "client": client}
    if row is None:
        row = VerifikasiRow(nik_anak=item.nik_anak, periode=item.periode, **values)
        stored[key] = row
        status = StatusVerifikasi.CREATED
    else:
        for name, value in values.items():
            setattr(row, name, value)
        status = StatusVerifikasi.UPDATED
    repo.add(session, row, VerifikasiRiwayatRow(nik_anak=item.nik_anak, periode=item.periode, **values))
    return status


def _public(row: VerifikasiRow | VerifikasiRiwayatRow) -> VerifikasiPendidikanTercatat:
    return VerifikasiPendidikanTercatat(periode=row.periode, enrolled=row.enrolled, active=row.active,
                                        npsn=row.npsn, nsm=row.nsm,
                                        sumber=SumberPendidikan(row.sumber) if row.sumber else None,
                                        verified_at=row.verified_at, received_at=row.received_at,
                                        client=row.client)


def of_child(session: Session, nik: str) -> VerifikasiPendidikanAnak:
    """What the registry holds for one child (empty lists when nothing was received)."""
    rows, history = repo.of_child(session, nik)
    return VerifikasiPendidikanAnak(nik_anak=nik, current=[_public(r) for r in rows],
                                    history=[_public(r) for r in history])
