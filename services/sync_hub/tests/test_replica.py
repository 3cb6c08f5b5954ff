"""The replica applies change-feed pages set-wise with exactly the semantics of applying the items one by one.

The reference below is the contract's reading of the feed (``KeluargaChange``'s docstring), item by item on
dictionaries; hypothesis drives random pages (re-delivered and out-of-order versions, NIKs moving between
families, KK numbers replaced, families removed and coming back, PKH periods) through both and compares
every table, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from sqlalchemy import text as sa_text

from services.sync_hub.replica import repository as repo
from services.sync_hub.replica import service as replica
from services.sync_hub.replica.follower import ReplicaFollower
from services.sync_hub.replica.models import ReplicaAnggotaRow, ReplicaKeluargaRow, ReplicaKkLamaRow
from shared.contracts.common import JenisKelamin
from shared.contracts.kemensos import (
    Anggota,
    ChangePage,
    HubunganKeluarga,
    Keluarga,
    KeluargaChange,
    KeluargaDihapusChange,
    Pkh,
    PkhChange,
    StatusPkh,
)
from shared.db import session_scope

AT = datetime(2026, 7, 1, tzinfo=UTC)
KKS = [f"32010100000000{i:02d}" for i in range(6)]
NIKS = [f"32010101019000{i:02d}" for i in range(10)]


def fam_change(no_kk: str, version: int, niks: list[str], old: list[str] = (), pkh: tuple[int, int] | None = None,
               name: str = "Siti") -> KeluargaChange:
    p = Pkh(status=StatusPkh.AKTIF, komponen=[], periode=f"{pkh[0]} tahap {pkh[1]}", tahun=pkh[0], tahap=pkh[1]) \
        if pkh else None
    return KeluargaChange(
        no_kk=no_kk, version=version, updated_at=AT,
        keluarga=Keluarga(no_kk=no_kk, kode_wilayah="3201010001", desil=1, dtsen_triwulan="2026-Q3", no_kks=None,
                          version=version, updated_at=AT, pkh=p),
        anggota=[Anggota(nik=n, nama=f"{name} {n[-2:]}", jenis_kelamin=JenisKelamin.P, tempat_lahir="",
                         tanggal_lahir=date(1990, 1, 1), nama_ibu_kandung="Ibu",
                         hubungan_keluarga=HubunganKeluarga.ANAK) for n in niks],
        no_kk_lama=list(old))


def pkh_change(no_kk: str, version: int, tahun: int, tahap: int, latest: bool = True,
               status: StatusPkh = StatusPkh.GRADUASI) -> PkhChange:
    return PkhChange(no_kk=no_kk, version=version, updated_at=AT, latest=latest,
                     pkh=Pkh(status=status, komponen=[], periode=f"{tahun} tahap {tahap}", tahun=tahun, tahap=tahap))


def gone(no_kk: str, version: int) -> KeluargaDihapusChange:
    return KeluargaDihapusChange(no_kk=no_kk, version=version, updated_at=AT)


def page(*items, seq: int = 1) -> ChangePage:  # type: ignore[no-untyped-def]
    return ChangePage(items=list(items), next_cursor="c", has_more=False, observed_seq=seq)


# ---- the reference: item by item ------------------------------------------------------------------------

@dataclass
class Reference:
    fam: dict[str, dict] = field(default_factory=dict)  # type: ignore[type-arg]
    mem: dict[str, tuple[str, str]] = field(default_factory=dict)  # nik -> (no_kk, nama)
    lama: dict[str, str] = field(default_factory=dict)  # old_kk -> no_kk

    def _drop(self, no_kk: str) -> None:
        self.mem = {n: m for n, m in self.mem.items() if m[0] != no_kk}
        self.lama = {o: k for o, k in self.lama.items() if k != no_kk}
        self.fam.pop(no_kk, None)

    def apply(self, p: ChangePage) -> None:
        for c in p.items:
            cur = self.fam.get(c.no_kk)
            if isinstance(c, KeluargaChange):
                if cur is not None and cur["version"] >= c.version:
                    continue
                niks = {a.nik for a in c.anggota}
                self.mem = {n: m for n, m in self.mem.items() if m[0] != c.no_kk and n not in niks}
                for old in c.no_kk_lama:
                    if old != c.no_kk:
                        self._drop(old)
                self.lama = {o: k for o, k in self.lama.items() if k != c.no_kk and o not in c.no_kk_lama}
                pkh = c.keluarga.pkh
                self.fam[c.no_kk] = {"version": c.version, "pkh": (pkh.tahun, pkh.tahap, pkh.status.value)
                                     if pkh else None}
                self.mem.update({a.nik: (c.no_kk, a.nama) for a in c.anggota})
                self.lama.update({o: c.no_kk for o in c.no_kk_lama if o != c.no_kk})
            elif isinstance(c, PkhChange):
                if cur is None or not c.latest:
                    continue
                if cur["pkh"] is not None and cur["pkh"][:2] > (c.pkh.tahun, c.pkh.tahap):
                    continue
                cur["pkh"] = (c.pkh.tahun, c.pkh.tahap, c.pkh.status.value)
                cur["version"] = max(cur["version"], c.version)
            elif cur is not None and cur["version"] < c.version:
                self._drop(c.no_kk)


def stored(engine: Engine) -> Reference:
    with session_scope(engine) as s:
        fam = {r.no_kk: {"version": r.version, "pkh": (r.pkh_tahun, r.pkh_tahap, r.pkh_status)
                         if r.pkh_tahun is not None else None} for r in s.scalars(select(ReplicaKeluargaRow))}
        mem = {r.nik: (r.no_kk, r.nama) for r in s.scalars(select(ReplicaAnggotaRow))}
        lama = {r.old_kk: r.no_kk for r in s.scalars(select(ReplicaKkLamaRow))}
    return Reference(fam, mem, lama)


def apply(engine: Engine, p: ChangePage) -> int:
    with session_scope(engine) as s:
        return replica._apply(s, p)


def clear(engine: Engine) -> None:
    with session_scope(engine) as s:
        for table in (ReplicaAnggotaRow, ReplicaKkLamaRow, ReplicaKeluargaRow):
            s.execute(table.__table__.delete())  # type: ignore[attr-defined]


# ---- hand-picked cases ------------------------------------------------------------------------------

def test_a_nik_moves_to_the_newer_family_and_a_former_number_is_dropped(engine: Engine) -> None:
    a, b, c = KKS[:3]
    assert apply(engine, page(fam_change(a, 1, NIKS[:3]), fam_change(c, 2, NIKS[5:7]))) == 2
    # b takes NIKS[2] from a (a's own change, at a lower version, comes later) and replaces KK number c
    assert apply(engine, page(fam_change(b, 4, [NIKS[2], NIKS[3]], old=[c]))) == 1
    got = stored(engine)
    assert got.mem == {NIKS[0]: (a, "Siti 00"), NIKS[1]: (a, "Siti 01"), NIKS[2]: (b, "Siti 02"),
                       NIKS[3]: (b, "Siti 03")}
    assert set(got.fam) == {a, b} and got.lama == {c: b}


def test_a_page_delivered_again_changes_nothing(engine: Engine) -> None:
    p = page(fam_change(KKS[0], 3, NIKS[:2], pkh=(2026, 2)), pkh_change(KKS[0], 4, 2026, 3))
    assert apply(engine, p) == 2
    before = stored(engine)
    assert before.fam[KKS[0]] == {"version": 4, "pkh": (2026, 3, "GRADUASI")}
    assert apply(engine, page(fam_change(KKS[0], 3, NIKS[5:7]))) == 0  # older than what the replica holds
    assert stored(engine) == before


def test_a_removed_family_leaves_with_its_members_and_may_come_back(engine: Engine) -> None:
    a = KKS[0]
    apply(engine, page(fam_change(a, 1, NIKS[:2], old=[KKS[1]])))
    apply(engine, page(gone(a, 2)))
    assert stored(engine) == Reference()
    apply(engine, page(gone(a, 3), fam_change(a, 5, NIKS[:1])))
    assert stored(engine).mem == {NIKS[0]: (a, "Siti 00")}


def test_a_page_is_a_fixed_number_of_statements(engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    items = [fam_change(f"3201010000{i:06d}", 10 + i, [f"320101010190{i:04d}"]) for i in range(300)]
    with session_scope(engine) as s:
        replica._apply(s, page(*items))
    writes = [x for x in statements if x.lstrip().upper().startswith(("INSERT", "DELETE", "UPDATE"))]
    assert len(writes) <= 8 and len(statements) <= 12, statements
    with session_scope(engine) as s:
        assert len(repo.members_of(s, [f"3201010000{i:06d}" for i in range(300)])) == 300


# ---- random pages against the reference -------------------------------------------------------------

versions = st.integers(1, 40)
family_items = st.builds(fam_change, st.sampled_from(KKS), versions,
                         st.lists(st.sampled_from(NIKS), max_size=4, unique=True),
                         st.lists(st.sampled_from(KKS), max_size=2),
                         st.none() | st.tuples(st.integers(2025, 2026), st.integers(1, 4)),
                         st.sampled_from(["Siti", "Ani"]))
pkh_items = st.builds(pkh_change, st.sampled_from(KKS), versions, st.integers(2025, 2026), st.integers(1, 4),
                      st.booleans(), st.sampled_from([StatusPkh.AKTIF, StatusPkh.GRADUASI]))
gone_items = st.builds(gone, st.sampled_from(KKS), versions)
pages = st.lists(st.lists(st.one_of(family_items, family_items, pkh_items, gone_items), max_size=8).map(
    lambda items: page(*items)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=pages)
def test_set_wise_pages_equal_item_by_item(engine: Engine, pages: list[ChangePage]) -> None:
    clear(engine)
    ref = Reference()
    for p in pages:
        apply(engine, p)
        ref.apply(p)
        assert stored(engine) == ref


# ---- reading ahead ------------------------------------------------------------------------------------

def test_read_ahead_keeps_the_order_and_raises_after_the_pages_before_the_error() -> None:
    def feed() -> Iterator[ChangePage]:
        for seq in range(1, 6):
            yield page(seq=seq)
        raise RuntimeError("feed broke")

    seen = []
    with pytest.raises(RuntimeError, match="feed broke"):
        for p, prepared in replica._read_ahead(feed(), lambda p: p.observed_seq * 10):
            seen.append((p.observed_seq, prepared))
    assert seen == [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]


def test_read_ahead_stops_fetching_when_the_consumer_stops() -> None:
    fetched = []

    def feed() -> Iterator[ChangePage]:
        for seq in range(1, 1000):
            fetched.append(seq)
            yield page(seq=seq)

    reader = replica._read_ahead(feed(), replica.page_names, depth=2)
    assert next(reader)[0].observed_seq == 1
    reader.close()
    assert len(fetched) <= 5


# ---- names stored in normal form; the matcher's frames --------------------------------------------------

class FakeFeed:
    """Stands in for KemensosClient.iter_changes: the pages given, whatever the cursor; records the cursor."""

    def __init__(self, *pages: ChangePage) -> None:
        self.pages, self.asked = list(pages), []  # type: ignore[var-annotated]

    def iter_changes(self, cursor: str | None = None, limit: int = 500) -> Iterator[ChangePage]:
        self.asked.append(cursor)
        yield from self.pages


def test_load_gives_the_frames_with_names_in_normal_form(engine: Engine) -> None:
    item = fam_change(KKS[0], 2, NIKS[:1], old=[KKS[1]], pkh=(2026, 3))
    item.anggota[0].nama, item.anggota[0].nama_ibu_kandung = "Hj. St. Aminah binti Umar", "Moch. Soekarno"
    replica.refresh(engine, FakeFeed(page(item, seq=9)))  # type: ignore[arg-type]
    reg = replica.load(engine)
    person = reg.persons.row(0, named=True)
    assert (person["nik"], person["nama"], person["ibu"], person["dob"], person["wil"]) == (
        NIKS[0], "siti aminah", "muhammad sukarno", date(1990, 1, 1), "3201010001")
    assert reg.families.row(0, named=True)["pkh_periode"] == "2026 tahap 3" and reg.observed_seq == 9
    assert reg.kk_lama.rows() == [(KKS[1], KKS[0])]
    with session_scope(engine) as s:
        assert repo.person(s, NIKS[0]).nama == "Hj. St. Aminah binti Umar"  # type: ignore[union-attr]


def test_each_page_tells_its_changes_in_its_own_transaction(engine: Engine) -> None:
    """``on_page`` (a run's plan counting what it read) is called per page with the changes the page applied,
    inside the page's transaction: a count written there is kept or lost with the page."""
    feed = FakeFeed(page(fam_change(KKS[0], 2, NIKS[:2]), fam_change(KKS[1], 1, NIKS[2:3]), seq=3),
                    page(fam_change(KKS[0], 2, NIKS[:2]), gone(KKS[1], 2), seq=4))  # one delivered again
    told: list[tuple[int, bool]] = []
    result = replica.refresh(engine, feed, on_page=lambda session, n: told.append(  # type: ignore[arg-type]
        (n, session.in_transaction())))
    assert told == [(2, True), (1, True)] and result.changes == 3


def test_the_registry_pages_applied_count_in_the_reading_of_the_run_being_planned(engine: Engine) -> None:
    """Whoever applies the registry's pages, the plan's own round or the replica follower holding the lease first (a
    first load), they count in the ``registry`` reading of the run being planned, and of no other run."""
    from services.sync_hub.runs import repository as runs_repo
    from services.sync_hub.runs.models import SyncRunRow

    now = AT
    with session_scope(engine) as s:
        for run_id, planned in (("planning", None), ("planned", now)):
            s.add(SyncRunRow(id=run_id, status="RUNNING", trigger="t", systems=["emis"], created_at=now,
                             started_at=now, planned_at=planned))
        s.flush()
        for run_id in ("planning", "planned"):
            runs_repo.start_reading(s, run_id, ["emis", "registry"], now)
    feed = FakeFeed(page(fam_change(KKS[0], 2, NIKS[:2]), fam_change(KKS[1], 1, NIKS[2:3]), seq=3),
                    page(gone(KKS[1], 2), seq=4))
    follower = ReplicaFollower(engine, feed, 60, on_page=runs_repo.add_registry_read)  # type: ignore[arg-type]
    assert follower.follow_once() is not None
    with session_scope(engine) as s:
        got = {r.source: r.records for r in runs_repo.reading(s, "planning")}
        other = {r.source: r.records for r in runs_repo.reading(s, "planned")}
    assert got == {"emis": 0, "registry": 3} and other == {"emis": 0, "registry": 0}


def test_other_normalisation_rules_read_the_registry_again_from_the_start(engine: Engine) -> None:
    feed = FakeFeed(page(fam_change(KKS[0], 2, NIKS[:2]), seq=3))
    replica.refresh(engine, feed)  # type: ignore[arg-type]
    replica.refresh(engine, feed)  # type: ignore[arg-type]
    assert feed.asked == [None, "c"]  # the stored cursor
    with session_scope(engine) as s:
        repo.state(s).names_version = "made-by-older-rules"
    again = FakeFeed(page(fam_change(KKS[1], 1, NIKS[2:3]), seq=4))
    replica.refresh(engine, again)  # type: ignore[arg-type]
    assert again.asked == [None]
    got = stored(engine)
    assert set(got.fam) == {KKS[1]} and set(got.mem) == {NIKS[2]}  # emptied first, then read from the start


# ---- deletes, touch and statistics on a first sync ------------------------------------------------------------

def test_deletes_by_kk_only_for_families_the_replica_holds(engine: Engine) -> None:
    statements: list[tuple[str, object]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, params, *_: statements.append((sql, params)))

    def deletes() -> list[tuple[str, object]]:
        out = [(sql, p) for sql, p in statements if sql.lstrip().upper().startswith("DELETE")
               and "replica_touch" not in sql]
        statements.clear()
        return out

    apply(engine, page(fam_change(KKS[0], 1, NIKS[:2])))  # nothing held: no delete by KK number
    assert [sql for sql, _ in deletes() if "no_kk" in sql.split("WHERE", 1)[-1]] == []
    # KKS[0] held, KKS[1] new: only KKS[0]'s members, former numbers and family row deleted by KK
    apply(engine, page(fam_change(KKS[0], 2, NIKS[:1]), fam_change(KKS[1], 3, NIKS[3:4])))
    by_kk = [p for sql, p in deletes() if "no_kk" in sql.split("WHERE", 1)[-1] and "old_kk" not in sql]
    assert len(by_kk) == 3 and all(KKS[0] in str(p) and KKS[1] not in str(p) for p in by_kk), by_kk
    assert stored(engine).mem == {NIKS[0]: (KKS[0], "Siti 00"), NIKS[3]: (KKS[1], "Siti 03")}


def test_touch_records_families_in_one_delete_and_one_insert(engine: Engine) -> None:
    from services.sync_hub.replica.models import ReplicaTouchRow

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    keys = [f"3201010000{i:06d}" for i in range(repo.CHUNK + 3)]  # more than one chunk of keys
    with session_scope(engine) as s:
        repo.touch(s, keys[:10], 1)
    statements.clear()
    with session_scope(engine) as s:
        repo.touch(s, keys, 2)
    writes = [x for x in statements if x.lstrip().upper().startswith(("INSERT", "DELETE", "COPY"))]
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 2), writes  # PG: the COPY is not seen here
    with session_scope(engine) as s:
        assert sorted(repo.touched_since(s, 1)) == keys
        assert repo.touched_since(s, 2) == []
        assert s.execute(select(ReplicaTouchRow.seq).where(ReplicaTouchRow.no_kk == keys[0])).scalar() == 2
        repo.touch(s, [], 3)  # nothing: no statement


