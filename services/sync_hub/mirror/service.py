"""The hub's copy of each gateway's students, kept current from the gateways' change feeds, in the database.

Why a copy: a run decides students again when the registry changes under them although their records did
not, but reads from the gateways only the records that changed since the last run. The copy holds what
matching, review and diffing need (``StudentView``), the student's school, its region (which work unit it
belongs to) and the feed position to resume from.

A run's planner reads each feed page and stores its records with the feed position in one transaction, so a
planner killed mid-way resumes from the last page stored; the regions it touched become the run's work units,
which are durable jobs (``services.sync_hub.jobs``): once a record is in the copy, a unit will decide it.
Nothing of the copy is held in memory between runs: a unit reads the students of its region.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.domain.students import Enrolment, FieldValue, StudentView
from services.sync_hub.mirror import repository as repo
from shared.contracts.hub import SourceSystem

IDENTITY = ("nama", "jenis_kelamin", "tanggal_lahir", "nisn", "nik", "no_kk", "nama_ibu_kandung", "nik_ibu",
            "nama_ayah", "nik_ayah", "nama_wali", "nik_wali")


@dataclass(frozen=True, slots=True)
class Stored:
    """A student as the copy holds it, with where it studies."""

    view: StudentView
    school: str
    region: str  # the school's 10-digit kode_wilayah ('' when the school is unknown)
    bentuk: str | None = None  # Dapodik bentuk_pendidikan (SD, SMP, ...)
    enrolment: Enrolment = field(default_factory=Enrolment)


def _row(s: Stored, at: datetime) -> dict[str, object]:
    v, e = s.view, s.enrolment
    return {"system": v.system.value, "student_id": v.student_id, "school": s.school, "region": s.region,
            "bentuk": s.bentuk, "read_at": at, **{k: getattr(v, k) for k in IDENTITY},
            "npsn": e.npsn, "aktif": e.aktif, "keluar_on": e.keluar_on, "keluar_reason": e.keluar_reason,
            "source_version": e.source_version, "held_back": e.held_back,
            "current_json": json.dumps(v.current, sort_keys=True), "attested_json": json.dumps(sorted(v.provenance))}


def _months(s: Stored) -> list[dict[str, object]]:
    return [{"system": s.view.system.value, "student_id": s.view.student_id, "tahun": m.tahun, "bulan": m.bulan,
             "hari_efektif": m.hari_efektif, "alpa": m.alpa, "izin": m.izin, "sakit": m.sakit}
            for m in s.enrolment.months]


def store(session: Session, rows: Iterable[Stored], at: datetime) -> dict[str, str]:
    """Store (insert or replace) these students; returns the region each one had before (for those known)."""
    rows = list(rows)
    if not rows:
        return {}
    system = rows[0].view.system.value
    before = repo.regions_of(session, system, [s.view.student_id for s in rows])
    # only the students stored already are deleted (a first sync's pages: none, so no delete at all)
    repo.replace(session, system, everything=False, gone=list(before),
                 rows=[_row(s, at) for s in rows], months=[m for s in rows for m in _months(s)])
    return before


def schools_of(session: Session, system: SourceSystem, student_ids: Iterable[str]
               ) -> dict[str, tuple[str, str, str | None, str | None]]:
    """student id -> (school, region, bentuk, npsn) as the copy holds them (the school a student was last read
    at, and that school's region, bentuk_pendidikan and NPSN then)."""
    return repo.schools_of(session, system.value, list(student_ids))


def store_schools(session: Session, system: SourceSystem, schools: Iterable[tuple[str, str, str | None, str | None]],
                  at: datetime) -> None:
    """One page of a gateway's school list: (school, kode_wilayah, bentuk_pendidikan, npsn)."""
    repo.store_schools(session, system.value, [{"school": k, "kode_wilayah": w, "bentuk": b, "npsn": n, "read_at": at}
                                               for k, w, b, n in schools])


def drop_schools_unread(session: Session, system: SourceSystem, since: datetime) -> int:
    return repo.drop_schools_unread(session, system.value, since)


def schools(session: Session, system: SourceSystem, keys: Iterable[str]
            ) -> dict[str, tuple[str, str | None, str | None]]:
    """School -> (kode_wilayah, bentuk_pendidikan, npsn), for the ``keys`` the copy of the school list holds."""
    return repo.schools(session, system.value, list(keys))


def drop(session: Session, system: SourceSystem, student_ids: Iterable[str]) -> dict[str, str]:
    """Forget these students; returns the region of each one that was known."""
    ids = sorted(set(student_ids))
    regions = repo.regions_of(session, system.value, ids)
    repo.replace(session, system.value, everything=False, gone=ids, rows=[])
    return regions


def drop_unread(session: Session, system: SourceSystem, since: datetime) -> dict[str, str]:
    """After a full read: forget the students not read since ``since`` (gone from the gateway)."""
    gone = repo.unread_since(session, system.value, since)
    repo.replace(session, system.value, everything=False, gone=list(gone), rows=[])
    return gone


def in_region(session: Session, system: SourceSystem, region: str) -> list[Stored]:
    """The students of ``system`` whose school lies in ``region`` (a code prefix: province or kabupaten; '' for the
    students whose school's region is unknown)."""
    out = []
    loads, fromkeys = json.loads, dict.fromkeys
    # only the columns a unit reads, by position (a row's mapping costs a lookup per field per student)
    for student_id, current, attested, school, region_, bentuk, nisn, *identity in repo.rows_in_region(
            session, system.value, region, _UNIT_COLUMNS):
        view = StudentView(system, student_id, *identity, loads(current), fromkeys(loads(attested)), nisn)
        out.append(Stored(view, school, region_, bentuk))
    return out


# ``StudentView``'s identity fields in its own order: ``in_region`` builds views by position (checked below)
VIEW_IDENTITY = ("nama", "jenis_kelamin", "tanggal_lahir", "nik", "no_kk", "nama_ibu_kandung", "nik_ibu",
                 "nama_ayah", "nik_ayah", "nama_wali", "nik_wali")
_UNIT_COLUMNS = ("student_id", "current_json", "attested_json", "school", "region", "bentuk", "nisn",
                 *VIEW_IDENTITY)
assert [f.name for f in dataclasses.fields(StudentView)] == [
    "system", "student_id", *VIEW_IDENTITY, "current", "provenance", "nisn"], "in_region builds views by position"


def holds(session: Session, system: SourceSystem, values: dict[str, dict[str, FieldValue]]) -> None:
    """The gateway now holds ``values[student_id]``, attested by the hub: the copy learns them."""
    if not values:
        return
    rows = []
    for student_id, (current_json, attested_json) in repo.current_of(session, system.value, list(values)).items():
        current = {**json.loads(current_json), **values[student_id]}
        attested = sorted({*json.loads(attested_json), *values[student_id]})
        rows.append((student_id, json.dumps(current, sort_keys=True), json.dumps(attested)))
    repo.update_current(session, system.value, rows)


def with_values(view: StudentView, values: dict[str, FieldValue]) -> StudentView:
    return dataclasses.replace(view, current={**view.current, **values},
                               provenance={**view.provenance, **dict.fromkeys(values)})


def position(session: Session, system: SourceSystem) -> str | None:
    return repo.feed_state(session, system.value).cursor


def save_position(session: Session, system: SourceSystem, cursor: str | None, at: datetime) -> None:
    repo.save_position(session, system.value, cursor, at)


KIP_FEED = "kip"  # the registry's KIP listing, read like a feed (``feed_state`` row of its own)


def kip_position(session: Session) -> str | None:
    return repo.feed_state(session, KIP_FEED).cursor


def save_kip_position(session: Session, cursor: str, at: datetime) -> None:
    repo.save_position(session, KIP_FEED, cursor, at)


def regions_of_keys(session: Session, niks: Iterable[str], kks: Iterable[str]) -> set[tuple[str, str]]:
    """(system, region) of every student whose own, mother's, father's or guardian's NIK is in ``niks`` or
    whose KK number is in ``kks`` (through the copy's indexes)."""
    return repo.regions_by_keys(session, sorted(set(niks)), sorted(set(kks)))


def region_counts(session: Session, system: SourceSystem, width: int) -> dict[str, int]:
    """Students per region prefix of ``width`` digits (2: province, 4: kabupaten)."""
    return repo.region_counts(session, system.value, width)


def ask_refetch(session: Session, system: SourceSystem, student_ids: set[str], at: datetime) -> None:
    """The next run reads these students directly (their copy may be behind the gateway)."""
    if student_ids:
        repo.ask_refetch(session, system.value, student_ids, at)


def refetch_wanted(session: Session, system: SourceSystem) -> dict[str, datetime]:
    return repo.refetch_wanted(session, system.value)


def refetch_done(session: Session, system: SourceSystem, taken: dict[str, datetime]) -> None:
    repo.refetch_done(session, system.value, taken)


def all_regions(session: Session, system: SourceSystem) -> set[str]:
    return {r for (r,) in session.execute(sa.select(repo.MIRROR.c.region)
                                          .where(repo.MIRROR.c.system == system.value).distinct())}


def kip_regions_stored_since(session: Session, since: datetime) -> set[tuple[str, str]]:
    """What a plan's KIP cards stored since ``since`` mark: ("dapodik", the card's region) and (system, region) of
    every student whose own, mother's, father's or guardian's NIK is a card's (joined in the database: a first
    sync stores every card)."""
    return repo.kip_regions_stored_since(session, since)


def regions_read_since(session: Session, since: datetime) -> set[tuple[str, str]]:
    """(system, region) of the students stored since ``since``."""
    stmt = sa.select(repo.MIRROR.c.system, repo.MIRROR.c.region).where(repo.MIRROR.c.read_at >= since).distinct()
    return {(r[0], r[1]) for r in session.execute(stmt)}
