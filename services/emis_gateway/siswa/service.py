"""Rules of the siswa domain: the read model with the PKH panel and the provenance of its values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from services.emis_gateway import paging
from services.emis_gateway.access import SYSTEM, Principal
from services.emis_gateway.base import storable, utcnow
from services.emis_gateway.kehadiran import service as kehadiran_service
from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.results import repository as results_repository
from services.emis_gateway.siswa import repository
from services.emis_gateway.siswa.models import RECORD_COLUMNS, SiswaRow
from shared import etag
from shared.contracts.common import FieldProvenance, Outcome, Page
from shared.contracts.emis import AlasanKeluarSiswa, KehadiranSiswa, PkhData, PkhManual, PkhManualInput, Siswa
from shared.db import unstorable_text
from shared.errors import InvalidInput, NotFound

# PkhData.sumber of values the hub wrote (from the Kemensos server). Operator-entered data will get its own.
SUMBER_SERVER = "SERVER_KEMENSOS"


def pkh_of(row: SiswaRow) -> PkhData:
    return PkhData(
        status_pkh=Outcome(row.status_pkh) if row.status_pkh is not None else None,
        keterangan_pkh=row.keterangan_pkh,
        penerima_pkh=row.penerima_pkh,
        periode_pkh=row.periode_pkh,
        no_kks=row.no_kks,
        sumber=SUMBER_SERVER if row.last_sync is not None else None,
        tanggal_sinkron=row.last_sync,
    )


def manual_of(row: SiswaRow) -> PkhManual | None:
    if row.manual_at is None or row.manual_by is None:
        return None
    return PkhManual(penerima_pkh=row.manual_penerima_pkh, periode_pkh=row.manual_periode_pkh,
                     no_kks=row.manual_no_kks, keterangan=row.manual_keterangan, diisi_oleh=row.manual_by,
                     diisi_pada=row.manual_at)


def to_read_model(row: SiswaRow, provenance: Sequence[FieldProvenance], *, santri: bool = False,
                  kehadiran: Sequence[KehadiranSiswa] = ()) -> Siswa:
    """``santri``: the student belongs to a pesantren (``nsm`` holds its NSPP); ``kehadiran``: its months."""
    record = {name: getattr(row, name) for name in RECORD_COLUMNS}
    manual = manual_of(row)
    # The server value decides; a manual answer that contradicts it is flagged for the operator.
    differs = (manual is not None and manual.penerima_pkh is not None and row.penerima_pkh is not None
               and manual.penerima_pkh != row.penerima_pkh)
    return Siswa(**record, updated_at=row.updated_at, pkh=pkh_of(row), pkh_manual=manual,
                 pkh_manual_berbeda=differs, nspp=row.nsm if santri else None, provenance=list(provenance),
                 tanggal_keluar=row.tanggal_keluar,
                 alasan_keluar=AlasanKeluarSiswa(row.alasan_keluar) if row.alasan_keluar else None,
                 kehadiran=list(kehadiran))


def read_models(session: Session, rows: Sequence[SiswaRow], pesantren: set[str] | None = None) -> list[Siswa]:
    """The read models of ``rows`` (with the latest provenance of each hub field), as the API gives them.
    ``pesantren``: which of the rows' institutions are pesantren, when the caller has read it already."""
    return _read_models(session, rows, pesantren)


def _read_models(session: Session, rows: Sequence[SiswaRow], pesantren: set[str] | None = None) -> list[Siswa]:
    ids = [r.siswa_id for r in rows]
    if ids and session.get_bind().dialect.name == "postgresql":  # the provenance and the months in one statement
        provenance, month_rows = repository.provenance_and_months(session, ids)
        if pesantren is None:
            pesantren = madrasah_repository.pesantren_among(session, [r.nsm for r in rows])
        return from_parts(rows, provenance, month_rows, pesantren)
    latest = results_repository.latest_provenance(session, ids)
    if pesantren is None:
        pesantren = madrasah_repository.pesantren_among(session, [r.nsm for r in rows])
    months = kehadiran_service.of_students(session, ids)
    return [to_read_model(r, latest.get(r.siswa_id, []), santri=r.nsm in pesantren,
                          kehadiran=months.get(r.siswa_id, [])) for r in rows]


