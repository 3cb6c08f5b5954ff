"""The education side and the ground truth: consistent with each other and with the registry."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from shared.regions import desa_by_kecamatan
from worldgen.errors import ErrorCode
from worldgen.names import title_free
from worldgen.tests.conftest import World

DAPODIK_NAME = re.compile(r"^[A-Za-z ',.-]*$")
GRADES = {"RA": (0, 0), "MI": (1, 6), "MTs": (7, 9), "MA": (10, 12),
          "SD": (1, 6), "SMP": (7, 9), "SMA": (10, 12), "SMK": (10, 12)}
NSM_TYPE = {"RA": "101", "MI": "111", "MTs": "121", "MA": "131"}


def _age(ref: date, born: date) -> int:
    return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))


def test_every_student_once_in_truth(default_world: World) -> None:
    w = default_world
    ids = Counter((t.system, t.student_id) for t in w.truth)
    assert all(n == 1 for n in ids.values())
    emis = {r["siswa_id"] for r in w.rows["emis/siswa.jsonl"]}
    dapodik = {r["peserta_didik_id"] for r in w.rows["dapodik/peserta_didik.jsonl"]}
    assert {i for s, i in ids if s == "emis"} == emis
    assert {i for s, i in ids if s == "dapodik"} == dapodik
    assert not emis & dapodik


def test_truth_matches_registry(default_world: World) -> None:
    w = default_world
    pkh = {p["no_kk"]: p["status"] for p in w.rows["kemensos/pkh.jsonl"]}
    for t in w.truth:
        if t.in_registry:
            assert t.true_no_kk in w.families
            assert w.members[t.true_nik]["no_kk"] == t.true_no_kk
            for nik, sex in ((t.true_nik_ibu, "P"), (t.true_nik_ayah, "L")):
                if nik is not None:
                    assert w.members[nik]["no_kk"] == t.true_no_kk
                    assert w.members[nik]["jenis_kelamin"] == sex
            assert t.pkh_active == (pkh.get(t.true_no_kk) == "AKTIF")
        else:
            assert t.true_no_kk is None and not t.pkh_active and t.kip_no is None
            assert t.true_nik not in w.members
            assert t.true_nik_ibu not in w.members and t.true_nik_ayah not in w.members
    assert len(set(t.errors)) == len(t.errors)


def test_true_negative_and_madrasah_shares(default_world: World) -> None:
    w = default_world
    children = {t.true_nik: t for t in w.truth}
    outside = sum(not t.in_registry for t in children.values()) / len(children)
    assert abs(outside - w.config.shares.not_in_registry) < 0.05, outside
    systems = Counter(t.system for t in w.truth)
    emis_share = systems["emis"] / len(w.truth)
    assert abs(emis_share - w.config.shares.madrasah) < 0.04, emis_share
    both = {n for n, ts in _group(w).items() if {t.system for t in ts} == {"emis", "dapodik"}}
    assert 0.003 < len(both) / len(children) < 0.03


def _group(w: World) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in w.truth:
        out.setdefault(t.true_nik, []).append(t)
    return out


def test_transfers_and_duplicates(default_world: World) -> None:
    w = default_world
    for ts in _group(w).values():
        per_system = Counter(t.system for t in ts)
        for system, n in per_system.items():
            dups = sum(ErrorCode.DUPLICATE_RECORD in t.errors for t in ts if t.system == system)
            assert n == 1 + dups, "a second record in one system is always marked duplicate_record"
        if len(per_system) == 2:  # a transfer: the older EMIS record is no longer active
            first = ts[0]
            assert all((t.in_registry, t.true_no_kk, t.kip_no) == (first.in_registry, first.true_no_kk,
                                                                   first.kip_no) for t in ts)


def test_institutions(default_world: World) -> None:
    w = default_world
    madrasah = {m["nsm"]: m for m in w.rows["emis/madrasah.jsonl"]}
    sekolah = {s["sekolah_id"]: s for s in w.rows["dapodik/sekolah.jsonl"]}
    npsn = [m["npsn"] for m in madrasah.values()] + [s["npsn"] for s in sekolah.values()]
    assert len(npsn) == len(set(npsn))
    desa = desa_by_kecamatan()
    for nsm, m in madrasah.items():
        assert nsm[:3] == NSM_TYPE[m["jenjang"]]
        assert nsm[3] == ("1" if m["status"] == "NEGERI" else "2")
        assert nsm[4:8] == m["kode_wilayah"][:4]
        assert m["kode_wilayah"] in desa[m["kode_wilayah"][:6]]
    for s in sekolah.values():
        assert s["kode_wilayah"] in desa[s["kode_wilayah"][:6]]
    truth = {t.student_id: t for t in w.truth}
    used = Counter()
    for r in w.rows["emis/siswa.jsonl"]:
        m = madrasah[r["nsm"]]
        lo, hi = GRADES[m["jenjang"]]
        assert lo <= r["tingkat"] <= hi
        used[r["nsm"]] += 1
        _check_age(w, truth[r["siswa_id"]].true_nik, r["tingkat"], r["status_aktif"])
        t = truth[r["siswa_id"]]
        if t.in_registry:
            assert w.families[t.true_no_kk]["kode_wilayah"][:4] == m["kode_wilayah"][:4]
    for r in w.rows["dapodik/peserta_didik.jsonl"]:
        s = sekolah[r["sekolah_id"]]
        lo, hi = GRADES[s["bentuk_pendidikan"]]
        assert lo <= r["tingkat_pendidikan_id"] <= hi
        used[r["sekolah_id"]] += 1
        t = truth[r["peserta_didik_id"]]
        # Dapodik has no "left" flag: a record left behind by a transfer is one grade lower
        age = _age(w.ref, w.true_dob(t.true_nik))
        assert age - r["tingkat_pendidikan_id"] in (6, 7, 8)
        if t.in_registry:
            assert w.families[t.true_no_kk]["kode_wilayah"][:4] == s["kode_wilayah"][:4]
    assert set(used) == set(madrasah) | set(sekolah), "every institution has students"
    mean = len(w.truth) / len(used)
    assert 15 <= mean <= 30, mean


def _check_age(w: World, nik: str, grade: int, active: bool) -> None:
    age = _age(w.ref, w.true_dob(nik))
    if grade == 0:  # RA; a record left behind by a transfer to SD is a year old
        assert 4 <= age <= (6 if active else 8), (age, active)
    elif active:
        assert age - grade in (6, 7), (age, grade)
    else:  # an older record left behind by a transfer: one grade lower
        assert age - grade in (7, 8), (age, grade)


def test_student_fields_copied_from_family(default_world: World) -> None:
    w = default_world
    wali = 0
    records = list(w.by_id.values())
    truth = {t.student_id: t for t in w.truth}
    for sid, r in w.by_id.items():
        t = truth[sid]
        for f in ("nama", "nama_ayah", "nama_ibu_kandung", "nama_wali"):
            assert r[f] is not None and len(r[f]) <= 100
            if "peserta_didik_id" in r:
                assert DAPODIK_NAME.match(r[f]), r[f]
        assert r["nama"] and r["nama_ibu_kandung"]
        wali += bool(r["nama_wali"])
        assert bool(r["nama_wali"]) == bool(r["nik_wali"])
        if not t.in_registry:
            continue
        child = w.members[t.true_nik]
        assert r["jenis_kelamin"] == child["jenis_kelamin"]
        assert r["tempat_lahir"] == child["tempat_lahir"]
        if t.true_nik_ayah:  # Dapodik operators mostly leave titles out of parents' names
            father = w.members[t.true_nik_ayah]["nama"]
            assert r["nama_ayah"].upper() in ({father, title_free(father)} if "peserta_didik_id" in r else {father})
        if ErrorCode.NAME_VARIANT not in t.errors:  # the same letters, possibly in mixed case
            assert r["nama"].upper() == child["nama"]
            assert r["nama_ibu_kandung"].upper() == child["nama_ibu_kandung"]
            if t.true_nik_ibu:
                assert r["nama_ibu_kandung"].upper() == w.members[t.true_nik_ibu]["nama"]
        if "peserta_didik_id" in r:
            assert r["penerima_kip"] is False and r["no_kip"] is None
    assert abs(wali / len(records) - w.config.shares.wali) < 0.02
    kps = [r for r in w.rows["dapodik/peserta_didik.jsonl"] if r["penerima_kps"]]
    assert 0 < len(kps) < 0.05 * len(w.rows["dapodik/peserta_didik.jsonl"])
    assert all(r["no_kps"] for r in kps)


def test_names_show_indonesian_variety(default_world: World) -> None:
    names = [m["nama"] for m in default_world.rows["kemensos/anggota_keluarga.jsonl"]]
    tokens = Counter(tok for n in names for tok in n.split())
    assert sum(len(n.split()) == 1 for n in names) / len(names) > 0.1  # mononyms
    assert tokens["MUHAMMAD"] > 0 and tokens["SITI"] > 0
    assert any(n.startswith("H. ") or ", S." in n for n in names)  # titles on fathers
    assert all(DAPODIK_NAME.match(n) for n in names)

