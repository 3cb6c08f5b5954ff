"""The Kemensos side: valid unique NIKs and KK numbers, plausible families, PKH and KIP."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

from shared.nik import check
from shared.regions import current_kecamatan, desa_by_kecamatan, provinces
from worldgen.errors import PLACEHOLDERS
from worldgen.generate import PROVINCE_POPULATION
from worldgen.tests.conftest import World


def _age(ref: date, born: date) -> int:
    return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))


def _within(observed: int, n: int, p: float, sigmas: float = 4.0, slack: float = 0.0) -> bool:
    sd = math.sqrt(p * (1 - p) / n)
    return abs(observed / n - p) <= sigmas * sd + slack


def test_province_table_covers_every_province() -> None:
    assert set(PROVINCE_POPULATION) == set(provinces())
    assert all(v > 0 for v in PROVINCE_POPULATION.values())


def test_registry_niks_valid_unique_and_consistent(default_world: World) -> None:
    w = default_world
    members = w.rows["kemensos/anggota_keluarga.jsonl"]
    niks = [m["nik"] for m in members]
    assert len(niks) == len(set(niks))
    for m in members:
        result = check(m["nik"], today=w.ref)
        assert result.valid, (m["nik"], result.rule)
        assert result.parsed is not None
        born = date.fromisoformat(m["tanggal_lahir"])
        assert (born.day, born.month, born.year % 100) == (
            result.parsed.birth_date.day, result.parsed.birth_date.month, result.parsed.birth_date.year % 100)
        assert result.parsed.sex.value == m["jenis_kelamin"]
        assert born <= w.ref
        assert m["nik"] not in PLACEHOLDERS


def test_all_person_niks_unique_across_the_world(default_world: World) -> None:
    """Children of families outside the registry, parents and guardians never share a registry NIK."""
    w = default_world
    by_nik: dict[str, set[str]] = {}
    for t in w.truth:
        for role, nik in (("child", t.true_nik), ("mother", t.true_nik_ibu), ("father", t.true_nik_ayah)):
            if nik:
                by_nik.setdefault(nik, set()).add(role)
    assert all(len(roles) == 1 for roles in by_nik.values())
    children = {t.true_nik: t.true_no_kk for t in w.truth}
    for nik, kk in children.items():
        if kk is not None:
            assert w.members[nik]["no_kk"] == kk


def test_no_kk_unique_and_well_formed(default_world: World) -> None:
    w = default_world
    kecs = current_kecamatan()
    kks = [f["no_kk"] for f in w.rows["kemensos/keluarga.jsonl"]]
    assert len(kks) == len(set(kks))
    for f in w.rows["kemensos/keluarga.jsonl"]:
        kk = f["no_kk"]
        assert kk[:6] in kecs
        recorded = date(2000 + int(kk[10:12]), int(kk[8:10]), int(kk[6:8]))
        assert recorded <= w.ref
        assert kk[12:] != "0000"
        assert f["kode_wilayah"] in desa_by_kecamatan()[f["kode_wilayah"][:6]]
        assert f["kode_wilayah"][:6] == kk[:6]


def test_nik_prefix_is_first_issuance(default_world: World) -> None:
    """Most people carry their family's kecamatan; ~10% of adults one from elsewhere."""
    w = default_world
    adults = moved = 0
    for m in w.rows["kemensos/anggota_keluarga.jsonl"]:
        if _age(w.ref, date.fromisoformat(m["tanggal_lahir"])) < 17:
            continue
        adults += 1
        moved += m["nik"][:6] != w.families[m["no_kk"]]["kode_wilayah"][:6]
    assert _within(moved, adults, w.config.shares.moved_adult, slack=0.01), moved / adults


