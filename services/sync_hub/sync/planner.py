"""Planning a run: read what changed, then cut the work into units (one job each).

1. Each system's change feed is read from the stored position (from the start for a full run or the first
   one) into the hub's copy (``mirror``), page by page, each page stored with the position in one transaction
   (the next page is read by a thread while one is stored: ``shared.readahead``);
   students a gateway asked to be read again (STALE answers, checks) are read directly.
2. The KIP issuances put since the stored position (every one for a full run) are read into the hub's KIP replica
   a page at a time (cards new or changed mark their region); the position is stored with the plan's units.
3. The registry replica is brought up to date; the families changed since the previous run's plan name the
   students concerned: by their members' NIKs and KK numbers (the copy's indexes), by the students linked to
   them (``student_status``), and by region (the fallback compares students with the persons of their
   kabupaten).
4. Every region something changed in becomes a unit of work: one per source system and province, or per
   kabupaten when the province has more than ``unit_max_students`` students. Units of the previous run that
   did not succeed are planned again, and so are the regions of what a plan stored after the previous run was
   planned (a plan that failed, or an earlier attempt of this one: their feed positions moved on). A full run
   plans every region.
5. The fallback model the units will use is chosen (the stored one while the registry holds still, else
   fitted once, here).
6. The units are written and their jobs enqueued in one transaction (``jobs.queue``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.domain.students import enrolment_of, from_peserta_didik, from_siswa
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.mirror import service as mirror
from services.sync_hub.replica import follower, ranged
from services.sync_hub.replica import repository as replica_repo
from services.sync_hub.replica.service import RefreshResult
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs.models import StudentStatusRow, SyncUnitRow
from services.sync_hub.sync import feed_ranges, lifecycle, training
from services.sync_hub.upstreams import Upstreams
from services.sync_hub.verification import repository as verification_repo
from services.sync_hub.verification.service import Period
from shared.clock import utcnow
from shared.contracts.common import Page
from shared.contracts.dapodik import PesertaDidik
from shared.contracts.emis import Siswa
from shared.contracts.hub import RunStatus, SourceSystem, UnitStatus
from shared.contracts.kemensos import KipIssuance
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.errors import scrub
from shared.http import Rejected
from shared.readahead import read_ahead

log = logging.getLogger("jembatan.hub.plan")
T = TypeVar("T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ANALYZE_AFTER = 5_000  # records stored by a plan above which PostgreSQL's statistics are refreshed


class Planner:
    def __init__(self, ctx: JobContext, defer_units: Callable[[sa.orm.Session, list[str]], None]) -> None:
        self.ctx, self.db, self.up, self.settings = ctx, ctx.db, ctx.upstreams, ctx.settings
        self.defer_units = defer_units
        self.run_id = ""
        self.dirty: set[tuple[str, str]] = set()  # (system, region or region prefix)
        self.kip_position: str | None = None  # where the KIP listing was read up to (stored with the units)
        self.from_feed = self.removed = 0
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()  # over the four above

    def _phase(self, name: str, start: float) -> None:
        with self._lock:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)

    def _mark(self, regions: Iterable[tuple[str, str]], read: int = 0, removed: int = 0) -> None:
        """Regions to plan, and the counts of records read and removed (the upstreams are read by several
        threads at once)."""
        regions = list(regions)
        with self._lock:
            self.dirty.update(regions)
            self.from_feed += read
            self.removed += removed

    def plan(self, run_id: str) -> None:
        with session_scope(self.db) as session:
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            run = runs_repo.get_run(session, run_id, lock=True)
            if run is None or run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
                return
            if run.planned_at is not None:  # planned already (its units carry the run on)
                return
            if run.cancel_requested:
                run.status, run.finished_at = RunStatus.CANCELLED.value, utcnow()
                return
            run.status, run.started_at = RunStatus.RUNNING.value, run.started_at or utcnow()
            systems, full = [SourceSystem(s) for s in run.systems], bool(run.full)
            previous = runs_repo.previous_planned(session, run_id)
            baseline = previous.registry_seq if previous is not None else 0
            # what a plan stored after the previous run was planned (a plan that failed, or an earlier attempt of
            # this one, stored pages and cards whose positions moved on) is decided by this run
            since = previous.planned_at if previous is not None and previous.planned_at else EPOCH
            carried = ([(u.system, u.region) for u in runs_repo.unfinished_units(session, previous.id)]
                       if previous is not None else [])
            self.run_id = run_id
            runs_repo.start_reading(session, run_id, [*(s.value for s in systems), *(
                ["kip"] if SourceSystem.DAPODIK in systems else []), "registry"], utcnow())
        t = time.perf_counter()
        read_whole, refreshed = self._read_upstreams(systems, full)
        self._phase("read", t)  # the wall time of the reads (on PostgreSQL they overlap: read_* and registry)
        read_full = any(read_whole)
        t = time.perf_counter()
        if not all(read_whole):  # a system read whole plans every region of it: no registry change to look for
            self._registry_changes(baseline, [s for s, whole in zip(systems, read_whole, strict=True) if not whole])
        self._phase("registry_changes", t)
        # (the follower may have applied the changes: the sequence's advance counts them too)
        self._analyze(max(refreshed.changes, refreshed.observed_seq - baseline))
        self.dirty.update((s, r) for s, r in carried if SourceSystem(s) in systems)
        with session_scope(self.db) as session:  # what a plan stored since the previous run was planned
            self.dirty.update(mirror.regions_read_since(session, since))
            if SourceSystem.DAPODIK in systems:
                self.dirty.update(mirror.kip_regions_stored_since(session, since))
        t = time.perf_counter()
        units = self._units(systems)
        model_version = self._ensure_model() if units else None
        self._phase("model", t)
        now = utcnow()
        with session_scope(self.db) as session:
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            run = runs_repo.get_run(session, run_id, lock=True)
            assert run is not None
            if run.planned_at is not None or run.status != RunStatus.RUNNING.value:
                # Another attempt of this plan finished first (an API process starting up resumes the plans it
                # finds queued, while the process that queued it plans it too), or the run was closed meanwhile:
                # its units are written and carry the run; writing them again would break their uniqueness.
                log.info("sync run %s: planned by another attempt meanwhile (%s); this one stops", run_id,
                         run.status)
                return
            rows = [SyncUnitRow(id=str(uuid.uuid4()), sync_run_id=run_id, system=system, region=region,
                                status=UnitStatus.WAITING.value, created_at=now) for system, region in units]
            session.add_all(rows)
            run.planned_at, run.registry_seq, run.model_version = now, refreshed.observed_seq, model_version
            run.students_from_feed, run.students_removed, run.full = self.from_feed, self.removed, read_full
            run.periode = self._periode(session, run.periode)
            if self.kip_position is not None:
                mirror.save_kip_position(session, self.kip_position, now)
            run.timings = {f"plan.{k}": v for k, v in self.timings.items()}
            session.flush()
            if rows:
                self.defer_units(session, [r.id for r in rows])
            else:
                lifecycle.move_on(self.ctx, session, run, [], self.defer_units)
        log.info("sync run %s planned: %d unit(s), %d record(s) read from the gateways, %d removed", run_id,
                 len(units), self.from_feed, self.removed)

    # -- 1-3. what the upstreams changed ---------------------------------------------------------------------

    def _read_upstreams(self, systems: list[SourceSystem], full: bool) -> tuple[list[bool], RefreshResult]:
        """Each system's feed, the KIP listing (with Dapodik) and the registry replica's round, read: on
        PostgreSQL at the same time, one thread per upstream (each its own client and connections; they write
        different tables), so a first sync's plan takes the longest of them rather than their sum; on SQLite,
        with its one writer at a time, one after another. Whether each system was read whole, and the refresh."""

        def kemensos() -> RefreshResult:
            if SourceSystem.DAPODIK in systems:
                t = time.perf_counter()
                self._read_kip(full)
                self._phase("read_kip", t)
            t = time.perf_counter()
            # after the follower's round, never beside it
            # (a first load is read as ranges, each a job: the plan reads those nobody holds and waits for the rest)
            refreshed = follower.refresh(self.db, self.up.kemensos, on_page=runs_repo.add_registry_read,
                                         load=ranged.load_plan(self.settings, self.ctx.defer_registry_ranges))
            self._phase("registry", t)
            with session_scope(self.db) as session:
                runs_repo.add_read(session, self.run_id, "registry", 0, utcnow(), done=True)
            return refreshed

        if self.db.dialect.name != "postgresql":
            return [self._read_system(system, full) for system in systems], kemensos()
        with ThreadPoolExecutor(max_workers=len(systems) + 1, thread_name_prefix="plan-read") as pool:
            feeds = [pool.submit(self._read_system, system, full) for system in systems]
            registry = pool.submit(kemensos)
            # every read runs to its end (each stores its position page by page, so a retry goes on from there);
            # the first error, if any, is raised after all have stopped
            wait([*feeds, registry])
            return [f.result() for f in feeds], registry.result()

    # -- 1. the gateways' feeds ------------------------------------------------------------------------------

    def _read_system(self, system: SourceSystem, full: bool) -> bool:
        schools = _LazySchools(self.db, system, self._schools, self._phase)
        t = time.perf_counter()
        with session_scope(self.db) as session:
            cursor = mirror.position(session, system)
        full = full or cursor is None
        started = utcnow()
        ranged = self._read_ranges(system, schools) if full else None
        if ranged is not None:  # read as ranges of ids (PostgreSQL, a large feed): ``sync.feed_ranges``
            position, started, records = ranged
            with session_scope(self.db) as session:
                mirror.save_position(session, system, position, utcnow())
            self._mark([], records)
        pages = (iter(()) if ranged is not None
                 else self.up.emis.iter_changes(None if full else cursor, self.settings.page_size)
                 if system is SourceSystem.EMIS
                 else self.up.dapodik.iter_changes(None if full else cursor, self.settings.page_size, removed=True))
        # the next page is read (the gateway builds it, the hub parses and maps it) while this one is stored
        for page, stored in read_ahead(pages, lambda page: self._stored_page(system, page.items, schools, full)):
            gone = [g.peserta_didik_id for g in getattr(page, "removed", ())]
            with session_scope(self.db) as session:
                before = mirror.store(session, stored, utcnow())
                dropped = mirror.drop(session, system, gone) if gone else {}
                mirror.save_position(session, system, page.resume_cursor, utcnow())
                runs_repo.add_read(session, self.run_id, system.value, len(stored) + len(gone), utcnow())
            self._mark([(system.value, r) for r in (*(s.region for s in stored), *before.values(),
                                                     *dropped.values())], len(stored), len(dropped))
        with session_scope(self.db) as session:
            if full:
                gone_regions = mirror.drop_unread(session, system, started)
                self._mark([(system.value, r) for r in (*gone_regions.values(), *mirror.all_regions(session, system))],
                           removed=len(gone_regions))
            wanted = mirror.refetch_wanted(session, system)
        if wanted:
            self._refetch(system, wanted, schools)
        with session_scope(self.db) as session:
            runs_repo.add_read(session, self.run_id, system.value, 0, utcnow(), done=True)
        self._phase(f"read_{system.value}", t)
        return full

    def _read_ranges(self, system: SourceSystem, schools: _LazySchools) -> tuple[str, datetime, int] | None:
        """A full read of the system's feed as ranges of ids, each a job (``sync.feed_ranges``), when the feed is
        large enough (or an earlier attempt of this plan started one): the plan reads the ranges nobody holds and
        waits for the rest. The feed's end position at the read's start, when it started, and the records stored;
        None: read in one stream."""
        plan = feed_ranges.feed_plan(self.settings, self.ctx.defer_feed_ranges)
        # the ranges look their students' schools up in the hub's copy of the list: read before they start
        done = feed_ranges.read_whole(self.db, self.run_id, range_source(system.value, self.up), plan,
                                      before_start=schools.load)
        if done is None:
            return None
        if system is SourceSystem.DAPODIK:  # its schools' read positions move now (a range's pages move none)
            self.up.dapodik.feed_read(done[0])
        return done

    def _refetch(self, system: SourceSystem, wanted: dict, schools: _LazySchools) -> None:  # type: ignore[type-arg]
        """Students the hub asked to read again (a gateway answered STALE or NOT_FOUND), read directly."""
        client = self.up.emis if system is SourceSystem.EMIS else self.up.dapodik
        records, missing = [], []
        for student_id in sorted(wanted):
            try:
                records.append(client.get_student(student_id))
            except Rejected as exc:  # no such student; or an id that cannot name one (malformed, a redirect)
                if exc.status in (401, 403):
                    raise
                missing.append(student_id)
        stored = self._stored_page(system, records, schools, full=False)
        with session_scope(self.db) as session:
            before = mirror.store(session, stored, utcnow())
            dropped = mirror.drop(session, system, missing) if missing else {}
            mirror.refetch_done(session, system, wanted)
            runs_repo.add_read(session, self.run_id, system.value, len(records) + len(missing), utcnow())
        self._mark([(system.value, r) for r in (*(s.region for s in stored), *before.values(), *dropped.values())],
                   len(stored), len(dropped))

    def _stored_page(self, system: SourceSystem, records: list[Siswa] | list[PesertaDidik], schools: _LazySchools,
                     full: bool) -> list[mirror.Stored]:
        """The records as the copy stores them, each with its school's region, bentuk_pendidikan and NPSN.

        On an incremental read a student still at the school the copy holds for it keeps what the copy holds of that
        school (unless this run read the school list anyway): the school list, ~530,000 schools nationally, is read
        only when a student is new to the copy or moved school, not because some student changed. A full read
        reads the list, which also picks up a school that moved to another region. The list is read into the hub's
        database (``school_copy``) and looked up a page at a time."""
        known: dict[str, tuple[str, str, str | None, str | None]] = {}
        if not full and records:
            ids = [r.siswa_id if isinstance(r, Siswa) else r.peserta_didik_id for r in records]
            with session_scope(self.db) as session:
                known = mirror.schools_of(session, system, ids)
        pairs = [(from_siswa(r), r.nsm) if isinstance(r, Siswa) else (from_peserta_didik(r), r.sekolah_id)
                 for r in records]
        if not schools.loaded:
            for view, school in pairs:
                held = known.get(view.student_id)
                if held is None or held[0] != school or not held[1]:  # new to the copy, or moved school
                    schools.load()
                    break
        listed = schools.lookup({school for _, school in pairs}) if schools.loaded else {}
        stored = []
        for record, (view, school) in zip(records, pairs, strict=True):
            if schools.loaded:
                region, bentuk, npsn = listed.get(school, ("", None, None))
            else:
                region, bentuk, npsn = known[view.student_id][1:]
            stored.append(mirror.Stored(view, school, region, bentuk, enrolment_of(record, npsn)))
        return stored

    def _schools(self, system: SourceSystem) -> Iterator[list[tuple[str, str, str | None, str | None]]]:
        """The pages of a system's school list: (school key, kode_wilayah, bentuk_pendidikan, npsn); a student's
        region is its school's."""
        if system is SourceSystem.EMIS:
            for madrasah in _pages(self.up.emis.list_madrasah):
                yield [(m.nsm, m.kode_wilayah, None, m.npsn) for m in madrasah]
            return
        for sekolah in _pages(self.up.dapodik.list_sekolah):
            yield [(s.sekolah_id, s.kode_wilayah, s.bentuk_pendidikan.value, s.npsn) for s in sekolah]

    # -- 2. KIP -------------------------------------------------------------------------------------------------

    def _read_kip(self, full: bool) -> None:
        """The registry's KIP issuances put since the stored position (every one when ``full``) into the hub's KIP
        replica, a page at a time (nationally ~19 M cards: never all in memory); a card new or changed marks its
        region and the students carrying its NIK. An incremental run with no new issuance reads one empty page.

        The position is stored with the plan's units; a plan stopped before that reads the same pages again and
        finds their cards stored already, so it marks the regions of the cards stored since the previous run was
        planned (``mirror.kip_regions_stored_since``, with the students stored since, in ``plan``)."""
        with session_scope(self.db) as session:
            position = None if full else mirror.kip_position(session)
        if position is None and (ranged := self._read_kip_ranges()) is not None:
            self.kip_position = ranged
            with session_scope(self.db) as session:
                runs_repo.add_read(session, self.run_id, "kip", 0, utcnow(), done=True)
            return
        while True:
            page = self.up.kemensos.list_kip(position, 1000)
            if page.items:
                self._store_kip(page.items)
            if page.resume_cursor is not None:
                position = page.resume_cursor
            if not page.next_cursor:
                break
        self.kip_position = position
        with session_scope(self.db) as session:
            runs_repo.add_read(session, self.run_id, "kip", 0, utcnow(), done=True)

    def _read_kip_ranges(self) -> str | None:
        """The whole KIP listing read as ranges of card numbers, each a job (``sync.feed_ranges.KipListing``),
        when the registry is large enough (or an earlier attempt of this plan started one): the plan reads the ranges
        nobody holds and waits for the rest. The listing's position after them; None: read in one stream. The cards'
        regions are marked by the plan from what was stored since the previous plan (``kip_regions_stored_since``)."""
        plan = feed_ranges.kip_plan(self.settings, self.ctx.defer_feed_ranges)
        done = feed_ranges.read_whole(self.db, self.run_id, range_source("kip", self.up), plan)
        return None if done is None else done[0]

    def _store_kip(self, read: list[KipIssuance]) -> None:
        latest = {c.no_kip: c for c in read}  # in version order: the last one read is the card's latest
        with session_scope(self.db) as session:
            changed = replica_repo.store_kip(session, latest, utcnow())
            runs_repo.add_read(session, self.run_id, "kip", len(read), utcnow())
            self._mark([*(("dapodik", c.kode_wilayah) for c in changed),
                        *mirror.regions_of_keys(session, [c.nik for c in changed if c.nik], [])])

    # -- 3. the registry ------------------------------------------------------------------------------------

    def _registry_changes(self, baseline: int, systems: list[SourceSystem]) -> None:
        with session_scope(self.db) as session:
            touched = replica_repo.touched_since(session, baseline)
            if not touched:
                return
            niks, old_kks, regions = replica_repo.family_keys(session, touched)
            self.dirty.update((s.value, r) for s in systems for r in regions)
            self.dirty.update(mirror.regions_of_keys(session, niks, {*touched, *old_kks}))
            status = StudentStatusRow.__table__  # type: ignore[attr-defined]
            keys = sorted(touched)
            for start in range(0, len(keys), 1000):
                self.dirty.update((r[0], r[1]) for r in session.execute(
                    sa.select(status.c.system, status.c.region).where(status.c.no_kk.in_(keys[start:start + 1000]))
                    .distinct()))
        log.info("registry: %d famil(ies) changed since sequence %d", len(touched), baseline)

    def _periode(self, session: sa.orm.Session, asked: str | None) -> str | None:
        """The PKH period the run verifies education for: the one asked for, else ``HUB_VERIFICATION_PERIOD``,
        else the period of the newest month of attendance the schools reported, else the current one; none when
        verification is off (``HUB_VERIFY_EDUCATION``)."""
        if not self.settings.verify_education:
            return None
        if asked or self.settings.verification_period:
            return asked or self.settings.verification_period
        latest = verification_repo.latest_month(session)
        if latest is None:
            today = utcnow().date()
            latest = (today.year, today.month)
        return Period.of_month(*latest).periode

    def _analyze(self, registry_changes: int) -> None:
        """After bulk writes, PostgreSQL's statistics are refreshed before the units read through the indexes
        (autovacuum's ANALYZE comes later, or never where it is off: a table filled since keeps the plan of an
        empty one and is scanned whole)."""
        if self.db.dialect.name != "postgresql" or self.from_feed + registry_changes < ANALYZE_AFTER:
            return
        t = time.perf_counter()
        with self.db.connect() as conn:
            for table in ("student_mirror", "replica_anggota", "replica_keluarga", "replica_kk_lama", "replica_kip"):
                conn.exec_driver_sql(f"ANALYZE {table}")
            conn.commit()
        self._phase("analyze", t)

    # -- 4. units -------------------------------------------------------------------------------------------

    def _units(self, systems: list[SourceSystem]) -> list[tuple[str, str]]:
        """(system, region) of every unit: a province, or a kabupaten of a province above ``unit_max_students``,
        or '' for the students whose school's region is unknown; only where the copy has students."""
        units: set[tuple[str, str]] = set()
        with session_scope(self.db) as session:
            for system in systems:
                provinces = mirror.region_counts(session, system, 2)
                kabupaten = mirror.region_counts(session, system, 4)
                for s, region in self.dirty:
                    if s != system.value:
                        continue
                    if not region:
                        if provinces.get("", 0):
                            units.add((s, ""))
                        continue
                    province = region[:2]
                    if provinces.get(province, 0) <= self.settings.unit_max_students:
                        if provinces.get(province, 0):
                            units.add((s, province))
                    elif len(region) >= 4:
                        if kabupaten.get(region[:4], 0):
                            units.add((s, region[:4]))
                    else:  # a large province named whole (a unit carried over): each of its kabupaten
                        units.update((s, k) for k, n in kabupaten.items() if k.startswith(province) and n)
        return sorted(units)

    # -- 5. the model ---------------------------------------------------------------------------------------

    def _ensure_model(self) -> str | None:
        return training.ensure_model(self.db)


