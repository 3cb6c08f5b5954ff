"""Generate a deterministic synthetic world: registry families, madrasah, schools, students, truth.

One ``random.Random(config.seed)`` is threaded through every step in a fixed order; nothing iterates a
set or reads the clock, so the same config always writes byte-identical files. The model, the error
rates and the file formats are described in ``docs/world.md``.
"""

from __future__ import annotations

import bisect
import gc
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.contracts.kemensos import HubunganKeluarga as Rel
from shared.contracts.kemensos import KomponenPkh, StatusPkh
from shared.nik import Sex, encode
from shared.regions import current_kecamatan, desa_by_kecamatan, provinces
from worldgen.config import WorldConfig
from worldgen.errors import ErrorCode, apply_errors, typo_digit
from worldgen.names import (
    MARGA,
    MARGA_MUSLIM,
    MUSLIM_STYLES,
    Style,
    family_name_pool,
    given_token,
    person_name,
    style_for,
    variant,
)
from worldgen.truth import GROUND_TRUTH_FILE
from worldgen.version import __version__

# Approximate mid-2024 population in millions per province (BPS, Proyeksi Penduduk / "Jumlah Penduduk
# Pertengahan Tahun 2024", rounded; the 2022 Papua provinces split from BPS's Papua figures).
# Only the relative shares matter.
PROVINCE_POPULATION: dict[str, float] = {
    "11": 5.55, "12": 15.59, "13": 5.84, "14": 6.73, "15": 3.74, "16": 8.84, "17": 2.11, "18": 9.31,
    "19": 1.53, "21": 2.18, "31": 10.68, "32": 50.35, "33": 37.89, "34": 3.76, "35": 41.65, "36": 12.43,
    "51": 4.43, "52": 5.65, "53": 5.66, "61": 5.62, "62": 2.81, "63": 4.22, "64": 4.04, "65": 0.73,
    "71": 2.66, "72": 3.12, "73": 9.46, "74": 2.83, "75": 1.21, "76": 1.48, "81": 1.94, "82": 1.36,
    "91": 1.06, "92": 0.57, "93": 0.54, "94": 1.47, "95": 1.46, "96": 0.63,
}

FILES = (
    "kemensos/keluarga.jsonl", "kemensos/anggota_keluarga.jsonl", "kemensos/pkh.jsonl",
    "kemensos/kip.jsonl", "emis/madrasah.jsonl", "emis/siswa.jsonl", "dapodik/sekolah.jsonl",
    "dapodik/peserta_didik.jsonl", GROUND_TRUTH_FILE,
)

# desil 1..10 of registry families: the registry mostly holds poorer households.
DESIL_WEIGHTS = (18, 16, 14, 12, 10, 8, 7, 6, 5, 4)
KIDS_WEIGHTS = (8, 22, 32, 20, 11, 7)  # 0..5 children
EMIS_JENJANG = ("RA", "MI", "MI", "MI", "MI", "MI", "MI", "MTs", "MTs", "MTs", "MA", "MA", "MA")  # by tingkat
NSM_TYPE = {"RA": "101", "MI": "111", "MTs": "121", "MA": "131"}
NEGERI_SHARE = {"RA": 0.0, "MI": 0.07, "MTs": 0.15, "MA": 0.20, "SD": 0.88, "SMP": 0.60, "SMA": 0.50,
                "SMK": 0.25}
JENJANG_START = {"RA": 0, "MI": 1, "MTs": 7, "MA": 10, "SD": 1, "SMP": 7, "SMA": 10, "SMK": 10}
PKH_OF = {"RA": KomponenPkh.ANAK_USIA_DINI, "MI": KomponenPkh.SD, "SD": KomponenPkh.SD,
          "MTs": KomponenPkh.SMP, "SMP": KomponenPkh.SMP, "MA": KomponenPkh.SMA, "SMA": KomponenPkh.SMA,
          "SMK": KomponenPkh.SMA}