def test_family_structure(default_world: World) -> None:
    w = default_world
    checked_children = 0
    for kk, members in w.family_members.items():
        rels = Counter(m["hubungan_keluarga"] for m in members)
        assert rels["KEPALA_KELUARGA"] == 1, kk
        assert members[0]["hubungan_keluarga"] == "KEPALA_KELUARGA"
        assert rels["ISTRI"] + rels["SUAMI"] <= 1
        head = members[0]
        mothers = [m for m in members if m["hubungan_keluarga"] == "ISTRI"
                   or (m is head and m["jenis_kelamin"] == "P")]
        for mother in mothers:
            for child in (m for m in members if m["hubungan_keluarga"] == "ANAK"):
                assert child["nama_ibu_kandung"] == mother["nama"], kk
                gap = (date.fromisoformat(child["tanggal_lahir"]) - date.fromisoformat(mother["tanggal_lahir"]))
                assert 17 <= gap.days / 365.2425 <= 46, (kk, gap)
                checked_children += 1
        parents = [m for m in members if m["hubungan_keluarga"] in ("ANAK", "MENANTU")
                   and m["jenis_kelamin"] == "P"]
        if rels["CUCU"] and len(parents) == 1:
            for child in (m for m in members if m["hubungan_keluarga"] == "CUCU"):
                assert child["nama_ibu_kandung"] == parents[0]["nama"]
        # children over 24 have their own KK; under a grandparent head one ANAK is the parent generation
        older = [m for m in members if m["hubungan_keluarga"] in ("ANAK", "CUCU")
                 and _age(w.ref, date.fromisoformat(m["tanggal_lahir"])) > 24]
        assert all(m["hubungan_keluarga"] == "ANAK" for m in older) and len(older) <= 1, kk
    assert checked_children > 1000
    sizes = Counter(len(m) for m in w.family_members.values())
    assert sizes[1] > 0 and max(sizes) >= 6  # singles (widowed elderly) and big families both exist
    rels = Counter(m["hubungan_keluarga"] for m in w.rows["kemensos/anggota_keluarga.jsonl"])
    for rel in ("ANAK", "ISTRI", "ORANG_TUA", "CUCU", "MENANTU"):
        assert rels[rel] > 0, rel


def test_desil_skewed_to_the_poor_and_kks(default_world: World) -> None:
    w = default_world
    fams = w.rows["kemensos/keluarga.jsonl"]
    desil = Counter(f["desil"] for f in fams)
    assert sum(desil[d] for d in range(1, 6)) / len(fams) > 0.6
    assert desil[1] > desil[5] > desil[10]
    poor = [f for f in fams if f["desil"] is not None and f["desil"] <= 4]
    kks = sum(f["no_kks"] is not None for f in poor)
    assert _within(kks, len(poor), w.config.shares.kks)
    assert all(f["no_kks"] is None for f in fams if f not in poor)
    kks_numbers = [f["no_kks"] for f in poor if f["no_kks"]]
    assert len(kks_numbers) == len(set(kks_numbers))
    assert {f["dtsen_triwulan"] for f in fams} <= {"2026-Q3", "2026-Q2", "2026-Q1"}


def test_pkh_status_and_components(default_world: World) -> None:
    w = default_world
    pkh = {p["no_kk"]: p for p in w.rows["kemensos/pkh.jsonl"]}
    assert set(pkh) <= set(w.families)
    statuses = Counter(p["status"] for p in pkh.values())
    assert statuses["AKTIF"] > statuses["TIDAK_AKTIF"] > 0 and statuses["GRADUASI"] > 0
    eligible = active = 0
    for kk, fam in w.families.items():
        members = w.family_members[kk]
        ages = [(m, _age(w.ref, date.fromisoformat(m["tanggal_lahir"]))) for m in members]
        school_age = any(m["hubungan_keluarga"] in ("ANAK", "CUCU") and 6 <= a <= 18 for m, a in ages)
        row = pkh.get(kk)
        if row is not None:
            assert (row["tahun"], row["tahap"]) == (2026, 3)
            if row["status"] == "AKTIF":
                assert fam["desil"] is not None and fam["desil"] <= 4
        if fam["desil"] is not None and fam["desil"] <= 4 and school_age:
            eligible += 1
            active += row is not None and row["status"] == "AKTIF"
        if row is None or row["status"] != "AKTIF":
            continue
        komponen = row["komponen"]
        assert 1 <= len(komponen) <= 4 and len(set(komponen)) == len(komponen)
        kids = [a for m, a in ages if m["hubungan_keluarga"] in ("ANAK", "CUCU")]
        windows = {"ANAK_USIA_DINI": (0, 6), "SD": (6, 13), "SMP": (12, 16), "SMA": (15, 18)}
        for k in komponen:
            if k in windows:
                lo, hi = windows[k]
                assert any(lo <= a <= hi for a in kids), (kk, k, kids)
            elif k == "LANSIA":
                assert any(a >= 70 for _, a in ages)
    assert _within(active, eligible, w.config.shares.pkh_active, slack=0.02), active / eligible