def test_a_growing_replica_is_analyzed_on_postgres(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.db import Growing

    fresh = {name: Growing(g.table, g.columns) for name, g in repo.GROWING.items()}
    monkeypatch.setattr(repo, "GROWING", fresh)
    items = [fam_change(f"3201010000{i:06d}", 10, [f"320101010190{i:04d}", f"320101010191{i:04d}"])
             for i in range(600)]
    with session_scope(engine) as s:
        _, state = replica.apply_page(s, page(*items))
        repo.touch(s, state.rewritten | state.replaced, 1)
    if engine.dialect.name != "postgresql":
        assert all(g.rows == 0 for g in fresh.values())  # no-op on SQLite
        return
    with session_scope(engine) as s:
        tuples = dict(s.execute(sa_text("SELECT relname, reltuples FROM pg_class WHERE relname LIKE 'replica_%' "
                                        "AND relkind = 'r'")).all())
        stats = set(s.execute(sa_text("SELECT attname FROM pg_stats WHERE tablename = 'replica_anggota'")).scalars())
    assert tuples["replica_anggota"] == 1200  # 1,200 members passed the first point; 600 families did not
    assert tuples["replica_keluarga"] <= 0 and tuples["replica_touch"] <= 0
    assert {"nik", "no_kk", "kab", "nama_norm"} <= stats
