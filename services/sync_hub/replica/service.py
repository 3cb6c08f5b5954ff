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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.matching.frames import Registry
from services.sync_hub.replica import repository as repo
from shared import names
from shared.clients import KemensosClient
from shared.clock import utcnow
from shared.contracts.kemensos import Anggota, ChangePage, KeluargaChange, KeluargaDihapusChange, PkhChange
from shared.db import session_scope
from shared.readahead import read_ahead

log = logging.getLogger("jembatan.hub.replica")
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did. It keeps counts, not the keys it touched: a first load reads the whole registry
    (nationally ~95 M families and ~289 M people), and no reader needs them (a run's plan finds the families changed
    since its previous plan through ``replica_keluarga.touched_seq``, ``repository.touched_since``)."""

    pages: int
    changes: int
    observed_seq: int
    start_seq: int = 0  # the sequence the replica held before this refresh
    reset: bool = False  # the replica was emptied and read again from the start


class PageReplay:
    """One page replayed in memory, item by item, with exactly the semantics of applying the items one after
    another (later items win by version; a family's change takes its NIKs from any other family and drops
    the families held under its former KK numbers); then written with a fixed number of statements.

    ``fam`` holds every family the page names (read in one pass beforehand, None when absent) as it stands
    after the items replayed so far. Members and former KK numbers are only tracked for the families the
    page writes: the stored rows of a family it replaces or drops are deleted by KK number, the stored rows
    of a NIK (or former KK number) a family claims are deleted by that key, so the page's own rows never
    meet a stored one.
    """

    def __init__(self, stored: dict[str, dict[str, Any]], keys: set[str], ranged: bool = False) -> None:
        self.ranged = ranged  # a range of a ranged first load (``replica.ranged``): PKH items may come first
        self.parked: list[PkhChange] = []  # (ranged) PKH items whose family is not held yet
        self.fam: dict[str, dict[str, Any] | None] = {k: stored.get(k) for k in keys}
        self.held = set(stored)  # the families stored before the page: the only ones with rows to delete by KK
        self.rewritten: set[str] = set()  # family rows to delete (and insert again when alive)
        self.replaced: set[str] = set()  # families whose stored members and former KK numbers go
        self.claimed_niks: set[str] = set()
        self.claimed_old: set[str] = set()
        self.members: dict[str, dict[str, Anggota]] = {}  # no_kk -> nik -> member (families written)
        self.owner: dict[str, str] = {}  # nik -> no_kk, over ``members``
        self.lama: dict[str, list[str]] = {}  # no_kk -> former KK numbers (families written)
        self.lama_owner: dict[str, str] = {}

    def _forget(self, no_kk: str) -> None:
        """The family's members and former KK numbers leave (stored ones by key, pending ones here)."""
        self.replaced.add(no_kk)
        for nik in self.members.pop(no_kk, {}):
            self.owner.pop(nik, None)
        for old in self.lama.pop(no_kk, []):
            self.lama_owner.pop(old, None)

    def drop(self, no_kk: str) -> None:
        self._forget(no_kk)
        self.fam[no_kk] = None
        self.rewritten.add(no_kk)

    def family(self, change: KeluargaChange) -> bool:
        current = self.fam.get(change.no_kk)
        if current is not None and current["version"] >= change.version:
            return False  # not newer than what the replica holds (a page delivered again)
        key, f = change.no_kk, change.keluarga
        self._forget(key)
        rows = {a.nik: a for a in change.anggota}
        for nik in rows:  # a NIK is in one family at a time: it leaves any other
            other = self.owner.get(nik)
            if other is not None and other != key:
                self.members[other].pop(nik, None)
        self.claimed_niks.update(rows)
        old_kks = list(dict.fromkeys(change.no_kk_lama))
        for old in old_kks:
            if old != key:
                self.drop(old)
        for old in old_kks:  # a former number belongs to this family now
            holder = self.lama_owner.pop(old, None)
            if holder is not None:
                self.lama[holder].remove(old)
        self.claimed_old.update(old_kks)
        pkh = f.pkh
        self.fam[key] = {
            "no_kk": key, "kode_wilayah": f.kode_wilayah, "no_kks": f.no_kks, "version": change.version,
            "pkh_status": pkh.status.value if pkh else None, "pkh_periode": pkh.periode if pkh else None,
            "pkh_tahun": pkh.tahun if pkh else None, "pkh_tahap": pkh.tahap if pkh else None}
        self.rewritten.add(key)
        self.members[key] = rows
        self.owner.update(dict.fromkeys(rows, key))
        self.lama[key] = [o for o in old_kks if o != key]
        self.lama_owner.update(dict.fromkeys(self.lama[key], key))
        return True

    def pkh(self, change: PkhChange) -> bool:
        current = self.fam.get(change.no_kk)
        if self.ranged and change.latest:
            # read in one stream the family's own item comes first (it has the lower version) or the item finds
            # no family: a range meets the two in either order, so an item whose family is not held yet waits
            # for the load's end (``ranged.finish``), and one older than the family held changes nothing
            if current is None:
                self.parked.append(change)
                return False
            if current["version"] > change.version:
                return False
        if current is None or not change.latest:
            return False
        period = (change.pkh.tahun, change.pkh.tahap)
        if current["pkh_tahun"] is not None and (current["pkh_tahun"], current["pkh_tahap"] or 0) > period:
            return False
        self.fam[change.no_kk] = {
            **current, "pkh_status": change.pkh.status.value, "pkh_periode": change.pkh.periode,
            "pkh_tahun": change.pkh.tahun, "pkh_tahap": change.pkh.tahap,
            "version": max(current["version"], change.version)}
        self.rewritten.add(change.no_kk)
        return True

    def removed(self, change: KeluargaDihapusChange) -> None:
        current = self.fam.get(change.no_kk)
        if current is not None and current["version"] < change.version:
            self.drop(change.no_kk)

    def write(self, session: Session, normal: dict[str, str]) -> int:
        """``normal``: the normal form of every name of the page's members (``page_names``)."""
        families = [row for k in sorted(self.rewritten) if (row := self.fam[k]) is not None]
        pairs = [(no_kk, a) for no_kk, rows in self.members.items() for a in rows.values()]
        members = {
            "nik": [a.nik for _, a in pairs], "no_kk": [k for k, _ in pairs], "nama": [a.nama for _, a in pairs],
            "jenis_kelamin": [a.jenis_kelamin.value for _, a in pairs],
            "tanggal_lahir": [a.tanggal_lahir for _, a in pairs],
            "nama_ibu_kandung": [a.nama_ibu_kandung for _, a in pairs],
            "hubungan_keluarga": [a.hubungan_keluarga.value for _, a in pairs],
            "nama_norm": [normal[a.nama] for _, a in pairs], "ibu_norm": [normal[a.nama_ibu_kandung] for _, a in pairs],
        }
        lama = {"old_kk": [o for olds in self.lama.values() for o in olds],
                "no_kk": [k for k, olds in self.lama.items() for _ in olds]}
        return repo.write_page(
            # deletes by KK number only for the families held (a first sync's pages: none, so no delete)
            session, replaced=self.replaced & self.held, claimed_niks=self.claimed_niks,
            claimed_old_kks=self.claimed_old, rewritten=self.rewritten & self.held,
            families={c: [f[c] for f in families] for c in repo.FAMILY_COLUMNS}, members=members, kk_lama=lama)