def test_kip_issuances(default_world: World) -> None:
    w = default_world
    kips = w.rows["kemensos/kip.jsonl"]
    assert len({k["no_kip"] for k in kips}) == len(kips)
    truth_by_kip = {}
    for t in w.truth:
        if t.kip_no:
            truth_by_kip.setdefault(t.kip_no, t)
            assert t.in_registry
    assert set(truth_by_kip) == {k["no_kip"] for k in kips}
    missing = wrong = 0
    for k in kips:
        t = truth_by_kip[k["no_kip"]]
        child = w.members[t.true_nik]
        assert k["tanggal_lahir"] == child["tanggal_lahir"]
        assert k["kode_wilayah"] == w.families[child["no_kk"]]["kode_wilayah"]
        assert w.families[child["no_kk"]]["desil"] <= 4
        assert 6 <= _age(w.ref, date.fromisoformat(child["tanggal_lahir"])) <= 18
        if k["nik"] is None:
            missing += 1
        elif k["nik"] != t.true_nik:
            wrong += 1
            assert sum(a != b for a, b in zip(k["nik"], t.true_nik, strict=True)) == 1
    n = len(kips)
    sh = w.config.shares
    assert _within(missing, n, sh.kip_nik_missing) and _within(wrong, n, sh.kip_nik_wrong)
    # only Dapodik students hold KIP here, and ~40% of the eligible ones
    eligible, issued = set(), set()
    for t in w.truth:
        if t.system == "dapodik" and t.in_registry and w.families[t.true_no_kk]["desil"] is not None \
                and w.families[t.true_no_kk]["desil"] <= 4 \
                and 6 <= _age(w.ref, date.fromisoformat(w.members[t.true_nik]["tanggal_lahir"])) <= 18:
            eligible.add(t.true_nik)
            if t.kip_no:
                issued.add(t.true_nik)
    assert _within(len(issued), len(eligible), sh.kip, slack=0.02)


def test_kk_history_holds_the_old_number_of_reissued_families(default_world: World) -> None:
    w = default_world
    history = w.rows["kemensos/kk_history.jsonl"]
    assert history
    current = set(w.families)
    old = [h["no_kk_lama"] for h in history]
    assert len(old) == len(set(old)) and not set(old) & current
    by_family = {h["no_kk"]: h for h in history}
    assert set(by_family) <= current
    share = len(by_family) / len(current)
    assert _within(len(by_family), len(current), w.config.shares.kk_history), share
    for h in history:
        assert h["no_kk_lama"][:6] in current_kecamatan()
        assert date.fromisoformat(h["diganti_pada"]) <= w.ref
        recorded = date(2000 + int(h["no_kk"][10:12]), int(h["no_kk"][8:10]), int(h["no_kk"][6:8]))
        assert recorded.isoformat() == h["diganti_pada"]
    for t in w.truth:
        if t.in_registry:
            assert t.true_no_kk_lama == (by_family[t.true_no_kk]["no_kk_lama"] if t.true_no_kk in by_family
                                         else None)


def test_nik_rules_as_generated(default_world: World) -> None:
    """Every NIK rule of DOMAIN.md §1.1 on the generated registry: prefix of a real kecamatan, DDMMYY of the
    birth date with +40 for women, serial 0001-9999, unique, sex agreeing."""
    w = default_world
    kecs = current_kecamatan()
    for m in w.rows["kemensos/anggota_keluarga.jsonl"]:
        nik = m["nik"]
        born = date.fromisoformat(m["tanggal_lahir"])
        assert nik[:6] in kecs
        day = int(nik[6:8])
        assert day == born.day + (40 if m["jenis_kelamin"] == "P" else 0)
        assert (int(nik[8:10]), int(nik[10:12])) == (born.month, born.year % 100)
        assert 1 <= int(nik[12:]) <= 9999


