"""Keep the replica current from the registry's change feed, and hand it to the matcher as frames.

Why a local replica rather than asking kemensos per student: the fallback compares every student without a
usable NIK with a block of registry persons (same kabupaten and birth year) on names, birth date, mother's
name and region; a columnar copy scores millions of such pairs per second, while a remote identity search
costs a round trip per student (docs/matching.md). The replica also answers the KK key (current and former
numbers) and names a child inside the family a parent's NIK found.

Each page of the feed is applied in one transaction together with its cursor, so a crash resumes from the
last page applied. Items are applied idempotently by version: an item not newer than what the replica
holds changes nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Engine

from services.sync_hub.matching.frames import Registry
from services.sync_hub.replica import repository as repo
from services.sync_hub.replica.models import ReplicaAnggotaRow, ReplicaKeluargaRow
from shared.clients import KemensosClient
from shared.clock import utcnow
from shared.contracts.kemensos import ChangePage, KeluargaChange, KeluargaDihapusChange, PkhChange
from shared.db import session_scope

log = logging.getLogger("jembatan.hub.replica")


@dataclass(frozen=True)
class RefreshResult:
    pages: int
    changes: int
    observed_seq: int


def _apply(session, page: ChangePage) -> int:  # type: ignore[no-untyped-def]
    applied = 0
    for change in page.items:
        if isinstance(change, KeluargaChange):
            current = repo.family(session, change.no_kk)
            if current is not None and current.version >= change.version:
                continue
            fam = change.keluarga
            row = ReplicaKeluargaRow(
                no_kk=fam.no_kk, kode_wilayah=fam.kode_wilayah, no_kks=fam.no_kks, version=change.version,
                pkh_status=fam.pkh.status.value if fam.pkh else None, pkh_periode=fam.pkh.periode if fam.pkh else None,
                pkh_tahun=fam.pkh.tahun if fam.pkh else None, pkh_tahap=fam.pkh.tahap if fam.pkh else None)
            members = [ReplicaAnggotaRow(
                nik=a.nik, no_kk=fam.no_kk, nama=a.nama, jenis_kelamin=a.jenis_kelamin.value,
                tanggal_lahir=a.tanggal_lahir, nama_ibu_kandung=a.nama_ibu_kandung,
                hubungan_keluarga=a.hubungan_keluarga.value) for a in change.anggota]
            repo.put_family(session, row, members, list(change.no_kk_lama))
        elif isinstance(change, PkhChange):
            current = repo.family(session, change.no_kk)
            if current is None or not change.latest:
                continue
            period = (change.pkh.tahun, change.pkh.tahap)
            if current.pkh_tahun is not None and (current.pkh_tahun, current.pkh_tahap or 0) > period:
                continue
            current.pkh_status, current.pkh_periode = change.pkh.status.value, change.pkh.periode
            current.pkh_tahun, current.pkh_tahap = change.pkh.tahun, change.pkh.tahap
            current.version = max(current.version, change.version)
        elif isinstance(change, KeluargaDihapusChange):
            current = repo.family(session, change.no_kk)
            if current is not None and current.version < change.version:
                repo.drop_family(session, change.no_kk)
        applied += 1
    return applied


def refresh(engine: Engine, client: KemensosClient, page_size: int = 1000) -> RefreshResult:
    """Follow the change feed from the stored cursor until it is caught up."""
    with session_scope(engine) as session:
        cursor = repo.state(session).cursor
    pages = changes = seq = 0
    for page in client.iter_changes(cursor, limit=page_size):
        with session_scope(engine) as session:
            changes += _apply(session, page)
            repo.save_state(session, page.next_cursor, page.observed_seq, utcnow())
        pages += 1
        seq = max(seq, page.observed_seq)
    with session_scope(engine) as session:
        seq = max(seq, repo.state(session).observed_seq)
    log.info("replica refreshed: %d pages, %d changes applied, registry sequence %d", pages, changes, seq)
    return RefreshResult(pages, changes, seq)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[int, Registry]] = {}


def load(engine: Engine) -> Registry:
    """The replica as the matcher's frames (cached per database and registry sequence)."""
    with session_scope(engine) as session:
        seq = repo.state(session).observed_seq
        key = f"{engine.url}#{id(engine)}"  # one cache entry per engine (tests reuse database URLs)
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None and hit[0] == seq:
                return hit[1]
        fams = [(f.no_kk, f.kode_wilayah, f.version, f.pkh_status, f.pkh_periode, f.no_kks)
                for f in repo.families(session)]
        members = [tuple(m) for m in repo.members(session)]
        lama = [tuple(k) for k in repo.kk_lama(session)]
    persons = pl.DataFrame(members, schema={"nik": pl.String, "no_kk": pl.String, "nama": pl.String,
                                            "sex": pl.String, "dob": pl.Date, "ibu": pl.String, "hub": pl.String},
                           orient="row")
    families = pl.DataFrame(fams, schema={"no_kk": pl.String, "wil": pl.String, "version": pl.Int64,
                                          "pkh_status": pl.String, "pkh_periode": pl.String, "no_kks": pl.String},
                            orient="row")
    kk = pl.DataFrame(lama, schema={"old_kk": pl.String, "no_kk": pl.String}, orient="row")
    registry = Registry.build(persons.sort("nik"), families, kk, seq)
    with _cache_lock:
        _cache[key] = (seq, registry)
    return registry