def page_names(page: ChangePage) -> dict[str, str]:
    """The normal form (``shared.names``) of every member name and mother's name in ``page``, normalised once
    per distinct name, vectorised."""
    raw = list({n: None for c in page.items if isinstance(c, KeluargaChange)
                for a in c.anggota for n in (a.nama, a.nama_ibu_kandung)})
    if not raw:
        return {}
    return dict(zip(raw, names.normalise_series(pl.Series(raw, dtype=pl.String)).to_list(), strict=True))


def _apply(session: Session, page: ChangePage, normal: dict[str, str] | None = None) -> int:
    return apply_page(session, page, normal)[0]


def apply_page(session: Session, page: ChangePage, normal: dict[str, str] | None = None, *,
                ranged: bool = False) -> tuple[int, PageReplay]:
    """Apply one page set-wise; returns how many items changed (or confirmed) something. ``normal``: the
    page's ``page_names`` when already computed; ``ranged``: the page is of a range of a ranged first load
    (``PageReplay.pkh``)."""
    keys: set[str] = set()
    for change in page.items:
        keys.add(change.no_kk)
        if isinstance(change, KeluargaChange):
            keys.update(change.no_kk_lama)
    state = PageReplay(repo.family_states(session, keys), keys, ranged)
    applied = 0
    for change in page.items:
        if isinstance(change, KeluargaChange):
            applied += state.family(change)
        elif isinstance(change, PkhChange):
            applied += state.pkh(change)
        elif isinstance(change, KeluargaDihapusChange):
            state.removed(change)
            applied += 1
    state.write(session, page_names(page) if normal is None else normal)
    return applied, state


_read_ahead = read_ahead  # (its home is shared.readahead: the plan reads the gateways' feeds the same way)


_refresh_lock = threading.Lock()  # one refresh at a time in a process (a run's and the follower's)


def refresh(engine: Engine, client: KemensosClient, page_size: int = 1000,
            on_page: Callable[[Session, int], None] | None = None) -> RefreshResult:
    """Follow the change feed from the stored cursor until it is caught up. Each page is applied with its
    cursor in one transaction, in feed order; the next page is fetched while one is applied. One refresh runs
    at a time in a process: a second caller waits for the first (then reads what is left). ``on_page(session,
    changes)``: called in each page's transaction with the changes it applied (a run's plan counts its reading)."""
    with _refresh_lock:
        return _refresh(engine, client, page_size, on_page)