def range_source(name: str, up: Upstreams) -> feed_ranges.Source:
    """What a ranged read of ``name`` (``feed_read.system``: "emis", "dapodik" or "kip") reads and how it stores."""
    if name == "kip":
        return feed_ranges.KipListing(up.kemensos, store_kip_range_page)
    system = SourceSystem(name)
    client = up.emis if system is SourceSystem.EMIS else up.dapodik
    return feed_ranges.GatewayFeed(system, client, lambda session, run_id, records: store_range_page(
        session, run_id, system, records))


def store_kip_range_page(session: sa.orm.Session, run_id: str, cards: list[KipIssuance]) -> int:
    """One page of a ranged read of the KIP listing into the hub's KIP replica, counted in the run's reading. The
    cards' regions are marked by the plan (``mirror.kip_regions_stored_since``). Returns how many were stored."""
    replica_repo.store_kip(session, {c.no_kip: c for c in cards}, utcnow())
    runs_repo.add_read(session, run_id, "kip", len(cards), utcnow())
    return len(cards)


def store_range_page(session: sa.orm.Session, run_id: str, system: SourceSystem,
                     records: list[Siswa] | list[PesertaDidik]) -> int:
    """One page of a ranged full read (``sync.feed_ranges``; the plan's or a range job's) into the hub's copy, each
    student with its school's region, bentuk_pendidikan and NPSN from the copy of the school list (which the plan read
    before the ranges started); counted in the run's reading. Returns how many were stored."""
    pairs = [(from_siswa(r), r.nsm) if isinstance(r, Siswa) else (from_peserta_didik(r), r.sekolah_id)
             for r in records]
    listed = mirror.schools(session, system, {school for _, school in pairs})
    stored = []
    for record, (view, school) in zip(records, pairs, strict=True):
        region, bentuk, npsn = listed.get(school, ("", None, None))
        stored.append(mirror.Stored(view, school, region, bentuk, enrolment_of(record, npsn)))
    mirror.store(session, stored, utcnow())
    runs_repo.add_read(session, run_id, system.value, len(stored), utcnow())
    return len(stored)