KOMPONEN_ORDER = {k: i for i, k in enumerate(KomponenPkh)}
ROMAN = ("RA", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
STREETS = ("JL. MAWAR", "JL. MELATI", "DUSUN KRAJAN", "KP. SUKAMAJU", "JL. MASJID", "JL. RAYA",
           "GG. BERINGIN", "DUSUN SUKAMAKMUR", "LINGKUNGAN II", "JL. PENDIDIKAN", "DUSUN TIMUR", "JL. KENANGA")
MADRASAH_FOUNDATIONS = ("MIFTAHUL HUDA", "NURUL ISLAM", "AL-HIDAYAH", "MA'ARIF NU", "MUHAMMADIYAH",
                        "DARUL ULUM", "AL-FALAH", "NURUL HUDA", "AL-IKHLAS", "DARUSSALAM", "AL-MUTTAQIN",
                        "HIDAYATUL MUBTADI'IN", "PERSIS", "AL-KHAIRIYAH")
SEKOLAH_FOUNDATIONS = ("MUHAMMADIYAH", "PGRI", "ISLAM TERPADU AL-FATH", "KATOLIK SANTO YOSEF", "KRISTEN",
                       "TAMAN SISWA", "BINA BANGSA", "TUNAS HARAPAN", "NUSANTARA", "BUDI UTOMO")
KKS_PREFIXES = ("601301", "522184", "541151", "603298")
KIP_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_KK_EPOCH = date(1996, 1, 1).toordinal()  # earliest recording date of a current KK


class WorldSummary(BaseModel):
    out_dir: str
    seed: int
    n_families: int
    n_registry_families: int
    n_persons: int
    n_students: int
    counts: dict[str, int]
    errors: dict[str, int]


# ---- people and families ---------------------------------------------------------------------


@dataclass(slots=True)
class Person:
    nik: str
    nama: str
    female: bool
    born: date
    tempat_lahir: str
    nama_ibu_kandung: str
    rel: Rel
    order: int = 0


@dataclass(slots=True)
class Enrolment:
    family: Family
    child: Person
    system: str  # "emis" | "dapodik"
    kind: str  # RA/MI/MTs/MA or SD/SMP/SMA/SMK
    grade: int
    active: bool
    institution: Institution | None = None


@dataclass(slots=True)
class Institution:
    system: str
    kind: str
    ident: str  # nsm (EMIS) or sekolah_id (Dapodik)
    npsn: str
    nama: str
    negeri: bool
    kode_wilayah: str
    nipd_next: int = 1


@dataclass(slots=True)
class Family:
    no_kk: str
    kk_date: date
    kec: str
    desa: str
    style: Style
    in_registry: bool
    members: list[Person]
    children: list[Person]  # the school generation (ANAK, or CUCU under a grandparent head)
    father: Person | None
    mother: Person | None
    father_name: str  # for nama_ayah: the father's name even when he is not on the KK
    mother_name: str  # for nama_ibu_kandung of the children
    grandparents: list[Person]
    desil: int | None = None
    triwulan: str = ""
    no_kks: str | None = None
    alamat: str = ""
    prev_kk: str | None = None
    pkh_status: StatusPkh | None = None
    komponen: list[KomponenPkh] = field(default_factory=list)
    enrolments: list[Enrolment] = field(default_factory=list)
    other_wali: tuple[str, str] | None = None


def _cum(weights: list[float] | tuple[float, ...]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _tri(rng: random.Random, low: float, high: float, mode: float) -> float:
    return rng.triangular(low, high, mode)


def _age_to_date(ref: date, age: float) -> date:
    return date.fromordinal(ref.toordinal() - int(age * 365.2425))


def _age(ref: date, born: date) -> int:
    return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))


def _place(kab_name: str) -> str:
    """'Kabupaten Bandung' / 'Kota Administrasi Jakarta Timur' -> 'BANDUNG' / 'JAKARTA TIMUR'."""
    name = kab_name.upper()
    for p in ("KABUPATEN ", "KOTA ", "ADMINISTRASI "):
        if name.startswith(p):
            name = name[len(p):]
    return name