def test_nik_allocation_in_new_provinces() -> None:
    """Prefixes of Kalimantan Utara (65) and the new Papua provinces (92-96) give valid NIKs."""
    import numpy as np

    from worldgen.arrays import day_number
    from worldgen.generate import _regions
    from worldgen.ids import allocate_serials, nik_keys

    reg = _regions()
    prefixes = np.array([i for i, c in enumerate(reg.kec_codes) if c[:2] in ("65", "92", "93", "94", "95", "96")])
    assert {reg.kec_codes[i][:2] for i in prefixes} == {"65", "92", "93", "94", "95", "96"}
    n = len(prefixes)
    female = np.arange(n) % 2 == 0
    born = np.full(n, day_number(date(2011, 3, 9)))
    keys = nik_keys(reg, np.concatenate([prefixes, prefixes]), np.concatenate([female, female]),
                    np.concatenate([born, born]))
    niks = [f"{v:016d}" for v in allocate_serials(np.random.default_rng(0), keys, 25).tolist()]
    assert len(set(niks)) == 2 * n
    for nik in niks:
        result = check(nik, today=date(2026, 7, 15))
        assert result.valid, (nik, result.rule)
    assert int(niks[n][12:]) == int(niks[0][12:]) + 1  # same prefix and date: the next serial


def test_families_follow_the_population() -> None:
    """Kabupaten are drawn in proportion to province population x kecamatan share: the province shares
    of a large sample match the BPS table."""
    import numpy as np

    from worldgen.arrays import pick_weighted
    from worldgen.generate import _regions

    reg = _regions()
    kab = pick_weighted(np.random.default_rng(1), reg.kab_cum, 200_000)
    prov = reg.kec_prov[reg.kab_start[kab]]
    observed = np.bincount(prov, minlength=len(reg.prov_codes)) / len(kab)
    total = sum(PROVINCE_POPULATION.values())
    for i, code in enumerate(reg.prov_codes):
        assert abs(observed[i] - PROVINCE_POPULATION[code] / total) < 0.004, code


def test_pkh_beneficiaries_are_members_of_the_family(default_world: World) -> None:
    w = default_world
    rows = w.rows["kemensos/pkh.jsonl"]
    with_penerima = 0
    for row in rows:
        penerima = row["penerima"]
        assert [p["komponen"] for p in penerima] == row["komponen"]
        niks = [p["nik"] for p in penerima]
        assert len(niks) == len(set(niks)) <= 4
        for p in penerima:
            member = w.members[p["nik"]]
            assert member["no_kk"] == row["no_kk"]
            age = _age(w.ref, date.fromisoformat(member["tanggal_lahir"]))
            window = {"ANAK_USIA_DINI": (0, 8), "SD": (6, 14), "SMP": (11, 17), "SMA": (14, 19), "LANSIA": (70, 120),
                      "IBU_HAMIL": (18, 40), "DISABILITAS_BERAT": (0, 120)}[p["komponen"]]
            assert window[0] <= age <= window[1], (p, age)
            if p["komponen"] == "IBU_HAMIL":
                assert member["jenis_kelamin"] == "P"
        with_penerima += bool(penerima)
        if row["status"] == "GRADUASI":
            assert penerima == []
    assert with_penerima > 0.8 * len(rows)


def test_bansos_memberships(default_world: World) -> None:
    w = default_world
    rows = w.rows["kemensos/bansos.jsonl"]
    keys = [(r["no_kk"], r["program"]) for r in rows]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    poor = {kk for kk, f in w.families.items() if f["desil"] is not None and f["desil"] <= 4}
    bpnt = {r["no_kk"] for r in rows if r["program"] == "BPNT" and r["status"] == "AKTIF"}
    assert bpnt <= poor and _within(len(bpnt), len(poor), w.config.shares.bpnt)
    pbi = {r["no_kk"] for r in rows if r["program"] == "PBI_JK" and r["status"] == "AKTIF"}
    assert pbi <= set(w.families) and len(pbi) > len(bpnt)
