"""Regions, families and the people in them, built as numpy columns (docs/world.md, "The model").

Every random draw comes from one ``numpy.random.Generator`` in a fixed order and with sizes that depend
only on the config, so the same config always yields the same people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.contracts.kemensos import HubunganKeluarga as Rel
from shared.regions import current_kecamatan, desa_by_kecamatan, provinces
from worldgen.arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    ObjArray,
    age_at,
    born_from_age,
    pick_weighted,
    uniform_index,
    ymd,
)
from worldgen.config import WorldConfig
from worldgen.names import (
    BIN_STYLES,
    CLAN_STYLES,
    MARGA,
    MARGA_MUSLIM,
    MUSLIM_STYLES,
    PREFIX_TITLES,
    STYLE_INDEX,
    STYLES,
    SUFFIX_TITLES,
    NamePools,
    Style,
    family_name_pool,
    given_token,
    style_shares,
)

# Approximate mid-2024 population in millions per province (BPS, "Jumlah Penduduk Pertengahan Tahun
# 2024" / Proyeksi Penduduk, rounded; the 2022 Papua provinces split from BPS's Papua figures).
# Only the relative shares matter.
PROVINCE_POPULATION: dict[str, float] = {
    "11": 5.55, "12": 15.59, "13": 5.84, "14": 6.73, "15": 3.74, "16": 8.84, "17": 2.11, "18": 9.31,
    "19": 1.53, "21": 2.18, "31": 10.68, "32": 50.35, "33": 37.89, "34": 3.76, "35": 41.65, "36": 12.43,
    "51": 4.43, "52": 5.65, "53": 5.66, "61": 5.62, "62": 2.81, "63": 4.22, "64": 4.04, "65": 0.73,
    "71": 2.66, "72": 3.12, "73": 9.46, "74": 2.83, "75": 1.21, "76": 1.48, "81": 1.94, "82": 1.36,
    "91": 1.06, "92": 0.57, "93": 0.54, "94": 1.47, "95": 1.46, "96": 0.63,
}

REL = tuple(Rel)
R = {r: i for i, r in enumerate(REL)}
KIDS_WEIGHTS = (8, 22, 32, 20, 11, 7)  # 0..5 children
MAX_KIDS = len(KIDS_WEIGHTS) - 1
DESIL_WEIGHTS = (18, 16, 14, 12, 10, 8, 7, 6, 5, 4)
# family kinds
TWO, MOTHER_ONLY, FATHER_ONLY, GRAND, ELDERLY = range(5)
KIND_CUM = (0.76, 0.87, 0.91, 0.95)
MUSLIM = np.array([s in MUSLIM_STYLES for s in STYLES])
CLAN = np.array([s in CLAN_STYLES for s in STYLES])
BINS = np.array([s in BIN_STYLES for s in STYLES])
BATAK, MELAYU = STYLE_INDEX[Style.BATAK], STYLE_INDEX[Style.MELAYU]
# person roles (who a person is to the school generation of the family)
FATHER, MOTHER, CHILD, GRANDPARENT, ELDER, WALI = range(6)
N_POOL_KEYS = len(STYLES) * 2 * 3 * 5


def _place(kab_name: str) -> str:
    """'Kabupaten Bandung' / 'Kota Administrasi Jakarta Timur' -> 'BANDUNG' / 'JAKARTA TIMUR'."""
    name = kab_name.upper()
    for p in ("KABUPATEN ", "KOTA ", "ADMINISTRASI "):
        if name.startswith(p):
            name = name[len(p):]
    return name


class Regions:
    """Kemendagri 2025 kecamatan and desa as arrays; kecamatan of a kabupaten / province are contiguous."""

    def __init__(self) -> None:
        kecs = current_kecamatan()
        desa = desa_by_kecamatan()
        provs = provinces()
        missing = sorted(set(provs) - set(PROVINCE_POPULATION))
        if missing:
            raise ValueError(f"PROVINCE_POPULATION lacks provinces {missing}")
        self.kec_codes = sorted(c for c in kecs if desa.get(c))
        self.kec_int = np.array([int(c) for c in self.kec_codes], np.int64)
        self.kec_index = {c: i for i, c in enumerate(self.kec_codes)}
        self.place = np.array([_place(kecs[c].kabupaten) for c in self.kec_codes], dtype=object)
        flat: list[str] = []
        self.desa_start = np.zeros(len(self.kec_codes), np.int64)
        self.desa_n = np.zeros(len(self.kec_codes), np.int64)
        for i, c in enumerate(self.kec_codes):
            self.desa_start[i] = len(flat)
            self.desa_n[i] = len(desa[c])
            flat += desa[c]
        self.desa_codes = flat
        self.kab_codes = sorted({c[:4] for c in self.kec_codes})
        self.kab_index = {k: i for i, k in enumerate(self.kab_codes)}
        self.kec_kab = np.array([self.kab_index[c[:4]] for c in self.kec_codes], np.int64)
        self.kab_start = np.searchsorted(self.kec_kab, np.arange(len(self.kab_codes)))
        self.kab_n = np.bincount(self.kec_kab, minlength=len(self.kab_codes))
        self.kab_label = []
        for start in self.kab_start.tolist():
            name = kecs[self.kec_codes[start]].kabupaten
            self.kab_label.append(_place(name) if name.startswith("Kabupaten") else f"KOTA {_place(name)}")
        self.prov_codes = sorted({c[:2] for c in self.kec_codes})
        prov_index = {p: i for i, p in enumerate(self.prov_codes)}
        self.kec_prov = np.array([prov_index[c[:2]] for c in self.kec_codes], np.int64)
        self.prov_start = np.searchsorted(self.kec_prov, np.arange(len(self.prov_codes)))
        self.prov_n = np.bincount(self.kec_prov, minlength=len(self.prov_codes))
        pop = np.array([PROVINCE_POPULATION[p] for p in self.prov_codes])
        self.prov_cum = np.cumsum(pop)
        # a kabupaten's weight: its province's population x its share of the province's kecamatan
        kab_prov = self.kec_prov[self.kab_start]
        self.kab_cum = np.cumsum(pop[kab_prov] * self.kab_n / self.prov_n[kab_prov])
        shares = np.zeros((len(self.prov_codes), len(STYLES)))
        for i, p in enumerate(self.prov_codes):
            for style, share in style_shares(p):
                shares[i, STYLE_INDEX[style]] = share
        self.style_cum = np.cumsum(shares, axis=1)
        self.clan_pools = {p: np.array(family_name_pool(p), dtype=object) for p in self.prov_codes}


@dataclass
class Population:
    """Families (``f_*`` columns) and persons (``p_*`` columns)."""

    # families
    f_kec: IntArray
    f_desa: IntArray
    f_style: IntArray
    f_kind: IntArray
    f_in_registry: BoolArray
    f_father: IntArray  # person index of the father on the KK, else -1
    f_mother: IntArray
    f_father_name: ObjArray  # nama_ayah, also for a father who is not on the KK ("" when unknown)
    f_mother_name: ObjArray  # the children's nama_ibu_kandung
    f_gp: IntArray  # (F, 2) grandparents on the KK, -1 padded
    f_head: IntArray
    f_desil: IntArray  # 0 = no desil
    f_triwulan: IntArray  # 0 = the reference quarter, 1 / 2 = one / two quarters earlier
    f_kks: BoolArray
    f_street: IntArray
    f_rt: IntArray
    f_rw: IntArray
    f_kk_changed: BoolArray  # the KK number was reissued; the family has an older one
    # persons
    p_fam: IntArray
    p_pos: IntArray  # place on the KK (sort key)
    p_rel: IntArray  # index into REL
    p_role: IntArray
    p_female: BoolArray
    p_born: IntArray  # day number
    p_name: ObjArray
    p_ibu: ObjArray  # nama_ibu_kandung
    p_adult: BoolArray
    p_order: IntArray
    p_twin: IntArray  # the co-twin's person index, else -1
    p_style: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_families(self) -> int:
        return len(self.f_kec)


def tri(rng: np.random.Generator, left: float, mode: float, right: float, size: int) -> FloatArray:
    return rng.triangular(left, mode, right, size)


class Builder:
    """Builds the population of ``n`` families."""

    def __init__(self, cfg: WorldConfig, regions: Regions, rng: np.random.Generator, pools: NamePools) -> None:
        self.cfg = cfg
        self.reg = regions
        self.rng = rng
        self.pools = pools
        self.ref = cfg.reference_date
        self._pool_offset: dict[int, int] = {}
        self._pool_list: list[str] = []
        self._all_pools = np.zeros(0, dtype=object)
        self._offsets = np.full(N_POOL_KEYS, -1, np.int64)
        self._cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "fam", "pos", "rel", "role", "female", "born", "name", "ibu", "adult", "order")}
        self._count = 0

    # -- names ---------------------------------------------------------------------------------

    def _pooled(self, key: IntArray, u: FloatArray) -> ObjArray:
        """One name per element from the pool of its key: a gather from all pools laid end to end."""
        present = np.flatnonzero(np.bincount(key, minlength=N_POOL_KEYS))
        if any(int(k) not in self._pool_offset for k in present):
            for k in present.tolist():
                if k not in self._pool_offset:
                    self._pool_offset[k] = len(self._pool_list)
                    self._pool_list += self.pools.pool(k)
            self._all_pools = np.array(self._pool_list, dtype=object)
            self._offsets = np.full(N_POOL_KEYS, -1, np.int64)
            for k, off in self._pool_offset.items():
                self._offsets[k] = off
        size = self.pools.size
        return self._all_pools[self._offsets[key] + (u * size).astype(np.int64)]

    def names(self, style: IntArray, female: BoolArray, born: IntArray, *, order: IntArray | None = None,
              clan: ObjArray | None = None, father_name: ObjArray | None = None,
              titles: BoolArray | None = None) -> ObjArray:
        """Canonical (registry) names: a pool name + marga/family name + BIN/BINTI + title."""
        rng = self.rng
        n = len(style)
        u_pool, u_br, u_bin, u_title, u_pick = (rng.random(n) for _ in range(5))
        year = ymd(born)[0]
        era = (year >= 1975).astype(np.int64) + (year >= 2003)
        order = np.zeros(n, np.int64) if order is None else order
        bucket = np.where(style == STYLE_INDEX[Style.BALI], order % 4,
                          np.where((style == STYLE_INDEX[Style.JAWA]) & (era == 2), np.minimum(order, 4), 0))
        key = ((style * 2 + female) * 3 + era) * 5 + bucket
        out = self._pooled(key, u_pool)
        if clan is not None:
            m = CLAN[style] & (clan != "")
            br = m & (style == BATAK) & female & (era < 2) & (u_br < 0.6)
            sep = np.where(br, " BR ", " ").astype(object)
            out[m] = out[m] + sep[m] + clan[m]
        if father_name is not None:
            p_bin = np.where(style == MELAYU, 0.30, 0.04)
            m = BINS[style] & (era == 2) & (father_name != "") & (u_bin < p_bin)
            idx = np.flatnonzero(m)
            if len(idx):
                given = np.array([given_token(x) for x in father_name[idx]], dtype=object)
                word = np.where(female[idx], " BINTI ", " BIN ").astype(object)
                out[idx] = out[idx] + word + given
        if titles is not None:
            m = titles & ~female
            haji = m & (u_title < 0.025) & MUSLIM[style]
            prefix = m & ~haji & (u_title < 0.035) & (year < 1975)
            suffix = m & ~haji & ~prefix & (u_title < 0.05)
            pre = np.array(PREFIX_TITLES[1:], dtype=object)
            suf = np.array(SUFFIX_TITLES, dtype=object)
            out[haji] = "H. " + out[haji]
            out[prefix] = pre[(u_pick[prefix] * len(pre)).astype(np.int64)] + " " + out[prefix]
            out[suffix] = out[suffix] + ", " + suf[(u_pick[suffix] * len(suf)).astype(np.int64)]
        return out

    def ghost(self, style: IntArray, born_year: IntArray) -> ObjArray:
        """The name of a woman who is not in the world (a grandmother): only her name is recorded."""
        years = (np.clip(np.asarray(born_year, np.int64), 1900, 2020) - 1970).astype("datetime64[Y]")
        born = years.astype("datetime64[D]").astype(np.int64) + 181  # 1 July
        return self.names(style, np.ones(len(style), np.bool_), born)

    def clans(self, style: IntArray, kec: IntArray) -> ObjArray:
        """Marga (Batak, Mandailing) or family name (eastern Indonesia) of a new line; "" elsewhere."""
        n = len(style)
        u = self.rng.random(n)
        out = np.full(n, "", dtype=object)
        marga = np.array(MARGA, dtype=object)
        muslim = np.array(MARGA_MUSLIM, dtype=object)
        m = style == BATAK
        out[m] = marga[(u[m] * len(marga)).astype(np.int64)]
        m = style == STYLE_INDEX[Style.MANDAILING]
        out[m] = muslim[(u[m] * len(muslim)).astype(np.int64)]
        timur = np.flatnonzero(style == STYLE_INDEX[Style.TIMUR])
        prov = self.reg.kec_prov[kec[timur]]
        for p in np.unique(prov):
            sel = timur[prov == p]
            pool = self.reg.clan_pools[self.reg.prov_codes[p]]
            out[sel] = pool[(u[sel] * len(pool)).astype(np.int64)]
        return out

    # -- persons -------------------------------------------------------------------------------

    def add(self, *, fam: IntArray, pos: IntArray | int, rel: IntArray | int, role: int, female: BoolArray,
            born: IntArray, name: ObjArray, ibu: ObjArray, adult: BoolArray | bool,
            order: IntArray | int = 0) -> IntArray:
        n = len(fam)
        c = self._cols
        c["fam"].append(fam.astype(np.int64))
        c["pos"].append(np.broadcast_to(np.asarray(pos, np.int64), (n,)).copy())
        c["rel"].append(np.broadcast_to(np.asarray(rel, np.int64), (n,)).copy())
        c["role"].append(np.full(n, role, np.int64))
        c["female"].append(np.broadcast_to(np.asarray(female, np.bool_), (n,)).copy())
        c["born"].append(born.astype(np.int64))
        c["name"].append(name)
        c["ibu"].append(ibu)
        c["adult"].append(np.broadcast_to(np.asarray(adult, np.bool_), (n,)).copy())
        c["order"].append(np.broadcast_to(np.asarray(order, np.int64), (n,)).copy())
        idx = np.arange(self._count, self._count + n, dtype=np.int64)
        self._count += n
        return idx

    # -- families ------------------------------------------------------------------------------

    def build(self, n: int) -> Population:
        cfg, rng, reg, sh = self.cfg, self.rng, self.reg, self.cfg.shares
        ref = self.ref
        n_clusters = -(-n // cfg.families_per_kabupaten)
        clusters = pick_weighted(rng, reg.kab_cum, n_clusters)
        kab = clusters[np.arange(n) // cfg.families_per_kabupaten]
        kec = reg.kab_start[kab] + uniform_index(rng, reg.kab_n[kab])
        desa = reg.desa_start[kec] + uniform_index(rng, reg.desa_n[kec])
        prov = reg.kec_prov[kec]
        style = (rng.random(n)[:, None] >= reg.style_cum[prov]).sum(axis=1).clip(0, len(STYLES) - 1)
        kind = np.searchsorted(np.array(KIND_CUM), rng.random(n), side="right").astype(np.int64)
        clan = self.clans(style, kec)
        wife_clan = self.clans(style, kec)
        # registry attributes
        in_registry = rng.random(n) >= sh.not_in_registry
        no_desil = rng.random(n) < 0.02
        desil = 1 + pick_weighted(rng, np.cumsum(DESIL_WEIGHTS).astype(np.float64), n)
        desil = np.where(no_desil, 0, desil)
        t = rng.random(n)
        triwulan = np.where(t < 0.80, 0, np.where(t < 0.95, 1, 2))
        kks = (desil >= 1) & (desil <= 4) & (rng.random(n) < sh.kks)
        street = (rng.random(n) * 12).astype(np.int64)
        rt = 1 + (rng.random(n) * 12).astype(np.int64)
        rw = 1 + (rng.random(n) * 8).astype(np.int64)
        kk_changed = rng.random(n) < sh.kk_history

        father = np.full(n, -1, np.int64)
        mother = np.full(n, -1, np.int64)
        head = np.full(n, -1, np.int64)
        gp = np.full((n, 2), -1, np.int64)
        father_name = np.full(n, "", dtype=object)
        mother_name = np.full(n, "", dtype=object)
        ref_year = ref.year

        # -- elderly households: a head aged 55-88 and, for 65% of male heads, his wife
        e = np.flatnonzero(kind == ELDERLY)
        m = len(e)
        head_female = rng.random(m) < 0.35
        head_age = tri(rng, 55, 66, 88, m)
        with_wife = ~head_female & (rng.random(m) < 0.65)
        wife_age = head_age - tri(rng, -2, 4, 10, m)
        born = born_from_age(ref, head_age)
        name = self.names(style[e], head_female, born, clan=np.where(head_female, "", clan[e]).astype(object),
                          titles=np.ones(m, np.bool_))
        ibu = self.ghost(style[e], np.full(m, 1930))
        head[e] = self.add(fam=e, pos=0, rel=R[Rel.KEPALA_KELUARGA], role=ELDER, female=head_female, born=born,
                           name=name, ibu=ibu, adult=True)
        w = e[with_wife]
        born = born_from_age(ref, wife_age[with_wife])
        name = self.names(style[w], np.ones(len(w), np.bool_), born, clan=wife_clan[w])
        self.add(fam=w, pos=1, rel=R[Rel.ISTRI], role=ELDER, female=True, born=born, name=name,
                 ibu=self.ghost(style[w], np.full(len(w), 1935)), adult=True)

        # -- families with a school generation
        f = np.flatnonzero(kind != ELDERLY)
        m = len(f)
        k = kind[f]
        st = style[f]
        kids_cum = np.cumsum(KIDS_WEIGHTS).astype(np.float64)
        n_kids = pick_weighted(rng, kids_cum, m)
        n_kids = np.where(k != TWO, np.maximum(1, n_kids), n_kids)
        age_grand, age_young, age_family = tri(rng, 20, 29, 42, m), tri(rng, 19, 24, 40, m), tri(rng, 24, 37, 58, m)
        mother_age = np.where(k == GRAND, age_grand, np.where(n_kids == 0, age_young, age_family))
        father_age = mother_age + tri(rng, -2, 3, 12, m)
        first = tri(rng, 17, 21, 32, m)
        gaps = tri(rng, 1.2, 2.5, 6, m * (MAX_KIDS - 1)).reshape(m, MAX_KIDS - 1)
        twin = rng.random((m, MAX_KIDS - 1)) < sh.twins
        gaps[twin] = 0.0
        at_birth = np.cumsum(np.concatenate([first[:, None], gaps], axis=1), axis=1)
        slot = np.arange(MAX_KIDS)[None, :]
        valid = (slot < n_kids[:, None]) & (at_birth <= 45) & (at_birth <= mother_age[:, None])
        valid = np.cumprod(valid, axis=1).astype(np.bool_)
        kid_age = mother_age[:, None] - at_birth
        father_age = np.where(valid[:, 0], np.maximum(father_age, kid_age[:, 0] + 19), father_age)

        ghost_mm = self.ghost(st, ref_year - mother_age.astype(np.int64) - 25)
        ghost_fm = self.ghost(st, ref_year - father_age.astype(np.int64) - 25)
        has_mother = k != FATHER_ONLY
        has_father = k != MOTHER_ONLY
        # grandparent-headed: which parent is the grandparents' own child; is the spouse on the KK
        via_mother = rng.random(m) < 0.5
        spouse_on_kk = rng.random(m) < 0.85
        swap_heads = (k == TWO) & (rng.random(m) < 0.02)
        mother_on_kk = has_mother & ~((k == GRAND) & ~via_mother & ~spouse_on_kk)
        father_on_kk = has_father & ~((k == GRAND) & via_mother & ~spouse_on_kk)

        m_born = born_from_age(ref, mother_age)
        m_names = self.names(st, np.ones(m, np.bool_), m_born, clan=wife_clan[f])
        f_born = born_from_age(ref, father_age)
        f_names = self.names(st, np.zeros(m, np.bool_), f_born, clan=clan[f], titles=np.ones(m, np.bool_))
        absent_father_known = rng.random(m) < 0.75
        mother_name[f] = m_names
        father_name[f] = np.where(has_father | absent_father_known, f_names, "")
        # the mother of the parent generation as the KK records it (changed below for grandparents)
        m_ibu = ghost_mm.copy()
        f_ibu = ghost_fm.copy()

        # grandparents heading the KK (GRAND) and grandparents living with the family (ORANG_TUA)
        own_age = np.where(via_mother, mother_age, father_age)
        gm_age = own_age + tri(rng, 18, 25, 40, m)
        gf_age = gm_age + tri(rng, -2, 4, 10, m)
        gf_present = rng.random(m) < 0.75
        gm_with_gf = rng.random(m) < 0.8
        gp_clan_new = self.clans(st, kec[f])
        gm_clan = self.clans(st, kec[f])
        extra_gp = (k != GRAND) & (rng.random(m) < 0.10)
        extra_gm = rng.random(m) < 0.7
        base_age = np.where(has_father, father_age, mother_age)
        extra_age = base_age + tri(rng, 18, 25, 40, m)
        extra_gp &= extra_age <= 92
        gp_ibu_old = self.ghost(st, np.full(m, 1930))
        gp_ibu_older = self.ghost(st, np.full(m, 1925))

        grand = k == GRAND
        gf = grand & gf_present
        gm = grand & (~gf_present | gm_with_gf)
        gf_born = born_from_age(ref, gf_age)
        gm_born = born_from_age(ref, gm_age)
        gp_clan = np.where(via_mother, gp_clan_new, clan[f]).astype(object)
        gf_names = self.names(st, np.zeros(m, np.bool_), gf_born, clan=gp_clan, titles=np.ones(m, np.bool_))
        gm_names = self.names(st, np.ones(m, np.bool_), gm_born, clan=gm_clan)
        extra_born = born_from_age(ref, extra_age)
        extra_names = self.names(st, extra_gm, extra_born, clan=np.where(extra_gm, "", clan[f]).astype(object),
                                 titles=~extra_gm)
        # the grandmother is the own parent's mother (GRAND) or the base parent's mother (ORANG_TUA)
        m_ibu = np.where(gm & via_mother, gm_names, m_ibu).astype(object)
        f_ibu = np.where(gm & ~via_mother, gm_names, f_ibu).astype(object)
        to_father = extra_gp & extra_gm & has_father
        to_mother = extra_gp & extra_gm & ~has_father
        f_ibu = np.where(to_father, extra_names, f_ibu).astype(object)
        m_ibu = np.where(to_mother, extra_names, m_ibu).astype(object)

        # fathers
        sel = father_on_kk
        rel = np.where(k == GRAND, np.where(via_mother, R[Rel.MENANTU], R[Rel.ANAK]),
                       np.where(swap_heads, R[Rel.SUAMI], R[Rel.KEPALA_KELUARGA]))
        pos = np.where(k == GRAND, np.where(via_mother, 3, 2), np.where(swap_heads, 1, 0))
        father[f[sel]] = self.add(fam=f[sel], pos=pos[sel], rel=rel[sel], role=FATHER, female=False,
                                  born=f_born[sel], name=f_names[sel], ibu=f_ibu[sel], adult=True)
        # mothers
        sel = mother_on_kk
        rel = np.where(k == GRAND, np.where(via_mother, R[Rel.ANAK], R[Rel.MENANTU]),
                       np.where(swap_heads | (k == MOTHER_ONLY), R[Rel.KEPALA_KELUARGA], R[Rel.ISTRI]))
        pos = np.where(k == GRAND, np.where(via_mother, 2, 3), np.where(swap_heads | (k == MOTHER_ONLY), 0, 1))
        mother[f[sel]] = self.add(fam=f[sel], pos=pos[sel], rel=rel[sel], role=MOTHER, female=True,
                                  born=m_born[sel], name=m_names[sel], ibu=m_ibu[sel], adult=True)
        # children (family-major order: the student records follow it)
        kid_female = rng.random((m, MAX_KIDS)) < 0.5
        kid_born = born_from_age(ref, kid_age.ravel()).reshape(m, MAX_KIDS)
        on_kk = valid & (kid_age < 24.9)
        rows, cols = np.nonzero(on_kk)
        cb = kid_born[rows, cols]
        keep = age_at(ref, cb) <= 24
        rows, cols, cb = rows[keep], cols[keep], cb[keep]
        cf = kid_female[rows, cols]
        fam_c = f[rows]
        c_names = self.names(st[rows], cf, cb, order=cols, clan=clan[fam_c], father_name=father_name[fam_c])
        # twins get different names
        is_twin = np.zeros(len(rows), np.bool_)
        prev_same = np.zeros(len(rows), np.bool_)
        if len(rows) > 1:
            prev_same[1:] = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1] + 1)
        twin_pair = np.zeros(len(rows), np.bool_)
        twin_pair[1:] = prev_same[1:] & twin[rows[1:], np.clip(cols[1:] - 1, 0, MAX_KIDS - 2)]
        for _ in range(4):
            clash = np.flatnonzero(twin_pair & (c_names == np.roll(c_names, 1)))
            if not len(clash):
                break
            c_names[clash] = self.names(st[rows[clash]], cf[clash], cb[clash], order=cols[clash],
                                        clan=clan[fam_c[clash]], father_name=father_name[fam_c[clash]])
        is_twin[twin_pair] = True
        is_twin[np.flatnonzero(twin_pair) - 1] = True
        rel = np.where(k[rows] == GRAND, R[Rel.CUCU], R[Rel.ANAK])
        pos = np.where(k[rows] == GRAND, 4, 2) + cols
        c_ages = age_at(ref, cb)
        children = self.add(fam=fam_c, pos=pos, rel=rel, role=CHILD, female=cf, born=cb, name=c_names,
                            ibu=mother_name[fam_c], adult=c_ages >= 17, order=cols)
        self._twin_pairs = np.stack([children[np.flatnonzero(twin_pair) - 1], children[twin_pair]], axis=1)
        # grandparents
        sel = gf
        gf_idx = self.add(fam=f[sel], pos=0, rel=R[Rel.KEPALA_KELUARGA], role=GRANDPARENT, female=False,
                          born=gf_born[sel], name=gf_names[sel], ibu=gp_ibu_old[sel], adult=True)
        gp[f[sel], 0] = gf_idx
        sel = gm
        gm_idx = self.add(fam=f[sel], pos=np.where(gf_present[sel], 1, 0),
                          rel=np.where(gf_present[sel], R[Rel.ISTRI], R[Rel.KEPALA_KELUARGA]), role=GRANDPARENT,
                          female=True, born=gm_born[sel], name=gm_names[sel], ibu=gp_ibu_old[sel], adult=True)
        gp[f[sel], 1] = gm_idx
        sel = extra_gp
        ex_idx = self.add(fam=f[sel], pos=9, rel=R[Rel.ORANG_TUA], role=GRANDPARENT, female=extra_gm[sel],
                          born=extra_born[sel], name=extra_names[sel], ibu=gp_ibu_older[sel], adult=True)
        gp[f[sel], 0] = ex_idx
        # who heads the KK
        head_of = np.where(k == GRAND, np.where(gf_present, -2, -3), np.where(
            swap_heads | (k == MOTHER_ONLY), -4, -5))
        ff = f
        head[ff[head_of == -2]] = gp[ff[head_of == -2], 0]
        head[ff[head_of == -3]] = gp[ff[head_of == -3], 1]
        head[ff[head_of == -4]] = mother[ff[head_of == -4]]
        head[ff[head_of == -5]] = father[ff[head_of == -5]]

        c = {key: np.concatenate(v) if v else np.zeros(0) for key, v in self._cols.items()}
        n_p = self._count
        twin_of = np.full(n_p, -1, np.int64)
        pairs = self._twin_pairs
        twin_of[pairs[:, 0]] = pairs[:, 1]
        twin_of[pairs[:, 1]] = pairs[:, 0]
        return Population(
            f_kec=kec, f_desa=desa, f_style=style, f_kind=kind, f_in_registry=in_registry, f_father=father,
            f_mother=mother, f_father_name=father_name, f_mother_name=mother_name, f_gp=gp, f_head=head,
            f_desil=desil, f_triwulan=triwulan, f_kks=kks, f_street=street, f_rt=rt, f_rw=rw,
            f_kk_changed=kk_changed,
            p_fam=c["fam"], p_pos=c["pos"], p_rel=c["rel"], p_role=c["role"], p_female=c["female"],
            p_born=c["born"], p_name=c["name"].astype(object), p_ibu=c["ibu"].astype(object), p_adult=c["adult"],
            p_order=c["order"], p_twin=twin_of, p_style=style[c["fam"]],
        )


def build_population(cfg: WorldConfig, regions: Regions, rng: np.random.Generator, pools: NamePools,
                     n_families: int) -> Population:
    return Builder(cfg, regions, rng, pools).build(n_families)
