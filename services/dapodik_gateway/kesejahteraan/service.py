"""Keeping ``kesejahteraan_pd`` consistent with the record: every write of the fields it is derived from
(hub results, KIP SK, import, operator edit, load) reconciles the students it changed, in the same
transaction (and, for hub results, the same SAVEPOINT) as the values."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from services.dapodik_gateway.kesejahteraan import repository, rules
from services.dapodik_gateway.peserta_didik import service as pd_service
from shared.contracts.dapodik import JenisKesejahteraan, KesejahteraanPd

log = logging.getLogger("dapodik_gateway.kesejahteraan")
SCHOOL = "sekolah"  # asal_data of a value the school entered itself


def reconcile(conn: Connection, records: Mapping[str, Mapping[str, Any]],
              sources: Mapping[str, Mapping[str, str]] | None = None, now: datetime | None = None) -> None:
    """Bring the rows of ``records`` (id -> the fields of ``rules.FIELDS``) in line with ``rules.derive``.

    ``sources``: id -> field -> the source system of a value just written (the row's ``asal_data``);
    a programme whose fields were not just written keeps its ``asal_data``. A programme that ended keeps its
    row, closed with ``sampai_tahun``; one that starts again reopens it."""
    if not records:
        return
    now = now or datetime.now(UTC)
    sources = sources or {}
    known = repository.existing(conn, list(records))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for pid, rec in records.items():
        wanted = rules.derive(rec)
        written = sources.get(pid, {})
        for jenis, prog in wanted.items():
            row = known.get((pid, jenis.value))
            asal = next((written[f] for f in rules.SOURCES[jenis] if f in written),
                        row["asal_data"] if row is not None else SCHOOL)
            if row is None:
                inserts.append({"id_sejahtera_pd": rules.row_id(pid, jenis), "peserta_didik_id": pid,
                                "jenis_kesejahteraan_id": jenis.value, "nomor": prog.nomor,
                                "nm_di_kartu": prog.nm_di_kartu, "dari_tahun": now.year, "sampai_tahun": None,
                                "asal_data": asal, "create_date": now, "last_update": now})
                continue
            reopened = row["sampai_tahun"] is not None
            if reopened or (row["nomor"], row["nm_di_kartu"], row["asal_data"]) != (prog.nomor, prog.nm_di_kartu, asal):
                updates.append({**row, "nomor": prog.nomor, "nm_di_kartu": prog.nm_di_kartu,
                                "dari_tahun": now.year if reopened else row["dari_tahun"], "sampai_tahun": None,
                                "asal_data": asal, "last_update": now})
        for jenis in rules.SOURCES:
            row = known.get((pid, jenis.value))
            if jenis not in wanted and row is not None and row["sampai_tahun"] is None:
                asal = next((written[f] for f in rules.SOURCES[jenis] if f in written), row["asal_data"])
                updates.append({**row, "sampai_tahun": now.year, "asal_data": asal, "last_update": now})
    repository.write(conn, inserts, updates)


def reconcile_ids(conn: Connection, ids: Sequence[str], sources: Mapping[str, Mapping[str, str]] | None = None,
                  now: datetime | None = None) -> None:
    """Reconcile students by id, reading their fields from the database."""
    recs = {r["peserta_didik_id"]: r for r in repository.records(conn, list(ids), rules.FIELDS)}
    reconcile(conn, recs, sources, now)


def reconcile_missing(conn: Connection) -> int:
    """Rows for students whose record calls for them but who have none (just loaded, or loaded before the
    table existed); how many students."""
    done = 0
    while ids := repository.missing(conn, repository.CHUNK):
        reconcile_ids(conn, ids)
        done += len(ids)
    return done


def reconcile_missing_on(engine: Engine) -> int:
    with engine.begin() as conn:
        done = reconcile_missing(conn)
    if done:
        log.info("derived kesejahteraan_pd rows for %d student(s)", done)
    return done


def of_student(session: Session, peserta_didik_id: str) -> list[KesejahteraanPd]:
    pd_service.require_record(session, peserta_didik_id)
    return [KesejahteraanPd(
        id_sejahtera_pd=r["id_sejahtera_pd"], peserta_didik_id=r["peserta_didik_id"],
        jenis_kesejahteraan_id=r["jenis_kesejahteraan_id"],
        nama_jenis=JenisKesejahteraan(r["jenis_kesejahteraan_id"]).name, nomor=r["nomor"],
        nm_di_kartu=r["nm_di_kartu"], dari_tahun=r["dari_tahun"], sampai_tahun=r["sampai_tahun"],
        aktif=r["sampai_tahun"] is None, asal_data=r["asal_data"], last_update=r["last_update"],
    ) for r in repository.of_student(session, peserta_didik_id)]