def from_parts(rows: Sequence[SiswaRow], provenance: list[dict[str, Any]], month_rows: list[dict[str, Any]],
               pesantren: set[str]) -> list[Siswa]:
    """The read models of ``rows`` from their provenance and months as ``repository.provenance_and_months`` reads
    them (PostgreSQL); ``pesantren``: which of the rows' institutions are pesantren."""
    latest = results_repository.provenance_of(provenance)
    months: dict[str, list[KehadiranSiswa]] = {}
    for month in month_rows:
        months.setdefault(month["siswa_id"], []).append(kehadiran_service.to_contract(month))
    return [to_read_model(r, latest.get(r.siswa_id, []), santri=r.nsm in pesantren,
                          kehadiran=months.get(r.siswa_id, [])) for r in rows]


def list_siswa(session: Session, cursor: str | None, limit: int, nsm: str | None = None,
               principal: Principal = SYSTEM) -> Page[Siswa]:
    """The change feed (``nsm``: one madrasah's students); a scoped caller sees only its institutions'."""
    if nsm is not None:
        principal.ensure_institution(nsm)
    rows = repository.page(session, paging.decode(cursor), limit, nsm, principal.scope)
    items, next_cursor = paging.split(rows, limit, lambda r: (r.updated_at, r.siswa_id))
    return Page[Siswa](items=_read_models(session, items), next_cursor=next_cursor)


def _row(session: Session, siswa_id: str, principal: Principal, *, lock: bool = False) -> SiswaRow:
    """The student, if it exists and the caller may see it (404 otherwise, alike). ``lock``: an edit's row, locked
    before its ETag is compared, so two operators sending the same ``If-Match`` at once cannot both pass."""
    if not storable(siswa_id):
        raise InvalidInput.field("siswa_id", "characters", "siswa_id contains a NUL character or invalid Unicode")
    row = repository.get(session, siswa_id, lock=lock)
    if row is None:
        raise NotFound.field("siswa_id", "not_found", "no student with this siswa_id")
    principal.ensure_student(row.nsm)
    return row


def get_siswa(session: Session, siswa_id: str, principal: Principal = SYSTEM) -> Siswa:
    return _read_models(session, [_row(session, siswa_id, principal)])[0]


def set_manual(session: Session, siswa_id: str, data: PkhManualInput, principal: Principal,
               if_match: str | None = None) -> Siswa:
    """Store an operator's manual PKH data in its own columns: the server data is not touched (and the
    hub never touches these), so a manual value never overwrites a server one."""
    for name in ("periode_pkh", "no_kks", "keterangan"):
        value = getattr(data, name)
        if value is not None and (rule := unstorable_text(value)) is not None:
            raise InvalidInput.field(name, rule, f"{name} contains a NUL character or invalid Unicode")
    principal.ensure_operator()
    _row(session, siswa_id, principal, lock=True)
    etag.check(if_match, get_siswa(session, siswa_id, principal))
    repository.set_manual(session, siswa_id, {
        "manual_penerima_pkh": data.penerima_pkh, "manual_periode_pkh": data.periode_pkh,
        "manual_no_kks": data.no_kks, "manual_keterangan": data.keterangan, "manual_by": principal.name,
        "manual_at": utcnow()})
    return get_siswa(session, siswa_id)


def clear_manual(session: Session, siswa_id: str, principal: Principal, if_match: str | None = None) -> Siswa:
    principal.ensure_operator()
    _row(session, siswa_id, principal, lock=True)
    etag.check(if_match, get_siswa(session, siswa_id, principal))
    repository.set_manual(session, siswa_id, dict.fromkeys(repository.MANUAL_COLUMNS))
    return get_siswa(session, siswa_id)