class _Generator:
    def __init__(self, config: WorldConfig) -> None:
        self.cfg = config
        self.ref = config.reference_date
        self.rng = random.Random(config.seed)
        kecs = current_kecamatan()
        desa = desa_by_kecamatan()
        provs = provinces()
        missing = sorted(set(provs) - set(PROVINCE_POPULATION))
        if missing:
            raise ValueError(f"PROVINCE_POPULATION lacks provinces {missing}")
        self.kec_codes = sorted(c for c in kecs if desa.get(c))
        self.desa = {c: desa[c] for c in self.kec_codes}
        self.place = {c: _place(kecs[c].kabupaten) for c in self.kec_codes}
        self.kab_name = {c[:4]: _place(kecs[c].kabupaten) if kecs[c].kabupaten.startswith("Kabupaten")
                         else f"KOTA {_place(kecs[c].kabupaten)}" for c in self.kec_codes}
        self.kec_by_kab: dict[str, list[str]] = {}
        self.kec_by_prov: dict[str, list[str]] = {}
        for c in self.kec_codes:
            self.kec_by_kab.setdefault(c[:4], []).append(c)
            self.kec_by_prov.setdefault(c[:2], []).append(c)
        self.kabs = sorted(self.kec_by_kab)
        kab_w = [PROVINCE_POPULATION[k[:2]] * len(self.kec_by_kab[k]) / len(self.kec_by_prov[k[:2]])
                 for k in self.kabs]
        self.kab_cum = _cum(kab_w)
        self.prov_codes = sorted(self.kec_by_prov)
        self.prov_cum = _cum([PROVINCE_POPULATION[p] for p in self.prov_codes])
        self.desil_cum = _cum(DESIL_WEIGHTS)
        self.kids_cum = _cum(KIDS_WEIGHTS)
        # allocators (membership only, never iterated)
        self.nik_serial: dict[str, int] = {}
        self.kk_serial: dict[str, int] = {}
        self.used_kks: set[str] = set()
        self.used_npsn: set[str] = set()
        self.used_kip: set[str] = set()
        self.used_nisn: set[str] = set()
        self.nsm_serial: dict[str, int] = {}
        self.inst_number: dict[str, int] = {}
        self.inst_groups: dict[tuple[str, str, str], list[Institution]] = {}
        self.triwulans = self._triwulans()
        self.ref_ordinal = self.ref.toordinal()
        self.moved_adult = config.shares.moved_adult
        self.moved_child = config.shares.moved_child

    # -- small helpers -------------------------------------------------------------------------

    def _pick_cum(self, items: list[str] | tuple[Any, ...], cum: list[float]) -> Any:
        return items[bisect.bisect_right(cum, self.rng.random() * cum[-1])]

    def _choice(self, items: list[Any] | tuple[Any, ...]) -> Any:
        return items[int(self.rng.random() * len(items))]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _triwulans(self) -> list[str]:
        y, q = self.ref.year, self.cfg.tahap
        out = []
        for _ in range(3):
            out.append(f"{y}-Q{q}")
            q -= 1
            if q == 0:
                y, q = y - 1, 4
        return out

    def nik(self, prefix: str, female: bool, born: date) -> str:
        key = f"{prefix}{born.day + (40 if female else 0):02d}{born.month:02d}{born.year % 100:02d}"
        serial = self.nik_serial.get(key)
        if serial is None:
            serial = 1 + int(self.rng.random() * 25)  # serials start low; offsets vary by key
        if serial > 9999:
            raise RuntimeError(f"NIK serials exhausted for {key}")
        self.nik_serial[key] = serial + 1
        return encode(prefix, Sex.P if female else Sex.L, born, serial)

    def kk_number(self, kec: str, recorded: date) -> str:
        key = f"{kec}{recorded.day:02d}{recorded.month:02d}{recorded.year % 100:02d}"
        serial = self.kk_serial.get(key)
        if serial is None:
            serial = 1 + int(self.rng.random() * 40)
        if serial > 9999:
            raise RuntimeError(f"KK serials exhausted for {key}")
        self.kk_serial[key] = serial + 1
        return f"{key}{serial:04d}"

    def other_kec(self, kec: str) -> str:
        if self.rng.random() < 0.6:
            pool = self.kec_by_prov[kec[:2]]
        else:
            pool = self.kec_by_prov[self._pick_cum(self.prov_codes, self.prov_cum)]
        other = self._choice(pool)
        return other if other != kec else self._choice(self.kec_codes)

    def prefix_for(self, kec: str, adult: bool) -> str:
        share = self.moved_adult if adult else self.moved_child
        return self.other_kec(kec) if self.rng.random() < share else kec

    def person(self, *, kec: str, style: Style, female: bool, age: float, rel: Rel, mother_name: str,
               adult: bool, order: int = 0, clan: str = "", father_given: str = "",
               titles: bool = False) -> Person:
        born = date.fromordinal(self.ref_ordinal - int(age * 365.2425))
        prefix = self.other_kec(kec) if self.rng.random() < (
            self.moved_adult if adult else self.moved_child) else kec
        nama = person_name(self.rng, style, female, born.year, order=order, clan=clan,
                           father_given=father_given, adult_male_titles=titles)
        return Person(self.nik(prefix, female, born), nama, female, born, self.place[prefix], mother_name,
                      rel, order)

    def ghost_name(self, style: Style, female: bool, born_year: int, clan: str = "") -> str:
        return person_name(self.rng, style, female, born_year, clan=clan)

    def clan_for(self, style: Style, kec: str) -> str:
        if style is Style.BATAK:
            return self._choice(MARGA)
        if style is Style.MANDAILING:
            return self._choice(MARGA_MUSLIM)
        if style is Style.TIMUR:
            return self._choice(family_name_pool(kec[:2]))
        return ""

    # -- families ------------------------------------------------------------------------------

    def families(self) -> list[Family]:
        cfg = self.cfg
        n_clusters = math.ceil(cfg.n_families / cfg.families_per_kabupaten)
        clusters = [self._pick_cum(self.kabs, self.kab_cum) for _ in range(n_clusters)]
        out = []
        for i in range(cfg.n_families):
            kab = clusters[i // cfg.families_per_kabupaten]
            kec = self._choice(self.kec_by_kab[kab])
            out.append(self.family(kec))
        return out

    def family(self, kec: str) -> Family:
        rng = self.rng
        r = rng.random
        desa = self._choice(self.desa[kec])
        style = style_for(rng, kec[:2])
        t = r()
        kind = ("two" if t < 0.76 else "mother" if t < 0.87 else "father" if t < 0.91
                else "grand" if t < 0.95 else "elderly")
        clan = self.clan_for(style, kec)
        members: list[Person] = []
        grandparents: list[Person] = []

        if kind == "elderly":
            head_female = r() < 0.35
            head_age = _tri(rng, 55, 88, 66)
            head = self.person(kec=kec, style=style, female=head_female, age=head_age, rel=Rel.KEPALA_KELUARGA,
                               mother_name=self.ghost_name(style, True, 1930), adult=True,
                               clan="" if head_female else clan, titles=True)
            members.append(head)
            if not head_female and r() < 0.65:
                wife = self.person(kec=kec, style=style, female=True, age=head_age - _tri(rng, -2, 10, 4),
                                   rel=Rel.ISTRI, mother_name=self.ghost_name(style, True, 1935), adult=True,
                                   clan=self.clan_for(style, kec))
                members.append(wife)
            return self._finish(kec, desa, style, members, [], None, None, "", "", [], head.born)

        n_kids = bisect.bisect_right(self.kids_cum, r() * self.kids_cum[-1])
        if kind != "two":
            n_kids = max(1, n_kids)
        if kind == "grand":
            mother_age = _tri(rng, 20, 42, 29)
        elif n_kids == 0:
            mother_age = _tri(rng, 19, 40, 24)
        else:
            mother_age = _tri(rng, 24, 58, 37)
        father_age = mother_age + _tri(rng, -2, 12, 3)
        # children: mother 17-45 at each birth, 1.2-6 years apart
        kid_ages: list[float] = []
        at_birth = _tri(rng, 17, 32, 21)
        for _ in range(n_kids):
            if at_birth > 45 or at_birth > mother_age:
                break
            kid_ages.append(mother_age - at_birth)
            at_birth += _tri(rng, 1.2, 6, 2.5)
        if kid_ages:
            father_age = max(father_age, kid_ages[0] + 19)

        mother_name_of_mother = self.ghost_name(style, True, self.ref.year - int(mother_age) - 25)
        father_name_of_mother = self.ghost_name(style, True, self.ref.year - int(father_age) - 25)
        has_father = kind != "mother"
        has_mother = kind != "father"
        mother = father = None
        wife_clan = self.clan_for(style, kec)
        if has_mother:
            mother = self.person(kec=kec, style=style, female=True, age=mother_age, rel=Rel.ISTRI,
                                 mother_name=mother_name_of_mother, adult=True, clan=wife_clan)
            mother_name = mother.nama
        else:
            mother_name = self.ghost_name(style, True, self.ref.year - int(mother_age), clan=wife_clan)
        if has_father:
            father = self.person(kec=kec, style=style, female=False, age=father_age, rel=Rel.KEPALA_KELUARGA,
                                 mother_name=father_name_of_mother, adult=True, clan=clan, titles=True)
            father_name = father.nama
        else:
            father_name = (self.ghost_name(style, False, self.ref.year - int(father_age), clan=clan)
                           if r() < 0.75 else "")
        fgiven = given_token(father_name) if father_name else ""
        # children over 24 have their own KK: they only count for the birth order of the others
        children = [
            self.person(kec=kec, style=style, female=r() < 0.5, age=age, rel=Rel.ANAK, mother_name=mother_name,
                        adult=age >= 17, order=k, clan=clan, father_given=fgiven)
            for k, age in enumerate(kid_ages) if age < 24.9
        ]
        children = [c for c in children if _age(self.ref, c.born) <= 24]

        parents = [p for p in (father, mother) if p is not None]
        if kind == "grand":
            # a grandparent heads the KK; one parent is the grandparents' child, the other a MENANTU
            via_mother = mother is not None and (father is None or r() < 0.5)
            own = mother if via_mother else father
            assert own is not None
            own_age = _age(self.ref, own.born)
            gm_age = own_age + _tri(rng, 18, 40, 25)
            gf_age = gm_age + _tri(rng, -2, 10, 4)
            gp_clan = clan if not via_mother else self.clan_for(style, kec)
            if r() < 0.75:
                gf = self.person(kec=kec, style=style, female=False, age=gf_age, rel=Rel.KEPALA_KELUARGA,
                                 mother_name=self.ghost_name(style, True, 1930), adult=True, clan=gp_clan,
                                 titles=True)
                grandparents.append(gf)
                if r() < 0.8:
                    grandparents.append(self._grandmother(kec, style, gm_age, Rel.ISTRI))
            else:
                grandparents.append(self._grandmother(kec, style, gm_age, Rel.KEPALA_KELUARGA))
            own.nama_ibu_kandung = grandparents[-1].nama if grandparents[-1].female else own.nama_ibu_kandung
            own.rel = Rel.ANAK
            members = list(grandparents)
            members.append(own)
            spouse = father if via_mother else mother
            if spouse is not None and r() < 0.85:
                spouse.rel = Rel.MENANTU
                members.append(spouse)
            elif spouse is not None:  # the spouse lives elsewhere: keep the name, not the KK link
                if spouse is father:
                    father = None
                else:
                    mother = None
            for c in children:
                c.rel = Rel.CUCU
            members += children
        else:
            if father is not None and mother is not None and r() < 0.02:
                mother.rel, father.rel = Rel.KEPALA_KELUARGA, Rel.SUAMI
                members = [mother, father]
            else:
                if mother is not None and father is None:
                    mother.rel = Rel.KEPALA_KELUARGA
                members = [*[p for p in (father, mother) if p is not None]]
            members += children
            if r() < 0.10:
                base = parents[0]
                gm = r() < 0.7
                gp_age = _age(self.ref, base.born) + _tri(rng, 18, 40, 25)
                if gp_age <= 92:
                    gp = self.person(kec=kec, style=style, female=gm, age=gp_age, rel=Rel.ORANG_TUA,
                                     mother_name=self.ghost_name(style, True, 1925), adult=True,
                                     clan="" if gm else clan, titles=not gm)
                    if gm:
                        base.nama_ibu_kandung = gp.nama
                    grandparents.append(gp)
                    members.append(gp)
        head = members[0]
        return self._finish(kec, desa, style, members, children, father, mother, father_name, mother_name,
                            grandparents, head.born)

    def _grandmother(self, kec: str, style: Style, age: float, rel: Rel) -> Person:
        return self.person(kec=kec, style=style, female=True, age=age, rel=rel,
                           mother_name=self.ghost_name(style, True, 1930), adult=True,
                           clan=self.clan_for(style, kec))

    def _finish(self, kec: str, desa: str, style: Style, members: list[Person], children: list[Person],
                father: Person | None, mother: Person | None, father_name: str, mother_name: str,
                grandparents: list[Person], head_born: date) -> Family:
        rng = self.rng
        earliest = max(self.ref_ordinal - 18 * 365, head_born.toordinal() + 17 * 365, _KK_EPOCH)
        latest = self.ref_ordinal - 30
        kk_date = date.fromordinal(earliest + int(rng.random() * (max(0, latest - earliest) + 1)))
        fam = Family(
            no_kk=self.kk_number(kec, kk_date), kk_date=kk_date, kec=kec, desa=desa, style=style,
            in_registry=rng.random() >= self.cfg.shares.not_in_registry, members=members, children=children,
            father=father, mother=mother, father_name=father_name, mother_name=mother_name,
            grandparents=grandparents,
        )
        if fam.in_registry:
            r = rng.random()
            fam.desil = None if r < 0.02 else 1 + bisect.bisect_right(self.desil_cum, rng.random() * 100)
            t = rng.random()
            fam.triwulan = self.triwulans[0 if t < 0.80 else 1 if t < 0.95 else 2]
            if fam.desil is not None and fam.desil <= 4 and rng.random() < self.cfg.shares.kks:
                fam.no_kks = self._unique_digits(self._choice(KKS_PREFIXES), 16, self.used_kks)
            fam.alamat = (f"{self._choice(STREETS)} RT {1 + int(rng.random() * 12):03d} "
                          f"RW {1 + int(rng.random() * 8):03d}")
        return fam

    def _unique_digits(self, prefix: str, length: int, used: set[str]) -> str:
        n = length - len(prefix)
        while True:
            value = f"{prefix}{int(self.rng.random() * 10**n):0{n}d}"
            if value not in used:
                used.add(value)
                return value

    def previous_kk(self, fam: Family) -> str:
        if fam.prev_kk is None:
            earliest = max(date(1995, 1, 1), fam.kk_date - timedelta(days=12 * 365))
            span = max(1, (fam.kk_date - earliest).days - 30)
            recorded = earliest + timedelta(days=int(self.rng.random() * span))
            head = fam.members[0]
            kec = fam.kec if self.rng.random() < 0.7 else head.nik[:6]
            if kec not in self.desa:
                kec = fam.kec
            fam.prev_kk = self.kk_number(kec, recorded)
        return fam.prev_kk

    # -- enrolment -----------------------------------------------------------------------------

    def enrol(self, families: list[Family]) -> list[Enrolment]:
        sh = self.cfg.shares
        # madrasah probability for Muslim children, so that madrasah students are ~sh.madrasah overall
        n7 = m7 = m4 = 0
        for fam in families:
            muslim = fam.style in MUSLIM_STYLES
            for c in fam.children:
                a = _age(self.ref, c.born)
                if 7 <= a <= 18:
                    n7 += 1
                    m7 += muslim
                elif 4 <= a <= 6:
                    m4 += muslim
        denom = sh.enrolment * m7 + (1 - sh.madrasah) * m4
        p_madrasah = min(1.0, sh.madrasah * sh.enrolment * n7 / denom) if denom else 0.0
        r = self.rng.random
        out: list[Enrolment] = []
        for fam in families:
            muslim = fam.style in MUSLIM_STYLES
            for c in fam.children:
                a = _age(self.ref, c.born)
                if not 4 <= a <= 18:
                    continue
                madrasah = muslim and r() < p_madrasah
                if a <= 6:
                    if not madrasah:
                        continue
                    grade = 0
                else:
                    if r() >= sh.enrolment:
                        continue
                    grade = a - 6
                    if grade >= 2 and r() < sh.grade_behind:
                        grade -= 1
                system = "emis" if madrasah else "dapodik"
                e = Enrolment(fam, c, system, self._kind(system, grade), grade, True)
                fam.enrolments.append(e)
                out.append(e)
                if r() < sh.transfer:
                    old_system = "dapodik" if madrasah else "emis"
                    old_grade = grade - 1
                    if old_system == "dapodik" and old_grade < 1:
                        continue
                    if old_system == "emis" and not muslim:
                        continue
                    old = Enrolment(fam, c, old_system, self._kind(old_system, old_grade), old_grade, False)
                    fam.enrolments.append(old)
                    out.append(old)
        return out

    def _kind(self, system: str, grade: int) -> str:
        if system == "emis":
            return EMIS_JENJANG[grade]
        if grade <= 6:
            return "SD"
        if grade <= 9:
            return "SMP"
        return "SMA" if self.rng.random() < 0.55 else "SMK"

    def institutions(self, enrolments: list[Enrolment]) -> list[Institution]:
        groups: dict[tuple[str, str, str], list[Enrolment]] = {}
        for e in enrolments:
            groups.setdefault((e.system, e.family.kec[:4], e.kind), []).append(e)
        out: list[Institution] = []
        for key in sorted(groups):
            system, kab, kind = key
            members = groups[key]
            n = max(1, int(len(members) / self.cfg.students_per_institution))
            insts = [self._institution(system, kab, kind) for _ in range(n)]
            self.inst_groups[key] = insts
            for e in members:
                inst = insts[int(self.rng.random() * n)]
                if not inst.kode_wilayah:
                    inst.kode_wilayah = e.family.desa
                e.institution = inst
            for inst in insts:
                if not inst.kode_wilayah:
                    inst.kode_wilayah = self._choice(self.desa[self._choice(self.kec_by_kab[kab])])
            out += insts
        return out

    def _institution(self, system: str, kab: str, kind: str) -> Institution:
        negeri = self.rng.random() < NEGERI_SHARE[kind]
        number_key = f"{system}{kab}{kind}{negeri}"
        number = self.inst_number.get(number_key, 0) + 1
        self.inst_number[number_key] = number
        place = self.kab_name[kab]
        if system == "emis":
            nsm_key = f"{NSM_TYPE[kind]}{1 if negeri else 2}{kab}"
            serial = self.nsm_serial.get(nsm_key, int(self.rng.random() * 300)) + 1
            self.nsm_serial[nsm_key] = serial
            ident = f"{nsm_key}{serial:04d}"
            npsn = self._npsn(6)
            if negeri:
                label = {"MI": "MIN", "MTs": "MTSN", "MA": "MAN", "RA": "RA NEGERI"}[kind]
                nama = f"{label} {number} {place}"
            else:
                nama = f"{kind.upper()} {self._choice(MADRASAH_FOUNDATIONS)} {number} {place}"
        else:
            ident = self._uuid()
            npsn = self._npsn(1 + int(self.rng.random() * 5))
            if negeri:
                nama = f"{kind} NEGERI {number} {place}"
            else:
                nama = f"{kind} {self._choice(SEKOLAH_FOUNDATIONS)} {number} {place}"
        return Institution(system, kind, ident, npsn, nama[:150], negeri, "")

    def _npsn(self, first: int) -> str:
        while True:
            value = f"{first}{int(self.rng.random() * 10_000_000):07d}"
            if value not in self.used_npsn:
                self.used_npsn.add(value)
                return value

    # -- programmes ----------------------------------------------------------------------------

    def pkh(self, fam: Family) -> None:
        sh = self.cfg.shares
        r = self.rng.random
        komponen: set[KomponenPkh] = set()
        school_age = False
        active_kind = {id(e.child): e.kind for e in fam.enrolments if e.active}
        for c in fam.children:
            a = _age(self.ref, c.born)
            school_age = school_age or 6 <= a <= 18
            kind = active_kind.get(id(c))
            if kind is not None:
                komponen.add(PKH_OF[kind])
            elif a <= 6:
                komponen.add(KomponenPkh.ANAK_USIA_DINI)
        if any(_age(self.ref, m.born) >= 70 for m in fam.members):
            komponen.add(KomponenPkh.LANSIA)
        if r() < 0.03 and any(m.female and 18 <= _age(self.ref, m.born) <= 40 for m in fam.members):
            komponen.add(KomponenPkh.IBU_HAMIL)
        if r() < 0.015:
            komponen.add(KomponenPkh.DISABILITAS_BERAT)
        ordered = sorted(komponen, key=KOMPONEN_ORDER.__getitem__)[:4]
        d = fam.desil
        t = r()
        if d is not None and d <= 4 and ordered and t < (sh.pkh_active if school_age else sh.pkh_active_other):
            fam.pkh_status, fam.komponen = StatusPkh.AKTIF, ordered
            return
        t = r()
        if d is None or d > 6:
            return
        inactive = sh.pkh_inactive if d <= 4 else 0.0  # TIDAK_AKTIF only in desil 1-4
        if t < inactive:
            fam.pkh_status, fam.komponen = StatusPkh.TIDAK_AKTIF, ordered
        elif t < inactive + sh.pkh_graduated:
            fam.pkh_status, fam.komponen = StatusPkh.GRADUASI, []

    def kip_number(self) -> str:
        while True:
            value = "".join(self._choice(KIP_ALPHABET) for _ in range(6))
            if value not in self.used_kip:
                self.used_kip.add(value)
                return value

    def nisn(self, born: date) -> str:
        return self._unique_digits(f"{born.year % 1000:03d}", 10, self.used_nisn)


# ---- records ----------------------------------------------------------------------------------


# One encoder for all rows: json.dumps(..., separators=...) would build a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = _ENCODER.encode
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for start in range(0, len(rows), 10_000):
            fh.write("".join([encode(r) + "\n" for r in rows[start:start + 10_000]]))


def generate_world(config: WorldConfig, out_dir: Path) -> WorldSummary:
    """Generate the world described by ``config`` into ``out_dir`` (created if needed).

    The cyclic garbage collector is paused while the world is built: the generator creates hundreds
    of thousands of long-lived objects and no reference cycles worth collecting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(config, Path(out_dir))
    finally:
        if was_enabled:
            gc.enable()


def _generate(config: WorldConfig, out_dir: Path) -> WorldSummary:
    g = _Generator(config)
    rng = g.rng
    sh = config.shares
    ref = config.reference_date
    families = g.families()
    enrolments = g.enrol(families)
    institutions = g.institutions(enrolments)

    # PKH and KIP (registry side)
    kip_of: dict[int, str] = {}
    kip_rows: list[dict[str, Any]] = []
    for fam in families:
        if not fam.in_registry:
            continue
        g.pkh(fam)
        if fam.desil is None or fam.desil > 4:
            continue
        for e in fam.enrolments:
            c = e.child
            if not (e.active and e.system == "dapodik" and 6 <= _age(ref, c.born) <= 18):
                continue
            if rng.random() >= sh.kip:
                continue
            no_kip = g.kip_number()
            kip_of[id(c)] = no_kip
            t = rng.random()
            nik = None if t < sh.kip_nik_missing else (
                typo_digit(rng, c.nik) if t < sh.kip_nik_missing + sh.kip_nik_wrong else c.nik)
            nama = variant(rng, c.nama, female=c.female) if rng.random() < sh.kip_name_variant else c.nama
            ibu = c.nama_ibu_kandung
            if ibu and rng.random() < sh.kip_mother_variant:
                ibu = variant(rng, ibu, female=True)
            low = max(2014, ref.year - 4, c.born.year + 6)
            kip_rows.append({
                "no_kip": no_kip, "nama": nama, "tanggal_lahir": c.born.isoformat(), "nama_ibu_kandung": ibu,
                "kode_wilayah": fam.desa, "jenjang": e.kind, "nik": nik,
                "tahun": low + int(rng.random() * (ref.year - low + 1)) if low <= ref.year else ref.year,
            })

    # student records
    siswa_rows: list[dict[str, Any]] = []
    pd_rows: list[dict[str, Any]] = []
    truth_rows: list[dict[str, Any]] = []
    error_counts = {code.value: 0 for code in ErrorCode}
    p_dup = config.error_rates.duplicate_record
    p_extra = p_dup / (1 - p_dup) if p_dup < 1 else 1.0  # so that duplicates are p_dup of all records
    nisn_of: dict[int, str | None] = {}
    for e in enrolments:
        fam, c = e.family, e.child
        if id(c) not in nisn_of:
            nisn_of[id(c)] = None if e.grade == 0 or rng.random() < sh.nisn_missing else g.nisn(c.born)
        copies = [False]
        if rng.random() < p_extra:
            copies.append(True)
        for dup in copies:
            inst = e.institution
            assert inst is not None
            if dup and rng.random() < 0.4:  # entered again at another institution of the same kind
                inst = g._choice(g.inst_groups[(e.system, fam.kec[:4], e.kind)])
            rec = _student_base(fam, c, nisn_of[id(c)])
            codes = apply_errors(rng, config.error_rates, rec, child_female=c.female, true_dob=c.born,
                                 previous_kk=lambda fam=fam: g.previous_kk(fam))
            if dup:
                codes = [*codes, ErrorCode.DUPLICATE_RECORD]
            for code in codes:
                error_counts[code.value] += 1
            student_id = g._uuid()
            row = _student_row(g, fam, e, inst, rec, student_id)
            (siswa_rows if e.system == "emis" else pd_rows).append(row)
            truth_rows.append({
                "system": e.system, "student_id": student_id, "true_nik": c.nik,
                "in_registry": fam.in_registry, "true_no_kk": fam.no_kk if fam.in_registry else None,
                "true_nik_ibu": fam.mother.nik if fam.mother else None,
                "true_nik_ayah": fam.father.nik if fam.father else None,
                "pkh_active": fam.pkh_status is StatusPkh.AKTIF, "kip_no": kip_of.get(id(c)),
                "errors": [str(code) for code in codes],
            })

    # registry rows
    keluarga_rows, anggota_rows, pkh_rows = [], [], []
    for fam in families:
        if not fam.in_registry:
            continue
        keluarga_rows.append({"no_kk": fam.no_kk, "kode_wilayah": fam.desa, "alamat": fam.alamat,
                              "desil": fam.desil, "dtsen_triwulan": fam.triwulan, "no_kks": fam.no_kks})
        for pos, m in enumerate(fam.members):
            anggota_rows.append((fam.no_kk, pos, {
                "nik": m.nik, "no_kk": fam.no_kk, "nama": m.nama, "jenis_kelamin": "P" if m.female else "L",
                "tempat_lahir": m.tempat_lahir, "tanggal_lahir": m.born.isoformat(),
                "nama_ibu_kandung": m.nama_ibu_kandung, "hubungan_keluarga": m.rel.value,
            }))
        if fam.pkh_status is not None:
            pkh_rows.append({"no_kk": fam.no_kk, "status": fam.pkh_status.value,
                             "komponen": [k.value for k in fam.komponen], "tahun": config.tahun,
                             "tahap": config.tahap})

    madrasah_rows = [{"nsm": i.ident, "npsn": i.npsn, "nama": i.nama, "jenjang": i.kind,
                      "status": "NEGERI" if i.negeri else "SWASTA", "kode_wilayah": i.kode_wilayah}
                     for i in institutions if i.system == "emis"]
    sekolah_rows = [{"sekolah_id": i.ident, "npsn": i.npsn, "nama": i.nama, "bentuk_pendidikan": i.kind,
                     "status_sekolah": "NEGERI" if i.negeri else "SWASTA", "kode_wilayah": i.kode_wilayah}
                    for i in institutions if i.system == "dapodik"]

    files: dict[str, list[dict[str, Any]]] = {
        "kemensos/keluarga.jsonl": sorted(keluarga_rows, key=lambda r: r["no_kk"]),
        "kemensos/anggota_keluarga.jsonl": [row for _, _, row in sorted(anggota_rows, key=lambda t: t[:2])],
        "kemensos/pkh.jsonl": sorted(pkh_rows, key=lambda r: r["no_kk"]),
        "kemensos/kip.jsonl": sorted(kip_rows, key=lambda r: r["no_kip"]),
        "emis/madrasah.jsonl": sorted(madrasah_rows, key=lambda r: r["nsm"]),
        "emis/siswa.jsonl": sorted(siswa_rows, key=lambda r: r["siswa_id"]),
        "dapodik/sekolah.jsonl": sorted(sekolah_rows, key=lambda r: r["sekolah_id"]),
        "dapodik/peserta_didik.jsonl": sorted(pd_rows, key=lambda r: r["peserta_didik_id"]),
        GROUND_TRUTH_FILE: sorted(truth_rows, key=lambda r: (r["system"], r["student_id"])),
    }
    for name in FILES:
        _write_jsonl(out_dir / name, files[name])
    counts = {name: len(files[name]) for name in FILES}
    n_registry = len(keluarga_rows)
    manifest = {
        "generator": "worldgen",
        "generator_version": __version__,
        "seed": config.seed,
        "reference_date": ref.isoformat(),
        "config": config.model_dump(mode="json"),
        "counts": counts,
        "families": {"total": len(families), "in_registry": n_registry,
                     "not_in_registry": len(families) - n_registry},
        "errors": error_counts,
    }
    (out_dir / "world.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                        encoding="utf-8", newline="\n")
    return WorldSummary(
        out_dir=str(out_dir), seed=config.seed, n_families=len(families), n_registry_families=n_registry,
        n_persons=sum(len(f.members) for f in families), n_students=len(truth_rows), counts=counts,
        errors=error_counts,
    )


def _student_base(fam: Family, c: Person, nisn: str | None) -> dict[str, Any]:
    """The fields the error model touches, with their true values."""
    return {
        "nik": c.nik, "no_kk": fam.no_kk, "nama": c.nama, "tanggal_lahir": c.born,
        "nama_ibu_kandung": fam.mother_name,
        "nik_ibu": fam.mother.nik if fam.mother else None,
        "nik_ayah": fam.father.nik if fam.father else None,
        "nisn": nisn,
    }


def _wali(g: _Generator, fam: Family) -> tuple[str, str | None]:
    if g.rng.random() >= g.cfg.shares.wali:
        return "", None
    if fam.grandparents:
        gp = g._choice(fam.grandparents)
        return gp.nama, gp.nik
    if fam.other_wali is None:  # an uncle or aunt who is not on this KK, the same for all siblings
        female = g.rng.random() < 0.5
        born = _age_to_date(g.ref, _tri(g.rng, 25, 60, 40))
        name = person_name(g.rng, fam.style, female, born.year, adult_male_titles=True)
        fam.other_wali = (name, g.nik(g.prefix_for(fam.kec, True), female, born))
    return fam.other_wali


def _student_row(g: _Generator, fam: Family, e: Enrolment, inst: Institution, rec: dict[str, Any],
                 student_id: str) -> dict[str, Any]:
    c = e.child
    nama_wali, nik_wali = _wali(g, fam)
    sex = "P" if c.female else "L"
    dob = rec["tanggal_lahir"].isoformat()
    if e.system == "emis":
        return {
            "siswa_id": student_id, "nsm": inst.ident, "nisn": rec["nisn"], "nik": rec["nik"],
            "nama": rec["nama"], "jenis_kelamin": sex, "tempat_lahir": c.tempat_lahir, "tanggal_lahir": dob,
            "tingkat": e.grade, "rombel": f"{ROMAN[e.grade]}-{'ABC'[int(g.rng.random() * 3)]}",
            "status_aktif": e.active, "no_kk": rec["no_kk"], "nama_ayah": fam.father_name,
            "nik_ayah": rec["nik_ayah"], "nama_ibu_kandung": rec["nama_ibu_kandung"], "nik_ibu": rec["nik_ibu"],
            "nama_wali": nama_wali, "nik_wali": nik_wali,
        }
    sh = g.cfg.shares
    poor = fam.in_registry and fam.desil is not None and fam.desil <= 4
    kps = poor and g.rng.random() < sh.old_kps
    entry_year = g.ref.year - (e.grade - JENJANG_START[e.kind])
    nipd = f"{entry_year % 100:02d}{inst.nipd_next:04d}"
    inst.nipd_next += 1
    return {
        "peserta_didik_id": student_id, "sekolah_id": inst.ident, "nipd": nipd, "nisn": rec["nisn"],
        "nik": rec["nik"], "no_kk": rec["no_kk"], "nama": rec["nama"], "jenis_kelamin": sex,
        "tempat_lahir": c.tempat_lahir, "tanggal_lahir": dob, "tingkat_pendidikan_id": e.grade,
        "nama_ayah": fam.father_name, "nik_ayah": rec["nik_ayah"], "nama_ibu_kandung": rec["nama_ibu_kandung"],
        "nik_ibu": rec["nik_ibu"], "nama_wali": nama_wali, "nik_wali": nik_wali,
        "penerima_kps": kps, "no_kps": f"{int(g.rng.random() * 9e9) + 10**9}" if kps else None,
        "penerima_kip": False, "no_kip": None, "nm_kip": None, "layak_pip": False,
        "no_kks": fam.no_kks if fam.no_kks and g.rng.random() < sh.dapodik_kks else None,
    }
