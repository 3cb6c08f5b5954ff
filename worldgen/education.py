"""Enrolment (who is in which grade of which system), student records and the institutions."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import numpy as np

from worldgen.arrays import BoolArray, IntArray, age_at, group_rank, unique_draws
from worldgen.config import WorldConfig
from worldgen.population import CHILD, MUSLIM, Population, Regions

KINDS = ("RA", "MI", "MTs", "MA", "SD", "SMP", "SMA", "SMK")
RA, MI, MTS, MA, SD, SMP, SMA, SMK = range(8)
EMIS, DAPODIK = 0, 1
SYSTEMS = ("emis", "dapodik")
EMIS_KIND_OF_GRADE = np.array([RA, MI, MI, MI, MI, MI, MI, MTS, MTS, MTS, MA, MA, MA])
NSM_TYPE = {"RA": "101", "MI": "111", "MTs": "121", "MA": "131"}
NEGERI_SHARE = {"RA": 0.0, "MI": 0.07, "MTs": 0.15, "MA": 0.20, "SD": 0.88, "SMP": 0.60, "SMA": 0.50,
                "SMK": 0.25}
JENJANG_START = np.array([0, 1, 7, 10, 1, 7, 10, 10])
MADRASAH_FOUNDATIONS = ("MIFTAHUL HUDA", "NURUL ISLAM", "AL-HIDAYAH", "MA'ARIF NU", "MUHAMMADIYAH",
                        "DARUL ULUM", "AL-FALAH", "NURUL HUDA", "AL-IKHLAS", "DARUSSALAM", "AL-MUTTAQIN",
                        "HIDAYATUL MUBTADI'IN", "PERSIS", "AL-KHAIRIYAH")
SEKOLAH_FOUNDATIONS = ("MUHAMMADIYAH", "PGRI", "ISLAM TERPADU AL-FATH", "KATOLIK SANTO YOSEF", "KRISTEN",
                       "TAMAN SISWA", "BINA BANGSA", "TUNAS HARAPAN", "NUSANTARA", "BUDI UTOMO")
# record types, in the order a child's records follow each other
PRIMARY, TRANSFER = 0, 1


@dataclass
class Records:
    """Student records (one per EMIS siswa / Dapodik peserta_didik row), family-major."""

    child: IntArray
    fam: IntArray
    system: IntArray
    kind: IntArray
    grade: IntArray
    active: BoolArray
    rtype: IntArray  # PRIMARY / TRANSFER (the record left behind in the other system)
    dup: BoolArray  # a second record of the same enrolment (duplicate_record)
    src: IntArray  # for a duplicate: the record it repeats; else itself

    def __len__(self) -> int:
        return len(self.child)

    def take(self, idx: IntArray) -> Records:
        pos = np.full(len(self.child), -1, np.int64)
        pos[idx] = np.arange(len(idx))
        return Records(self.child[idx], self.fam[idx], self.system[idx], self.kind[idx], self.grade[idx],
                       self.active[idx], self.rtype[idx], self.dup[idx], pos[self.src[idx]])


def _dapodik_kind(grade: IntArray, u: np.ndarray) -> IntArray:
    return np.where(grade <= 6, SD, np.where(grade <= 9, SMP, np.where(u < 0.55, SMA, SMK)))


def enrol(cfg: WorldConfig, pop: Population, rng: np.random.Generator) -> Records:
    sh = cfg.shares
    ch = np.flatnonzero(pop.p_role == CHILD)
    n = len(ch)
    a = age_at(cfg.reference_date, pop.p_born[ch])
    fam = pop.p_fam[ch]
    muslim = MUSLIM[pop.f_style[fam]]
    school = (a >= 7) & (a <= 18)
    early = (a >= 4) & (a <= 6)
    # madrasah probability for Muslim children, so that madrasah students are ~sh.madrasah overall
    denom = sh.enrolment * np.sum(school & muslim) + (1 - sh.madrasah) * np.sum(early & muslim)
    p_madrasah = min(1.0, sh.madrasah * sh.enrolment * np.sum(school) / denom) if denom else 0.0
    u_mad, u_enrol, u_behind, u_kind, u_transfer, u_old_kind = (rng.random(n) for _ in range(6))
    madrasah = muslim & (u_mad < p_madrasah)
    enrolled = (early & madrasah) | (school & (u_enrol < sh.enrolment))
    grade = np.where(early, 0, a - 6)
    grade = grade - (school & (grade >= 2) & (u_behind < sh.grade_behind))
    system = np.where(madrasah, EMIS, DAPODIK)
    kind = np.where(system == EMIS, EMIS_KIND_OF_GRADE[np.clip(grade, 0, 12)], _dapodik_kind(grade, u_kind))
    old_system = 1 - system
    old_grade = grade - 1
    transfer = enrolled & (u_transfer < sh.transfer)
    transfer &= ~((old_system == DAPODIK) & (old_grade < 1)) & ~((old_system == EMIS) & ~muslim)
    old_kind = np.where(old_system == EMIS, EMIS_KIND_OF_GRADE[np.clip(old_grade, 0, 12)],
                        _dapodik_kind(old_grade, u_old_kind))
    e, t = np.flatnonzero(enrolled), np.flatnonzero(transfer)
    child = np.concatenate([ch[e], ch[t]])
    rtype = np.concatenate([np.full(len(e), PRIMARY), np.full(len(t), TRANSFER)])
    order = np.lexsort((rtype, child))
    base = Records(
        child=child[order], fam=np.concatenate([fam[e], fam[t]])[order],
        system=np.concatenate([system[e], old_system[t]])[order],
        kind=np.concatenate([kind[e], old_kind[t]])[order],
        grade=np.concatenate([grade[e], old_grade[t]])[order],
        active=np.concatenate([np.ones(len(e), np.bool_), np.zeros(len(t), np.bool_)])[order],
        rtype=rtype[order], dup=np.zeros(len(child), np.bool_), src=np.arange(len(child)),
    )
    # duplicates: a second record of p_extra of the records, so that p_dup of all records are duplicates
    p_dup = cfg.error_rates.duplicate_record
    p_extra = p_dup / (1 - p_dup) if p_dup < 1 else 1.0
    d = np.flatnonzero(rng.random(len(base)) < p_extra)
    idx = np.concatenate([np.arange(len(base)), d])
    is_dup = np.concatenate([np.zeros(len(base), np.bool_), np.ones(len(d), np.bool_)])
    order = np.lexsort((is_dup, idx))
    idx, is_dup = idx[order], is_dup[order]
    out = Records(base.child[idx], base.fam[idx], base.system[idx], base.kind[idx], base.grade[idx],
                  base.active[idx], base.rtype[idx], is_dup, np.zeros(len(idx), np.int64))
    # a duplicate repeats the record just before it (its source)
    out.src = np.where(is_dup, np.arange(len(idx)) - 1, np.arange(len(idx)))
    return out


@dataclass
class Institutions:
    system: IntArray
    kind: IntArray
    kab: IntArray
    ident: list[str]  # nsm (EMIS) or sekolah_id (Dapodik)
    npsn: list[str]
    nama: list[str]
    negeri: BoolArray
    desa: IntArray  # index into Regions.desa_codes
    name_case: BoolArray  # the operator types names in mixed case

    def __len__(self) -> int:
        return len(self.system)


def institutions(cfg: WorldConfig, regions: Regions, pop: Population, rec: Records, rng: np.random.Generator,
                 pyrng: random.Random) -> tuple[Institutions, IntArray]:
    """Institutions of each (system, kabupaten, jenjang) group and the institution of every record."""
    kab = regions.kec_kab[pop.f_kec[rec.fam]]
    key = (rec.system * 1000 + kab) * 8 + rec.kind
    base = np.flatnonzero(~rec.dup)
    _, groups, inverse = group_rank(key[base])
    counts = np.bincount(inverse, minlength=len(groups))
    n_inst = np.maximum(1, (counts / cfg.students_per_institution).astype(np.int64))
    offset = np.concatenate([[0], np.cumsum(n_inst)[:-1]])
    inst = np.full(len(rec), -1, np.int64)
    inst[base] = offset[inverse] + (rng.random(len(base)) * n_inst[inverse]).astype(np.int64)
    group_of = np.full(len(rec), -1, np.int64)
    group_of[base] = inverse
    dups = np.flatnonzero(rec.dup)
    g = group_of[rec.src[dups]]
    elsewhere = rng.random(len(dups)) < 0.4  # entered again at another institution of the same kind
    other = offset[g] + (rng.random(len(dups)) * n_inst[g]).astype(np.int64)
    inst[dups] = np.where(elsewhere, other, inst[rec.src[dups]])

    total = int(n_inst.sum())
    i_group = np.repeat(np.arange(len(groups)), n_inst)
    i_system = groups[i_group] // 8 // 1000
    i_kab = groups[i_group] // 8 % 1000
    i_kind = groups[i_group] % 8
    negeri_p = np.array([NEGERI_SHARE[k] for k in KINDS])
    negeri = rng.random(total) < negeri_p[i_kind]
    case_p = np.where(i_system == EMIS, cfg.shares.name_case_emis, cfg.shares.name_case_dapodik)
    name_case = rng.random(total) < case_p
    # npsn: 8 digits, unique; madrasah 6xxxxxxx, schools 1-5xxxxxxx
    first = np.where(i_system == EMIS, 6, 1 + (rng.random(total) * 5).astype(np.int64))
    npsn = first * 10_000_000 + unique_draws(rng, total, 0, 10_000_000)
    _, first_rec = np.unique(inst[base], return_index=True)
    desa = np.full(total, -1, np.int64)
    desa[inst[base][first_rec]] = pop.f_desa[rec.fam[base][first_rec]]
    empty = np.flatnonzero(desa < 0)
    if len(empty):
        kec = regions.kab_start[i_kab[empty]] + (rng.random(len(empty)) * regions.kab_n[i_kab[empty]]).astype(
            np.int64)
        desa[empty] = regions.desa_start[kec] + (rng.random(len(empty)) * regions.desa_n[kec]).astype(np.int64)

    idents: list[str] = []
    names: list[str] = []
    numbers: dict[tuple[int, int, int, bool], int] = {}
    nsm_serial: dict[str, int] = {}
    r = pyrng.random
    for i in range(total):
        system, kab_i, kind_i, neg = int(i_system[i]), int(i_kab[i]), int(i_kind[i]), bool(negeri[i])
        kind = KINDS[kind_i]
        number = numbers.get((system, kab_i, kind_i, neg), 0) + 1
        numbers[(system, kab_i, kind_i, neg)] = number
        place = regions.kab_label[kab_i]
        if system == EMIS:
            nsm_key = f"{NSM_TYPE[kind]}{1 if neg else 2}{regions.kab_codes[kab_i]}"
            serial = nsm_serial.get(nsm_key, int(r() * 300)) + 1
            nsm_serial[nsm_key] = serial
            idents.append(f"{nsm_key}{serial:04d}")
            if neg:
                label = {"MI": "MIN", "MTs": "MTSN", "MA": "MAN", "RA": "RA NEGERI"}[kind]
                names.append(f"{label} {number} {place}"[:150])
            else:
                foundation = MADRASAH_FOUNDATIONS[int(r() * len(MADRASAH_FOUNDATIONS))]
                names.append(f"{kind.upper()} {foundation} {number} {place}"[:150])
        else:
            idents.append(str(uuid.UUID(int=pyrng.getrandbits(128), version=4)))
            if neg:
                names.append(f"{kind} NEGERI {number} {place}"[:150])
            else:
                foundation = SEKOLAH_FOUNDATIONS[int(r() * len(SEKOLAH_FOUNDATIONS))]
                names.append(f"{kind} {foundation} {number} {place}"[:150])
    result = Institutions(system=i_system, kind=i_kind, kab=i_kab, ident=idents,
                          npsn=[f"{v:08d}" for v in npsn.tolist()], nama=names, negeri=negeri, desa=desa,
                          name_case=name_case)
    return result, inst