def try_refresh(engine: Engine, client: KemensosClient, page_size: int = 1000,
                on_page: Callable[[Session, int], None] | None = None) -> RefreshResult | None:
    """``refresh`` unless one is running in this process already (then None, at once)."""
    if not _refresh_lock.acquire(blocking=False):
        return None
    try:
        return _refresh(engine, client, page_size, on_page)
    finally:
        _refresh_lock.release()


def _refresh(engine: Engine, client: KemensosClient, page_size: int,
             on_page: Callable[[Session, int], None] | None) -> RefreshResult:
    with session_scope(engine) as session:
        current = repo.state(session)
        reset = current.names_version != names.VERSION
        if reset:  # normal forms made under other rules: read it all again
            if current.cursor is not None or current.floor_version is not None:
                log.info("replica: name normalisation changed; reading the registry again from the start")
            repo.reset(session, names.VERSION)
        elif repo.loading(session):  # a ranged first load is being read (``replica.ranged``): not from 0 beside it
            return RefreshResult(0, 0, current.observed_seq, current.observed_seq)
        cursor, start_seq, floor = current.cursor, current.observed_seq, current.floor_version
        if cursor is None and start_seq == 0 and floor is None:  # a first load in one stream: the members'
            repo.drop_matching_indexes(session)  # matching indexes are built at its end, not kept up page by page
    pages = changes = seq = 0
    # after a ranged first load: only what changed after the version it read up to
    pages_of = (client.iter_changes(cursor, limit=page_size) if floor is None
                else client.iter_changes(cursor, limit=page_size, since_version=floor))
    # names are normalised by the reading thread (polars runs outside the GIL) while a page is written
    for page, normal in _read_ahead(pages_of, page_names):
        with session_scope(engine) as session:
            applied, state = apply_page(session, page, normal)
            repo.touch(session, state.rewritten | state.replaced, page.observed_seq)
            repo.save_state(session, page.next_cursor, page.observed_seq, utcnow())
            if on_page is not None:
                on_page(session, applied)
        changes += applied
        pages += 1
        seq = max(seq, page.observed_seq)
    with session_scope(engine) as session:
        seq = max(seq, repo.state(session).observed_seq)
        # caught up: the indexes a first load dropped (this refresh's, or one stopped before its end) are built
        if built := repo.build_matching_indexes(session):
            log.info("replica: %d matching index(es) built after the first load", len(built))
    log.info("replica refreshed: %d pages, %d changes applied, registry sequence %d", pages, changes, seq)
    return RefreshResult(pages, changes, seq, start_seq, reset)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[int, Registry]] = {}


PERSONS = {"nik": pl.String, "no_kk": pl.String, "nama": pl.String, "sex": pl.String, "dob": pl.Date,
           "ibu": pl.String, "hub": pl.String}
FAMILIES = {"no_kk": pl.String, "wil": pl.String, "version": pl.Int64, "pkh_status": pl.String,
            "pkh_periode": pl.String, "no_kks": pl.String}
KK_LAMA = {"old_kk": pl.String, "no_kk": pl.String}


def load(engine: Engine) -> Registry:
    """The **whole** replica as the matcher's frames (kept per database while the registry sequence is unchanged).
    Neither a run nor a check uses it (they read the rows their students reach: ``registry_for_students``,
    ``replica.slice``); it is the reference the slices are tested against, on small registries. Names come in
    their stored normal forms: nothing is normalised here."""
    key = f"{engine.url}#{id(engine)}"  # one cache entry per engine (tests reuse database URLs)
    with session_scope(engine) as session:
        seq = repo.state(session).observed_seq
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None and hit[0] == seq:
            return hit[1]
        registry = _whole(session, seq)
    with _cache_lock:
        _cache[key] = (seq, registry)
    return registry


def _whole(session: Session, seq: int) -> Registry:
    persons = _frame(repo.person_columns(session), PERSONS).sort("nik")  # pid = position
    families = _frame(repo.family_columns(session), FAMILIES)
    kk = _frame(repo.kk_lama_columns(session), KK_LAMA)
    return Registry.build(persons, families, kk, seq, raw_names=False)


def _frame(columns: list[tuple[Any, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A frame from the driver's columns; a date column arrives as ISO text (SQLite) or as dates."""
    series = []
    for (name, dtype), values in zip(schema.items(), columns, strict=True):
        if dtype == pl.Date and values and isinstance(values[0], str):
            series.append(pl.Series(name, values, dtype=pl.String).str.to_date("%Y-%m-%d"))
        else:
            series.append(pl.Series(name, values, dtype=dtype))
    return pl.DataFrame(series)


def registry_for_students(engine: Engine, stu: pl.DataFrame, *, every_block: bool = False) -> Registry:
    """The registry rows some students can reach (``stu``: ``matching.frames.students_frame``), read through the
    replica's indexes (``replica.slice``), never the whole replica."""
    from services.sync_hub.replica.slice import registry_for

    with session_scope(engine) as session:
        return registry_for(session, stu, every_block=every_block)
