"""Generate a deterministic synthetic world: registry families, madrasah, schools, students, truth.

The world is built as numpy columns (``population``, ``education``, ``ids``, ``errors``) from one
``numpy.random.Generator`` seeded with ``config.seed`` (plus one seeded ``random.Random`` for the few
string operations done per record: name variants, institution names). Draws happen in a fixed order
with sizes that depend only on the config, nothing iterates a set or reads the clock, and the files are
written sorted by their keys with polars, so the same config always writes byte-identical files. The
model, the error rates and the file formats are described in ``docs/world.md``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel

from shared.contracts.kemensos import HubunganKeluarga as Rel
from shared.contracts.kemensos import KomponenPkh
from worldgen.arrays import BoolArray, IntArray, ObjArray, age_at, day_number, group_rank, unique_draws, ymd
from worldgen.attendance import Attendance, attendance
from worldgen.config import WorldConfig
from worldgen.education import (
    DAPODIK,
    EMIS,
    JENJANG_START,
    KINDS,
    SYSTEMS,
    Records,
    enrol,
    institutions,
)
from worldgen.errors import (
    BIT,
    ERROR_ORDER,
    FIELD_ERRORS,
    MISSING_DATE,
    ErrorCode,
    StudentFields,
    apply_errors,
    apply_field_errors,
    codes_of,
    rate_of,
    typo_digit,
)
from worldgen.ids import (
    KK_EPOCH,
    OLD_KK_EPOCH,
    allocate_serials,
    kip_codes,
    kk_keys,
    nik_keys,
    nisns,
    other_kecamatan,
    uuids,
)
from worldgen.names import NamePools, title_free, variant
from worldgen.population import (
    CHILD,
    PROVINCE_POPULATION,
    REL,
    WALI,
    Builder,
    Population,
    R,
    Regions,
    tri,
)
from worldgen.truth import GROUND_TRUTH_FILE, Adversarial
from worldgen.version import __version__

__all__ = ["FILES", "PROVINCE_POPULATION", "WorldSummary", "generate_world"]

KK_HISTORY_FILE = "kemensos/kk_history.jsonl"
KEHADIRAN_SISWA_FILE = "emis/kehadiran_siswa.jsonl"
SISWA_KELUAR_FILE = "emis/siswa_keluar.jsonl"
KEHADIRAN_PD_FILE = "dapodik/kehadiran_pd.jsonl"
REGISTRASI_KELUAR_FILE = "dapodik/registrasi_keluar.jsonl"
BANSOS_FILE = "kemensos/bansos.jsonl"
FILES = (
    "kemensos/keluarga.jsonl", "kemensos/anggota_keluarga.jsonl", "kemensos/pkh.jsonl",
    "kemensos/kip.jsonl", BANSOS_FILE, KK_HISTORY_FILE, "emis/madrasah.jsonl", "emis/siswa.jsonl",
    "dapodik/sekolah.jsonl", "dapodik/peserta_didik.jsonl", GROUND_TRUTH_FILE,
    KEHADIRAN_SISWA_FILE, SISWA_KELUAR_FILE, KEHADIRAN_PD_FILE, REGISTRASI_KELUAR_FILE,
)
STUDENTS_PER_FAMILY = 1.07  # measured on default shares; only used to size a world asked for by students
KOMPONEN = tuple(KomponenPkh)
KB = {k: i for i, k in enumerate(KOMPONEN)}
KOMPONEN_OF_KIND = np.array([KB[KomponenPkh.ANAK_USIA_DINI], KB[KomponenPkh.SD], KB[KomponenPkh.SMP],
                             KB[KomponenPkh.SMA], KB[KomponenPkh.SD], KB[KomponenPkh.SMP], KB[KomponenPkh.SMA],
                             KB[KomponenPkh.SMA]])
ROMAN = ("RA", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
STREETS = ("JL. MAWAR", "JL. MELATI", "DUSUN KRAJAN", "KP. SUKAMAJU", "JL. MASJID", "JL. RAYA",
           "GG. BERINGIN", "DUSUN SUKAMAKMUR", "LINGKUNGAN II", "JL. PENDIDIKAN", "DUSUN TIMUR", "JL. KENANGA")
KKS_PREFIXES = np.array([601301, 522184, 541151, 603298], np.int64)
KK_REASONS = ("PECAH_KK", "PINDAH_DOMISILI")
ADVERSARIAL = tuple(Adversarial)


class WorldSummary(BaseModel):
    out_dir: str
    seed: int
    n_families: int
    n_registry_families: int
    n_persons: int
    n_students: int
    counts: dict[str, int]
    errors: dict[str, int]
    adversarial: dict[str, int] = {}


@cache
def _regions() -> Regions:
    return Regions()


def generate_world(config: WorldConfig, out_dir: Path,
                   on_file: Callable[[str, int], None] | None = None) -> WorldSummary:
    """Generate the world described by ``config`` into ``out_dir`` (created if needed). ``on_file(name, rows)`` is
    called as each file has been written (from the writer thread): what a progress bar follows."""
    return _World(config).write(Path(out_dir), on_file)


# ---- helpers for the columns --------------------------------------------------------------------


def _masked(name: str, values: pl.Series, keep: np.ndarray) -> pl.Series:
    """``values`` where ``keep``, else null."""
    return pl.select(pl.when(pl.Series(keep)).then(values).alias(name)).to_series()


def _nik_series(name: str, values: IntArray) -> pl.Series:
    """16-digit strings of int64 values; -1 becomes null."""
    return _masked(name, pl.Series(values).cast(pl.String).str.zfill(16), values >= 0)


SEXES = ("L", "P")


def _pick(name: str, table: list[str] | tuple[str, ...], index: np.ndarray) -> pl.Series:
    """``table[index]`` as a string column (a gather from a small column: no Python string per row)."""
    return pl.Series(name, list(table), dtype=pl.String).gather(np.asarray(index, np.int64))


def _str_series(name: str, values: ObjArray | list[str | None]) -> pl.Series:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    return pl.Series(name, values, dtype=pl.String)


def _date_series(name: str, days: IntArray) -> pl.Series:
    return pl.Series(name, days.astype(np.int32)).cast(pl.Date)


def _write(path: Path, df: pl.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_ndjson(path)
    if df.height == 0:
        path.write_text("", encoding="utf-8")


def _list_column(name: str, keys: IntArray, table: dict[int, list[str]]) -> pl.Series:
    """A list[str] column from per-row integer keys and a small key -> list table."""
    distinct = np.unique(keys)
    lookup = pl.DataFrame({"k": distinct, name: [table[int(k)] for k in distinct]},
                          schema={"k": pl.Int64, name: pl.List(pl.String)})
    return pl.DataFrame({"k": keys}).join(lookup, on="k", how="left", maintain_order="left")[name]


@dataclass
class _Wali:
    person: IntArray  # per record: the guardian's person index, -1 when none


class _World:
    def __init__(self, config: WorldConfig) -> None:
        self.cfg = config
        self.ref = config.reference_date
        self.reg = _regions()
        self._build()

    # -- population and records -----------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.cfg
        seed = cfg.seed % 2**64
        if cfg.n_students is None:
            n_families = cfg.n_families
        else:
            n_families = math.ceil(cfg.n_students / STUDENTS_PER_FAMILY * 1.03 / (1 - cfg.shares.registry_only)) + 60
        while True:
            rng = np.random.default_rng(seed)
            pools = NamePools(cfg.seed, int(np.clip(n_families // 8, 200, 2048)))
            builder = Builder(cfg, self.reg, rng, pools)
            pop = builder.build(n_families)
            rec = enrol(cfg, pop, rng)
            rec = _registry_only(cfg, seed, pop, rec)
            if cfg.n_students is None or len(rec) >= cfg.n_students:
                break
            n_families = int(n_families * 1.1) + 100
        if cfg.n_students is not None:
            rec = rec.take(np.arange(cfg.n_students))
            pop, mapping = _truncate(pop, int(rec.fam[-1]) + 1)
            rec.child = mapping[rec.child]
        self.rng, self.builder, self.pop, self.rec = rng, builder, pop, rec
        self.pyrng = random.Random(int(rng.integers(2**63)))
        self.sons = self._father_son()
        self.homonyms = self._homonyms()
        self.wali = self._wali()
        self._niks()
        self._kks()
        self.inst, self.rec_inst = institutions(cfg, self.reg, pop, rec, rng, self.pyrng)
        self._pkh()
        self._kip()
        self._students()

    def _father_son(self) -> IntArray:
        pop, rng = self.pop, self.rng
        sons = np.flatnonzero((pop.p_role == CHILD) & ~pop.p_female & (pop.f_father[pop.p_fam] >= 0))
        sons = sons[rng.random(len(sons)) < self.cfg.shares.father_son_same_name]
        fathers = pop.f_father[pop.p_fam[sons]]
        pop.p_name[sons] = [title_free(n) for n in pop.p_name[fathers]]
        return sons

    def _homonyms(self) -> IntArray:
        """Pairs (A, B) of children of different mothers in one kecamatan; B gets A's name and birth date."""
        pop, rng, ref = self.pop, self.rng, self.ref
        children = np.flatnonzero(pop.p_role == CHILD)
        is_son = np.zeros(len(pop.p_fam), np.bool_)
        is_son[self.sons] = True
        ages = age_at(ref, pop.p_born)
        cand = children[(pop.p_twin[children] < 0) & ~is_son[children] & (ages[children] >= 5)
                        & (ages[children] <= 17)]
        kec = pop.f_kec[pop.p_fam[cand]]
        order = np.lexsort((cand, pop.p_born[cand], pop.p_female[cand], kec))
        c = cand[order]
        u = rng.random(len(c) // 2)
        a, b = c[0:len(c) - 1:2], c[1:len(c):2]
        fa, fb = pop.p_fam[a], pop.p_fam[b]
        ok = ((pop.f_kec[fa] == pop.f_kec[fb]) & (pop.p_female[a] == pop.p_female[b]) & (fa != fb)
              & (np.abs(pop.p_born[a] - pop.p_born[b]) <= 60) & (ages[a] == ages[b]))
        mother = pop.f_mother[fb]
        gap = pop.p_born[a] - pop.p_born[np.maximum(mother, 0)]
        ok &= (mother < 0) | ((gap > 17 * 365.2425 + 1) & (gap < 45 * 365.2425))
        q = min(1.0, self.cfg.shares.homonym * len(children) / (2 * max(1, int(ok.sum()))))
        sel = ok & (u < q)
        a, b = a[sel], b[sel]
        pop.p_name[b] = pop.p_name[a]
        pop.p_born[b] = pop.p_born[a]
        return np.stack([a, b], axis=1)

    def _wali(self) -> _Wali:
        """Guardians: a grandparent on the KK if there is one, else a relative outside it (one per family)."""
        pop, rec, rng, b = self.pop, self.rec, self.rng, self.builder
        n = len(rec)
        has = rng.random(n) < self.cfg.shares.wali
        pick_second = rng.random(n) < 0.5
        g0, g1 = pop.f_gp[rec.fam, 0], pop.f_gp[rec.fam, 1]
        gp = np.where((g0 >= 0) & (g1 >= 0), np.where(pick_second, g1, g0), np.maximum(g0, g1))
        person = np.where(has, gp, -1)
        need = has & (gp < 0)
        fams = np.unique(rec.fam[need])
        m = len(fams)
        female = rng.random(m) < 0.5
        born = self.ref_day - np.floor(tri(rng, 25, 40, 60, m) * 365.2425).astype(np.int64)
        style = pop.f_style[fams]
        names = b.names(style, female, born, titles=~female)
        ibu = b.ghost(style, ymd(born)[0] - 25)
        start = len(pop.p_fam)
        _extend(pop, fam=fams, pos=99, rel=R[Rel.FAMILI_LAIN], role=WALI, female=female, born=born, name=names,
                ibu=ibu, adult=True, style=style)
        new_of_fam = np.full(pop.n_families, -1, np.int64)
        new_of_fam[fams] = np.arange(start, start + m)
        person = np.where(need, new_of_fam[rec.fam], person)
        return _Wali(person)

    @property
    def ref_day(self) -> int:
        return day_number(self.ref)

    def _niks(self) -> None:
        pop, rng, sh = self.pop, self.rng, self.cfg.shares
        n = len(pop.p_fam)
        own = pop.f_kec[pop.p_fam]
        moved = rng.random(n) < np.where(pop.p_adult, sh.moved_adult, sh.moved_child)
        prefix = np.where(moved, other_kecamatan(self.reg, rng, own), own)
        second = np.flatnonzero((pop.p_twin >= 0) & (pop.p_twin < np.arange(n)))
        prefix[second] = prefix[pop.p_twin[second]]  # twins are registered together
        self.prefix = prefix
        self.nik = allocate_serials(rng, nik_keys(self.reg, prefix, pop.p_female, pop.p_born), 25)

    def _kks(self) -> None:
        pop, rng, reg = self.pop, self.rng, self.reg
        n = pop.n_families
        if (pop.f_head < 0).any():
            raise RuntimeError("a family without a head")
        head_born = pop.p_born[pop.f_head]
        ref_day = self.ref_day
        earliest = np.maximum.reduce([np.full(n, ref_day - 18 * 365), head_born + 17 * 365, np.full(n, KK_EPOCH)])
        changed = pop.f_kk_changed
        earliest = np.where(changed, np.maximum(earliest, ref_day - 5 * 365), earliest)
        latest = ref_day - 30
        recorded = earliest + (rng.random(n) * (np.maximum(0, latest - earliest) + 1)).astype(np.int64)
        old_earliest = np.maximum.reduce([np.full(n, OLD_KK_EPOCH), recorded - 12 * 365, head_born + 17 * 365])
        span = np.maximum(1, recorded - old_earliest - 30)
        old_recorded = np.minimum(old_earliest + (rng.random(n) * span).astype(np.int64), recorded - 31)
        reason = (rng.random(n) >= 0.65).astype(np.int64)  # 0 PECAH_KK, 1 PINDAH_DOMISILI
        head_prefix = self.prefix[pop.f_head]
        elsewhere = np.where(head_prefix != pop.f_kec, head_prefix, other_kecamatan(reg, rng, pop.f_kec))
        old_kec = np.where(reason == 1, elsewhere, np.where(rng.random(n) < 0.7, pop.f_kec, head_prefix))
        ch = np.flatnonzero(changed)
        keys = np.concatenate([kk_keys(reg, pop.f_kec, recorded), kk_keys(reg, old_kec[ch], old_recorded[ch])])
        numbers = allocate_serials(rng, keys, 40)
        self.kk = numbers[:n]
        self.old_kk = np.full(n, -1, np.int64)
        self.old_kk[ch] = numbers[n:]
        self.kk_recorded = recorded
        self.kk_reason = reason
        # registry-only: KKS card numbers
        kks = np.flatnonzero(pop.f_kks)
        prefixes = KKS_PREFIXES[(rng.random(len(kks)) * len(KKS_PREFIXES)).astype(np.int64)]
        self.kks = np.full(n, -1, np.int64)
        self.kks[kks] = prefixes * 10**10 + unique_draws(rng, len(kks), 0, 10**10)

    # -- programmes -----------------------------------------------------------------------------

    def _pkh(self) -> None:
        pop, rec, rng, sh, ref = self.pop, self.rec, self.rng, self.cfg.shares, self.ref
        n = pop.n_families
        ages = age_at(ref, pop.p_born)
        on_kk = pop.p_role != WALI
        bits = np.zeros(n, np.int64)
        active = np.flatnonzero(rec.active & ~rec.dup)
        np.bitwise_or.at(bits, rec.fam[active], 1 << KOMPONEN_OF_KIND[rec.kind[active]])
        enrolled_child = np.zeros(len(pop.p_fam), np.bool_)
        enrolled_child[rec.child[active]] = True
        child = pop.p_role == CHILD
        early = np.flatnonzero(child & ~enrolled_child & (ages <= 6))
        np.bitwise_or.at(bits, pop.p_fam[early], 1 << KB[KomponenPkh.ANAK_USIA_DINI])
        school_age = np.zeros(n, np.bool_)
        school_age[pop.p_fam[child & (ages >= 6) & (ages <= 18)]] = True
        elderly = np.zeros(n, np.bool_)
        elderly[pop.p_fam[on_kk & (ages >= 70)]] = True
        woman = np.zeros(n, np.bool_)
        woman[pop.p_fam[on_kk & pop.p_female & (ages >= 18) & (ages <= 40)]] = True
        u_preg, u_dis, t1, t2 = (rng.random(n) for _ in range(4))
        bits |= elderly.astype(np.int64) << KB[KomponenPkh.LANSIA]
        bits |= ((u_preg < 0.03) & woman).astype(np.int64) << KB[KomponenPkh.IBU_HAMIL]
        bits |= (u_dis < 0.015).astype(np.int64) << KB[KomponenPkh.DISABILITAS_BERAT]
        bits = self._beneficiaries(bits, ages, on_kk, enrolled_child, rng.random(len(pop.p_fam)))
        d = pop.f_desil
        poor = (d >= 1) & (d <= 4)
        aktif = poor & (bits > 0) & (t1 < np.where(school_age, sh.pkh_active, sh.pkh_active_other))
        inactive = np.where(poor, sh.pkh_inactive, 0.0)
        listed = ~aktif & (d >= 1) & (d <= 6)
        tidak = listed & (t2 < inactive)
        grad = listed & ~tidak & (t2 < inactive + sh.pkh_graduated)
        status = np.full(n, -1, np.int64)
        status[aktif] = 0
        status[tidak] = 1
        status[grad] = 2
        status[~pop.f_in_registry] = -1
        self.pkh_status = status
        self.pkh_bits = np.where(grad, 0, bits)
        self.penerima[grad] = -1  # a graduated family receives nothing
        # BPNT (Sembako) and PBI-JK memberships of the reference period
        u_bpnt, u_pbi, u_was = rng.random(n), rng.random(n), rng.random(n)
        self.bpnt = np.where(poor & (u_bpnt < sh.bpnt), 0, np.where((d >= 1) & (d <= 6) & (u_was < 0.08), 1, -1))
        near_poor = (d >= 1) & (d <= 5)
        self.pbi = np.where(near_poor & (u_pbi < sh.pbi_jk), 0, np.where((d >= 1) & (d <= 7) & (u_was > 0.92), 1, -1))
        self.bpnt[~pop.f_in_registry] = -1
        self.pbi[~pop.f_in_registry] = -1

    def _beneficiaries(self, bits: IntArray, ages: IntArray, on_kk: np.ndarray, enrolled_child: np.ndarray,
                       u: np.ndarray) -> IntArray:
        """The member who receives each PKH component (one per component, never one person twice, at most
        4 components); components nobody can receive are dropped. Sets ``self.penerima`` (F, 7)."""
        pop, rec = self.pop, self.rec
        n = pop.n_families
        benef = np.full((n, len(KOMPONEN)), -1, np.int64)
        chosen = np.zeros(len(pop.p_fam), np.bool_)

        def first_per_family(persons: IntArray, component: int) -> None:
            fams = pop.p_fam[persons]
            take = (benef[fams, component] < 0) & (bits[fams] >> component & 1).astype(np.bool_) & ~chosen[persons]
            persons, fams = persons[take], fams[take]
            _, first = np.unique(fams, return_index=True)
            benef[fams[first], component] = persons[first]
            chosen[persons[first]] = True

        active = np.flatnonzero(rec.active & ~rec.dup)
        komp = KOMPONEN_OF_KIND[rec.kind[active]]
        for component in np.unique(komp).tolist():
            first_per_family(rec.child[active[komp == component]], component)
        young = np.flatnonzero((pop.p_role == CHILD) & ~enrolled_child & (ages <= 6))
        first_per_family(young, KB[KomponenPkh.ANAK_USIA_DINI])
        first_per_family(np.flatnonzero(on_kk & (ages >= 70)), KB[KomponenPkh.LANSIA])
        first_per_family(np.flatnonzero(on_kk & pop.p_female & (ages >= 18) & (ages <= 40)),
                         KB[KomponenPkh.IBU_HAMIL])
        others = np.flatnonzero(on_kk & ~chosen)
        others = others[np.lexsort((u[others], pop.p_fam[others]))]  # a random member per family
        first_per_family(others, KB[KomponenPkh.DISABILITAS_BERAT])
        found = (benef >= 0).astype(np.int64)
        bits = (found << np.arange(len(KOMPONEN))[None, :]).sum(axis=1) & bits
        # at most four components, in enum order
        keep = np.cumsum(bits[:, None] >> np.arange(len(KOMPONEN))[None, :] & 1, axis=1) <= 4
        benef[~keep | ((bits[:, None] >> np.arange(len(KOMPONEN))[None, :] & 1) == 0)] = -1
        self.penerima = benef
        return (((benef >= 0).astype(np.int64)) << np.arange(len(KOMPONEN))[None, :]).sum(axis=1)

    def _kip(self) -> None:
        pop, rec, rng, sh, ref = self.pop, self.rec, self.rng, self.cfg.shares, self.ref
        ages = age_at(ref, pop.p_born[rec.child])
        d = pop.f_desil[rec.fam]
        cand = np.flatnonzero(rec.active & ~rec.dup & (rec.system == DAPODIK) & pop.f_in_registry[rec.fam]
                              & (d >= 1) & (d <= 4) & (ages >= 6) & (ages <= 18))
        issued = cand[rng.random(len(cand)) < sh.kip]
        m = len(issued)
        codes = kip_codes(rng, m)
        t, u_name, u_ibu, u_year = (rng.random(m) for _ in range(4))
        child = rec.child[issued]
        true_nik = self.nik[child]
        nik: list[str | None] = []
        for i, value in enumerate(true_nik.tolist()):
            text = f"{value:016d}"
            if t[i] < sh.kip_nik_missing:
                nik.append(None)
            elif t[i] < sh.kip_nik_missing + sh.kip_nik_wrong:
                nik.append(typo_digit(self.pyrng, text))
            else:
                nik.append(text)
        names = pop.p_name[child].copy()
        ibu = pop.p_ibu[child].copy()
        for i in np.flatnonzero(u_name < sh.kip_name_variant).tolist():
            names[i] = variant(self.pyrng, names[i], female=bool(pop.p_female[child[i]]))
        for i in np.flatnonzero((u_ibu < sh.kip_mother_variant) & (ibu != "")).tolist():
            ibu[i] = variant(self.pyrng, ibu[i], female=True)
        born_year = ymd(pop.p_born[child])[0]
        low = np.maximum.reduce([np.full(m, 2014), np.full(m, ref.year - 4), born_year + 6])
        tahun = np.where(low <= ref.year, low + (u_year * (ref.year - low + 1)).astype(np.int64), ref.year)
        self.kip_df = pl.DataFrame([
            _str_series("no_kip", codes), _str_series("nama", names),
            _date_series("tanggal_lahir", pop.p_born[child]), _str_series("nama_ibu_kandung", ibu),
            _pick("kode_wilayah", self.reg.desa_codes, pop.f_desa[rec.fam[issued]]),
            _pick("jenjang", KINDS, rec.kind[issued]),
            _str_series("nik", nik), pl.Series("tahun", tahun, dtype=pl.Int64),
        ])
        kip_of_child = np.full(len(pop.p_fam), -1, np.int64)
        kip_of_child[child] = np.arange(m)
        self.kip_codes = codes
        self.kip_of_child = kip_of_child

    # -- student records ------------------------------------------------------------------------

    def _students(self) -> None:
        pop, rec, rng, sh, cfg = self.pop, self.rec, self.rng, self.cfg.shares, self.cfg
        n = len(rec)
        child, fam = rec.child, rec.fam
        mother, father = pop.f_mother[fam], pop.f_father[fam]
        self.true_nik = self.nik[child]
        self.true_ibu = np.where(mother >= 0, self.nik[np.maximum(mother, 0)], -1)
        self.true_ayah = np.where(father >= 0, self.nik[np.maximum(father, 0)], -1)
        fields = StudentFields(
            nik=self.true_nik.copy(), nik_ibu=self.true_ibu.copy(), nik_ayah=self.true_ayah.copy(),
            no_kk=self.kk[fam].copy(), old_kk=self.old_kk[fam].copy(), nama=pop.p_name[child].copy(),
            nama_ibu=pop.f_mother_name[fam].copy(), dob=pop.p_born[child].copy(), female=pop.p_female[child],
        )
        self.error_mask = apply_errors(rng, self.pyrng, cfg.error_rates, fields)
        self.error_mask |= rec.dup.astype(np.int64) << BIT[ErrorCode.DUPLICATE_RECORD]
        if any(rate_of(cfg.error_rates, code) > 0 for code in FIELD_ERRORS):  # their own stream: see errors.py
            field_rng = np.random.default_rng([cfg.seed, 14])
            mask, elsewhere = apply_field_errors(field_rng, cfg.error_rates, fields)
            self.error_mask |= mask
            moved = self._school_elsewhere(field_rng, elsewhere)
            self.error_mask |= moved.astype(np.int64) << BIT[ErrorCode.SCHOOL_IN_OTHER_KABUPATEN]
        self.fields = fields
        # NISN: one per child (none at RA), decided by the child's first record
        first_of_child = np.flatnonzero(np.concatenate([[True], child[1:] != child[:-1]]))
        u_nisn = rng.random(len(first_of_child))
        numbers = nisns(rng, pop.p_born[child[first_of_child]])
        has = (rec.grade[first_of_child] != 0) & (u_nisn >= sh.nisn_missing)
        nisn_child = np.full(len(pop.p_fam), -1, np.int64)
        nisn_child[child[first_of_child]] = np.where(has, numbers, -1)
        self.nisn = nisn_child[child]
        self.student_id, self.student_rank = uuids(rng, n)
        self.u_rombel = rng.random(n)
        self.u_kps = rng.random(n)
        self.u_kks = rng.random(n)
        self.u_father_title = rng.random(n)
        self.kps_number = 10**9 + (rng.random(n) * 9e9).astype(np.int64)

    def _school_elsewhere(self, rng: np.random.Generator, drawn: BoolArray) -> BoolArray:
        """Move the ``drawn`` records to an institution of the same system and kind in another kabupaten than
        the family's; returns the records moved (those with such an institution)."""
        inst, desa = self.inst, self.reg.desa_codes
        inst_kab = np.array([str(c)[:4] for c in np.asarray(desa, dtype=object)[inst.desa].tolist()], dtype=object)
        fam_kab = np.array([str(c)[:4] for c in np.asarray(desa, dtype=object)[self.pop.f_desa[self.rec.fam]]
                            .tolist()], dtype=object)
        moved = np.zeros(len(drawn), np.bool_)
        groups: dict[tuple[int, int], np.ndarray] = {}
        for r in np.flatnonzero(drawn).tolist():
            here = self.rec_inst[r]
            key = (int(inst.system[here]), int(inst.kind[here]))
            if key not in groups:
                groups[key] = np.flatnonzero((inst.system == key[0]) & (inst.kind == key[1]))
            options = groups[key][inst_kab[groups[key]] != fam_kab[r]]
            if len(options):
                self.rec_inst[r] = options[int(rng.integers(len(options)))]
                moved[r] = True
        return moved

    # -- output ---------------------------------------------------------------------------------

    def _names_as_typed(self) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
        """Names as the operators typed them: Title Case at some institutions, Dapodik fathers untitled."""
        pop, rec, f = self.pop, self.rec, self.fields
        nama_ayah = pop.f_father_name[rec.fam].copy()
        untitled = np.flatnonzero((rec.system == DAPODIK) & (nama_ayah != "")
                                  & (self.u_father_title < self.cfg.shares.dapodik_father_title_dropped))
        nama_ayah[untitled] = [title_free(x) for x in nama_ayah[untitled]]
        wali = self.wali.person
        nama_wali = np.where(wali >= 0, pop.p_name[np.maximum(wali, 0)], "").astype(object)
        mixed = pl.Series(self.inst.name_case[self.rec_inst])
        out = []
        for name, arr in (("nama", f.nama), ("nama_ibu_kandung", f.nama_ibu), ("nama_ayah", nama_ayah),
                          ("nama_wali", nama_wali)):
            s = _str_series(name, arr)
            out.append(pl.select(pl.when(mixed).then(s.str.to_titlecase()).otherwise(s).alias(name)).to_series())
        return out[0], out[1], out[2], out[3]

    def write(self, out: Path, on_file: Callable[[str, int], None] | None = None) -> WorldSummary:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worldgen-write") as writer:
            return self._write_all(out, writer, on_file)

    def _write_all(self, out: Path, writer: ThreadPoolExecutor,
                   on_file: Callable[[str, int], None] | None = None) -> WorldSummary:
        """Build the frames one by one; a writer thread serialises each (polars releases the GIL) while
        the next is built."""
        pop, rec, reg, cfg, ref = self.pop, self.rec, self.reg, self.cfg, self.ref
        f = self.fields
        fam, child = rec.fam, rec.child
        inst = self.inst
        in_registry = pop.f_in_registry
        counts: dict[str, int] = {}
        pending: list[Future[None]] = []
        places = reg.place.tolist()

        def emit(name: str, df: pl.DataFrame) -> None:
            counts[name] = df.height
            future = writer.submit(_write, out / name, df)
            if on_file is not None:
                rows = df.height
                future.add_done_callback(lambda done: done.exception() is None and on_file(name, rows))
            pending.append(future)

        # -- registry files
        reg_f = np.flatnonzero(in_registry)
        reg_f = reg_f[np.argsort(self.kk[reg_f], kind="stable")]  # rows sorted by no_kk
        kk_s = _nik_series("no_kk", self.kk)
        alamat = pl.select(pl.concat_str([
            _pick("s", STREETS, pop.f_street[reg_f]), pl.lit(" RT "),
            pl.Series(pop.f_rt[reg_f]).cast(pl.String).str.zfill(3), pl.lit(" RW "),
            pl.Series(pop.f_rw[reg_f]).cast(pl.String).str.zfill(3)]).alias("alamat")).to_series()
        desa = np.array(reg.desa_codes, dtype=object)
        keluarga = pl.DataFrame([
            kk_s[reg_f], _pick("kode_wilayah", reg.desa_codes, pop.f_desa[reg_f]), alamat.alias("alamat"),
            pl.Series("desil", np.where(pop.f_desil[reg_f] > 0, pop.f_desil[reg_f], -1)).replace(-1, None),
            _pick("dtsen_triwulan", _triwulans(cfg), pop.f_triwulan[reg_f]), _nik_series("no_kks", self.kks[reg_f]),
        ])
        emit("kemensos/keluarga.jsonl", keluarga)
        del keluarga
        members = np.flatnonzero((pop.p_role != WALI) & in_registry[pop.p_fam])
        members = members[np.lexsort((pop.p_pos[members], self.kk[pop.p_fam[members]]))]  # no_kk, KK order
        anggota = pl.DataFrame([
            _nik_series("nik", self.nik[members]), kk_s[pop.p_fam[members]],
            _str_series("nama", pop.p_name[members]),
            _pick("jenis_kelamin", SEXES, pop.p_female[members]),
            _pick("tempat_lahir", places, self.prefix[members]),
            _date_series("tanggal_lahir", pop.p_born[members]), _str_series("nama_ibu_kandung", pop.p_ibu[members]),
            _pick("hubungan_keluarga", [r.value for r in REL], pop.p_rel[members]),
        ])
        emit("kemensos/anggota_keluarga.jsonl", anggota)
        del anggota
        pkh_f = np.flatnonzero(self.pkh_status >= 0)
        pkh_f = pkh_f[np.argsort(self.kk[pkh_f], kind="stable")]
        status_names = ("AKTIF", "TIDAK_AKTIF", "GRADUASI")
        pkh = pl.DataFrame([
            kk_s[pkh_f], _str_series("status", [status_names[s] for s in self.pkh_status[pkh_f].tolist()]),
            _list_column("komponen", self.pkh_bits[pkh_f], _KOMPONEN_LISTS), self._penerima(pkh_f),
            pl.Series("tahun", np.full(len(pkh_f), cfg.tahun, np.int64)),
            pl.Series("tahap", np.full(len(pkh_f), cfg.tahap, np.int64)),
        ])
        emit("kemensos/pkh.jsonl", pkh)
        del pkh
        fams = np.concatenate([np.flatnonzero(self.bpnt >= 0), np.flatnonzero(self.pbi >= 0)])
        program = np.concatenate([np.zeros(int((self.bpnt >= 0).sum()), np.int64),
                                  np.ones(int((self.pbi >= 0).sum()), np.int64)])
        order = np.lexsort((program, self.kk[fams]))
        fams, program = fams[order], program[order]
        bansos_status = np.where(program == 0, self.bpnt[fams], self.pbi[fams])
        bansos = pl.DataFrame([
            kk_s[fams], _pick("program", ("BPNT", "PBI_JK"), program),
            _pick("status", ("AKTIF", "TIDAK_AKTIF"), bansos_status),
            pl.Series("tahun", np.full(len(fams), cfg.tahun, np.int64)),
            pl.Series("tahap", np.full(len(fams), cfg.tahap, np.int64)),
        ])
        emit(BANSOS_FILE, bansos)
        del bansos
        hist_f = np.flatnonzero(in_registry & (self.old_kk >= 0))
        hist_f = hist_f[np.argsort(self.kk[hist_f], kind="stable")]
        kk_history = pl.DataFrame([
            kk_s[hist_f], _nik_series("no_kk_lama", self.old_kk[hist_f]),
            _date_series("diganti_pada", self.kk_recorded[hist_f]),
            _str_series("alasan", [KK_REASONS[r] for r in self.kk_reason[hist_f].tolist()]),
        ])
        emit(KK_HISTORY_FILE, kk_history)
        del kk_history

        # -- education files
        emis_i = np.flatnonzero(inst.system == EMIS)
        dap_i = np.flatnonzero(inst.system == DAPODIK)
        status = np.where(inst.negeri, "NEGERI", "SWASTA").astype(object)
        ident = np.array(inst.ident, dtype=object)
        kinds = np.array(KINDS, dtype=object)
        inst_desa = desa[inst.desa]
        madrasah = pl.DataFrame([
            _str_series("nsm", ident[emis_i]), _str_series("npsn", np.array(inst.npsn, dtype=object)[emis_i]),
            _str_series("nama", np.array(inst.nama, dtype=object)[emis_i]),
            _str_series("jenjang", kinds[inst.kind[emis_i]]), _str_series("status", status[emis_i]),
            _str_series("kode_wilayah", inst_desa[emis_i]),
        ]).sort("nsm")
        emit("emis/madrasah.jsonl", madrasah)
        del madrasah
        sekolah = pl.DataFrame([
            _str_series("sekolah_id", ident[dap_i]), _str_series("npsn", np.array(inst.npsn, dtype=object)[dap_i]),
            _str_series("nama", np.array(inst.nama, dtype=object)[dap_i]),
            _str_series("bentuk_pendidikan", kinds[inst.kind[dap_i]]), _str_series("status_sekolah", status[dap_i]),
            _str_series("kode_wilayah", inst_desa[dap_i]),
        ]).sort("sekolah_id")
        emit("dapodik/sekolah.jsonl", sekolah)
        del sekolah

        nama, ibu, nama_ayah, nama_wali = self._names_as_typed()
        wali = self.wali.person
        sid = self.student_id
        common = {
            "nisn": _masked("nisn", pl.Series(self.nisn).cast(pl.String).str.zfill(10), self.nisn >= 0),
            "nik": _nik_series("nik", f.nik), "nama": nama,
            "jenis_kelamin": _pick("jenis_kelamin", SEXES, pop.p_female[child]),
            "tempat_lahir": _pick("tempat_lahir", places, self.prefix[child]),
            "tanggal_lahir": _date_series("tanggal_lahir", np.where(f.dob == MISSING_DATE, 0, f.dob)).set(
                pl.Series(f.dob == MISSING_DATE), None), "no_kk": _nik_series("no_kk", f.no_kk),
            "nama_ayah": nama_ayah, "nik_ayah": _nik_series("nik_ayah", f.nik_ayah),
            "nama_ibu_kandung": ibu, "nik_ibu": _nik_series("nik_ibu", f.nik_ibu),
            "nama_wali": nama_wali,
            "nik_wali": _nik_series("nik_wali", np.where(wali >= 0, self.nik[np.maximum(wali, 0)], -1)),
        }
        rank = self.student_rank
        e = np.flatnonzero(rec.system == EMIS)
        e = e[np.argsort(rank[e])]  # rows sorted by siswa_id
        roman = np.array(ROMAN, dtype=object)
        rombel = pl.select(pl.concat_str([_str_series("r", roman[rec.grade[e]]), pl.lit("-"), _str_series(
            "c", np.array(list("ABC"), dtype=object)[(self.u_rombel[e] * 3).astype(np.int64)])])).to_series()
        siswa = pl.DataFrame({
            "siswa_id": sid[e], "nsm": _str_series("nsm", ident[self.rec_inst[e]]), "nisn": common["nisn"][e],
            "nik": common["nik"][e], "nama": common["nama"][e], "jenis_kelamin": common["jenis_kelamin"][e],
            "tempat_lahir": common["tempat_lahir"][e], "tanggal_lahir": common["tanggal_lahir"][e],
            "tingkat": pl.Series(rec.grade[e]), "rombel": rombel, "status_aktif": pl.Series(rec.active[e]),
            "no_kk": common["no_kk"][e], "nama_ayah": common["nama_ayah"][e], "nik_ayah": common["nik_ayah"][e],
            "nama_ibu_kandung": common["nama_ibu_kandung"][e], "nik_ibu": common["nik_ibu"][e],
            "nama_wali": common["nama_wali"][e], "nik_wali": common["nik_wali"][e],
        })
        emit("emis/siswa.jsonl", siswa)
        del siswa
        d = np.flatnonzero(rec.system == DAPODIK)
        d = d[np.argsort(rank[d])]  # rows sorted by peserta_didik_id
        d_inst = self.rec_inst[d]
        counter = group_rank(d_inst)[0] + 1
        entry = ref.year - (rec.grade[d] - JENJANG_START[rec.kind[d]])
        nipd = pl.Series((entry % 100) * 10_000 + counter).cast(pl.String).str.zfill(6)
        desil = pop.f_desil[fam[d]]
        poor = in_registry[fam[d]] & (desil >= 1) & (desil <= 4)
        kps = poor & (self.u_kps[d] < self.cfg.shares.old_kps)
        kks = self.kks[fam[d]]
        show_kks = (kks >= 0) & (self.u_kks[d] < self.cfg.shares.dapodik_kks)
        nulls = pl.Series([None] * len(d), dtype=pl.String)
        peserta = pl.DataFrame({
            "peserta_didik_id": sid[d], "sekolah_id": _str_series("sekolah_id", ident[d_inst]), "nipd": nipd,
            "nisn": common["nisn"][d], "nik": common["nik"][d], "no_kk": common["no_kk"][d],
            "nama": common["nama"][d], "jenis_kelamin": common["jenis_kelamin"][d],
            "tempat_lahir": common["tempat_lahir"][d], "tanggal_lahir": common["tanggal_lahir"][d],
            "tingkat_pendidikan_id": pl.Series(rec.grade[d]), "nama_ayah": common["nama_ayah"][d],
            "nik_ayah": common["nik_ayah"][d], "nama_ibu_kandung": common["nama_ibu_kandung"][d],
            "nik_ibu": common["nik_ibu"][d], "nama_wali": common["nama_wali"][d], "nik_wali": common["nik_wali"][d],
            "penerima_kps": pl.Series(kps),
            "no_kps": _masked("no_kps", pl.Series(self.kps_number[d]).cast(pl.String), kps),
            "penerima_kip": pl.Series(np.zeros(len(d), np.bool_)), "no_kip": nulls, "nm_kip": nulls,
            "layak_pip": pl.Series(np.zeros(len(d), np.bool_)),
            "no_kks": _nik_series("no_kks", np.where(show_kks, kks, -1)),
        })
        emit("dapodik/peserta_didik.jsonl", peserta)
        del peserta

        att = attendance(cfg, rec.active, self.rec_inst, len(inst.system))
        self._emit_attendance(att, emit)

        emit("kemensos/kip.jsonl", self.kip_df.sort("no_kip"))
        truth_order = np.lexsort((rank, rec.system == EMIS))  # system ("dapodik" < "emis"), student_id
        emit(GROUND_TRUTH_FILE, self._truth(sid, att)[truth_order])
        for future in pending:
            future.result()
        counts = {name: counts[name] for name in FILES}
        errors = {code.value: int(np.count_nonzero(self.error_mask >> BIT[code] & 1)) for code in ERROR_ORDER}
        adversarial = {tag.value: int(np.count_nonzero(self.adv_mask >> i & 1)) for i, tag in enumerate(ADVERSARIAL)}
        n_registry = len(reg_f)
        manifest = {
            "generator": "worldgen", "generator_version": __version__, "seed": cfg.seed,
            "reference_date": ref.isoformat(), "config": cfg.model_dump(mode="json"), "counts": counts,
            "families": {"total": pop.n_families, "in_registry": n_registry,
                         "not_in_registry": pop.n_families - n_registry},
            "errors": errors, "adversarial": adversarial,
        }
        (out / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8", newline="\n")
        return WorldSummary(
            out_dir=str(out), seed=cfg.seed, n_families=pop.n_families, n_registry_families=n_registry,
            n_persons=int(np.count_nonzero(pop.p_role != WALI)), n_students=len(rec), counts=counts, errors=errors,
            adversarial=adversarial,
        )

    def _emit_attendance(self, att: Attendance, emit: Callable[[str, pl.DataFrame], None]) -> None:
        """Monthly attendance and the records that left, per system with its own field names, sorted by the
        student's id (then month)."""
        rec, sid, rank = self.rec, self.student_id, self.student_rank
        year = np.array([y for y, _ in att.months], np.int64)
        month = np.array([m for _, m in att.months], np.int64)
        left = np.flatnonzero(att.left_month >= 0)
        for system, id_name, file, names in (
                (EMIS, "siswa_id", KEHADIRAN_SISWA_FILE, ("hari_efektif", "sakit", "izin", "alpa")),
                (DAPODIK, "peserta_didik_id", KEHADIRAN_PD_FILE,
                 ("jml_hari_efektif", "jml_sakit", "jml_izin", "jml_tanpa_keterangan"))):
            rows = np.flatnonzero(rec.system[att.rec] == system)
            rows = rows[np.lexsort((att.month[rows], rank[att.rec[rows]]))]
            emit(file, pl.DataFrame([
                sid[att.rec[rows]].alias(id_name), pl.Series("tahun", year[att.month[rows]]),
                pl.Series("bulan", month[att.month[rows]]), pl.Series(names[0], att.hari_efektif[rows]),
                pl.Series(names[1], att.sakit[rows]), pl.Series(names[2], att.izin[rows]),
                pl.Series(names[3], att.alpa[rows]),
            ]))
        e = left[rec.system[left] == EMIS]
        e = e[np.argsort(rank[e])]
        emit(SISWA_KELUAR_FILE, pl.DataFrame([
            sid[e].alias("siswa_id"), _date_series("tanggal_keluar", att.left_day[e]),
            pl.Series("alasan_keluar", ["PUTUS_SEKOLAH"] * len(e), dtype=pl.String),
        ]))
        d = left[rec.system[left] == DAPODIK]
        d = d[np.argsort(rank[d])]
        emit(REGISTRASI_KELUAR_FILE, pl.DataFrame([
            sid[d].alias("peserta_didik_id"), pl.Series("jenis_keluar_id", np.full(len(d), 5, np.int64)),
            _date_series("tanggal_keluar", att.left_day[d]),
        ]))

    def _penerima(self, fams: IntArray) -> pl.Series:
        """The ``penerima`` column of pkh.jsonl rows ``fams``: [{nik, komponen}] in component order."""
        benef = self.penerima[fams]
        row, comp = np.nonzero(benef >= 0)
        long = pl.DataFrame([
            pl.Series("row", row), _nik_series("nik", self.nik[benef[row, comp]]),
            _pick("komponen", [k.value for k in KOMPONEN], comp),
        ]).group_by("row", maintain_order=True).agg(pl.struct(["nik", "komponen"]).alias("penerima"))
        empty = pl.lit([], dtype=pl.List(pl.Struct({"nik": pl.String, "komponen": pl.String})))
        return (pl.DataFrame({"row": np.arange(len(fams))})
                .join(long, on="row", how="left", maintain_order="left")
                .with_columns(pl.col("penerima").fill_null(empty))["penerima"])

    def _truth(self, sid: pl.Series, att: Attendance) -> pl.DataFrame:
        pop, rec = self.pop, self.rec
        n = len(rec)
        fam, child = rec.fam, rec.child
        in_registry = pop.f_in_registry[fam]
        # adversarial tags and confusable people
        pairs_rec: list[IntArray] = []
        pairs_person: list[IntArray] = []
        twin = pop.p_twin[child]
        is_twin = twin >= 0
        pairs_rec.append(np.flatnonzero(is_twin))
        pairs_person.append(twin[is_twin])
        son = np.zeros(len(pop.p_fam), np.bool_)
        son[self.sons] = True
        is_son = son[child]
        pairs_rec.append(np.flatnonzero(is_son))
        pairs_person.append(pop.f_father[fam[is_son]])
        partner = np.full(len(pop.p_fam), -1, np.int64)
        if len(self.homonyms):
            partner[self.homonyms[:, 0]] = self.homonyms[:, 1]
            partner[self.homonyms[:, 1]] = self.homonyms[:, 0]
        homonym = partner[child]
        is_homonym = homonym >= 0
        pairs_rec.append(np.flatnonzero(is_homonym))
        pairs_person.append(homonym[is_homonym])
        # enrolled siblings: other children of the family with a record
        kids = pl.DataFrame({"fam": fam, "child": child}).unique(maintain_order=True)
        sib = (pl.DataFrame({"rec": np.arange(n), "fam": fam, "child": child})
               .join(kids.rename({"child": "sib"}), on="fam", how="inner", maintain_order="left")
               .filter(pl.col("sib") != pl.col("child")))
        pairs_rec.append(sib["rec"].to_numpy())
        pairs_person.append(sib["sib"].to_numpy())
        has_sibling = np.zeros(n, np.bool_)
        has_sibling[sib["rec"].to_numpy()] = True
        adv = (is_twin.astype(np.int64) << ADVERSARIAL.index(Adversarial.TWIN)
               | is_son.astype(np.int64) << ADVERSARIAL.index(Adversarial.FATHER_SON_SAME_NAME)
               | has_sibling.astype(np.int64) << ADVERSARIAL.index(Adversarial.SIBLING_SHARED_PARENT)
               | is_homonym.astype(np.int64) << ADVERSARIAL.index(Adversarial.HOMONYM))
        self.adv_mask = adv
        conf = (pl.DataFrame({"rec": np.concatenate(pairs_rec),
                              "nik": self.nik[np.concatenate(pairs_person)]})
                .unique().sort(["rec", "nik"])
                .with_columns(pl.col("nik").cast(pl.String).str.zfill(16))
                .group_by("rec", maintain_order=True).agg(pl.col("nik").alias("confusable_niks")))
        kip = self.kip_of_child[child]
        kip_codes = np.array([*self.kip_codes, None], dtype=object)
        wali = self.wali.person
        old_kk = self.old_kk[fam]
        df = pl.DataFrame({
            "system": _pick("system", SYSTEMS, rec.system),
            "student_id": sid, "true_nik": _nik_series("true_nik", self.true_nik),
            "in_registry": pl.Series(in_registry),
            "true_no_kk": _nik_series("true_no_kk", np.where(in_registry, self.kk[fam], -1)),
            "true_nik_ibu": _nik_series("true_nik_ibu", self.true_ibu),
            "true_nik_ayah": _nik_series("true_nik_ayah", self.true_ayah),
            "pkh_active": pl.Series(self.pkh_status[fam] == 0),
            "kip_no": _str_series("kip_no", kip_codes[kip]),
            "errors": _list_column("errors", self.error_mask, _ErrorLists()),
            "true_nik_wali": _nik_series("true_nik_wali", np.where(wali >= 0, self.nik[np.maximum(wali, 0)], -1)),
            "true_no_kk_lama": _nik_series("true_no_kk_lama", old_kk),
            "adversarial": _list_column("adversarial", adv, _AdversarialLists()),
            "rec": pl.Series(np.arange(n)),
        })
        empty = pl.lit([], dtype=pl.List(pl.String))
        year = np.array([y for y, _ in att.months], np.int64)
        month = np.array([m for _, m in att.months], np.int64)
        present = att.hari_efektif - att.alpa - att.izin - att.sakit
        months = (pl.DataFrame({
            "rec": att.rec, "year": year[att.month], "month": month[att.month], "effective_days": att.hari_efektif,
            "alpa": att.alpa, "izin": att.izin, "sakit": att.sakit, "present": present, "meets_85": att.meets,
        }).group_by("rec", maintain_order=True)
            .agg(pl.struct(["year", "month", "effective_days", "alpa", "izin", "sakit", "present", "meets_85"])
                 .alias("attendance")))
        no_months = pl.lit([], dtype=months.schema["attendance"])
        left = np.where(att.left_day >= 0, att.left_day, 0)
        df = df.with_columns(pl.Series("dropped_out_on", left.astype(np.int32)).cast(pl.Date)
                             .alias("dropped_out_on"))
        df = df.with_columns(pl.when(pl.Series(att.left_day >= 0)).then(pl.col("dropped_out_on")).otherwise(None)
                             .alias("dropped_out_on"))
        return (df.join(conf, on="rec", how="left", maintain_order="left")
                .with_columns(pl.col("confusable_niks").fill_null(empty))
                .join(months, on="rec", how="left", maintain_order="left")
                .with_columns(pl.col("attendance").fill_null(no_months))
                .select(pl.exclude("dropped_out_on", "rec"), pl.col("dropped_out_on")))


class _ErrorLists(dict[int, list[str]]):
    def __missing__(self, mask: int) -> list[str]:
        value = [c.value for c in codes_of(mask)]
        self[mask] = value
        return value


class _AdversarialLists(dict[int, list[str]]):
    def __missing__(self, mask: int) -> list[str]:
        value = [t.value for i, t in enumerate(ADVERSARIAL) if mask >> i & 1]
        self[mask] = value
        return value


_KOMPONEN_LISTS: dict[int, list[str]] = {
    mask: [k.value for i, k in enumerate(KOMPONEN) if mask >> i & 1][:4] for mask in range(1 << len(KOMPONEN))
}


def _triwulans(cfg: WorldConfig) -> list[str]:
    y, q = cfg.reference_date.year, cfg.tahap
    out = []
    for _ in range(3):
        out.append(f"{y}-Q{q}")
        q -= 1
        if q == 0:
            y, q = y - 1, 4
    return out


def _registry_only(cfg: WorldConfig, seed: int, pop: Population, rec: Records) -> Records:
    """``shares.registry_only``: a share of families put in the registry with none of their children enrolled.
    Its own generator (seeded from the world's seed), so a world without it is drawn exactly as before."""
    share = cfg.shares.registry_only
    if share <= 0:
        return rec
    flag = np.random.default_rng([seed, 0x5E61]).random(pop.n_families) < share
    pop.f_in_registry[flag] = True
    return rec.take(np.flatnonzero(~flag[rec.fam]))


def _truncate(pop: Population, n_families: int) -> tuple[Population, IntArray]:
    """Keep the first ``n_families`` families and their people; return the old -> new person index map."""
    keep = pop.p_fam < n_families
    mapping = np.cumsum(keep) - 1
    mapping[~keep] = -1

    def remap(idx: IntArray) -> IntArray:
        return np.where(idx >= 0, mapping[np.maximum(idx, 0)], -1)

    values = {}
    for name in Population.__dataclass_fields__:
        value = getattr(pop, name)
        if name.startswith("f_"):
            value = value[:n_families]
            if name in ("f_father", "f_mother", "f_gp", "f_head"):
                value = remap(value)
        else:
            value = value[keep]
            if name == "p_twin":
                value = remap(value)
        values[name] = value
    return Population(**values), mapping


def _extend(pop: Population, *, fam: IntArray, pos: int, rel: int, role: int, female: np.ndarray,
            born: IntArray, name: ObjArray, ibu: ObjArray, adult: bool, style: IntArray) -> None:
    """Append people who are on no KK of their family (guardians from outside)."""
    m = len(fam)
    pop.p_fam = np.concatenate([pop.p_fam, fam])
    pop.p_pos = np.concatenate([pop.p_pos, np.full(m, pos, np.int64)])
    pop.p_rel = np.concatenate([pop.p_rel, np.full(m, rel, np.int64)])
    pop.p_role = np.concatenate([pop.p_role, np.full(m, role, np.int64)])
    pop.p_female = np.concatenate([pop.p_female, female])
    pop.p_born = np.concatenate([pop.p_born, born])
    pop.p_name = np.concatenate([pop.p_name, name])
    pop.p_ibu = np.concatenate([pop.p_ibu, ibu])
    pop.p_adult = np.concatenate([pop.p_adult, np.full(m, adult)])
    pop.p_order = np.concatenate([pop.p_order, np.zeros(m, np.int64)])
    pop.p_twin = np.concatenate([pop.p_twin, np.full(m, -1, np.int64)])
    pop.p_style = np.concatenate([pop.p_style, style])