class _LazySchools:
    """A system's school list, read from its gateway into the hub's copy (``school_copy``) the first time a student
    of this plan needs its school's region — a run in which no student of that system is new or moved school reads
    none — and then looked up a feed page at a time: a page of the list in memory, never the whole list."""

    def __init__(self, db: Engine, system: SourceSystem,
                 pages: Callable[[SourceSystem], Iterator[list[tuple[str, str, str | None, str | None]]]],
                 phase: Callable[[str, float], None]) -> None:
        self.db, self.system, self._pages, self._phase = db, system, pages, phase
        self.loaded = False

    def load(self) -> None:
        """Read the list into the copy (once per plan); schools it no longer names leave the copy."""
        if self.loaded:
            return
        t, started = time.perf_counter(), utcnow()
        for page in self._pages(self.system):
            with session_scope(self.db) as session:
                mirror.store_schools(session, self.system, page, utcnow())
        with session_scope(self.db) as session:
            mirror.drop_schools_unread(session, self.system, started)
        self.loaded = True
        self._phase("read_schools", t)

    def lookup(self, keys: set[str]) -> dict[str, tuple[str, str | None, str | None]]:
        with session_scope(self.db) as session:
            return mirror.schools(session, self.system, keys)


def _pages(lister: Callable[[str | None, int], Page[T]]) -> Iterator[list[T]]:
    cursor: str | None = None
    while True:
        page = lister(cursor, 1000)
        yield page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def plan(ctx: JobContext, run_id: str, defer_units: Callable[[sa.orm.Session, list[str]], None]) -> None:
    Planner(ctx, defer_units).plan(run_id)


def fail(db: Engine, run_id: str, error: str) -> None:
    """The plan could not finish (an internal error, or an upstream unreachable at its last attempt)."""
    with session_scope(db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        run = runs_repo.get_run(session, run_id, lock=True)
        if run is None or run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
            return
        run.status, run.finished_at = RunStatus.FAILED.value, utcnow()
        run.errors = [*run.errors, scrub(error)[:300]][:50]  # (an exception's text may hold a NIK)
