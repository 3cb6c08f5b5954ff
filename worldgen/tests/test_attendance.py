"""Monthly attendance of the PKH period: the files agree with the truth, the spread is realistic, dropouts
stop attending, and the draws change no other file."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from shared.kehadiran import memenuhi, months_of
from worldgen.attendance import HARI_EFEKTIF
from worldgen.config import WorldConfig
from worldgen.generate import FILES, KEHADIRAN_PD_FILE, KEHADIRAN_SISWA_FILE, generate_world
from worldgen.tests.conftest import World


def _by_student(world: World) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for row in world.rows[KEHADIRAN_SISWA_FILE]:
        out.setdefault(("emis", row["siswa_id"]), []).append(
            {"y": row["tahun"], "m": row["bulan"], "he": row["hari_efektif"], "a": row["alpa"], "i": row["izin"],
             "s": row["sakit"]})
    for row in world.rows[KEHADIRAN_PD_FILE]:
        out.setdefault(("dapodik", row["peserta_didik_id"]), []).append(
            {"y": row["tahun"], "m": row["bulan"], "he": row["jml_hari_efektif"], "a": row["jml_tanpa_keterangan"],
             "i": row["jml_izin"], "s": row["jml_sakit"]})
    return out


def test_files_agree_with_the_truth_and_the_rules(default_world: World) -> None:
    files = _by_student(default_world)
    period = months_of(2026, 3)
    assert period == [(2026, 7), (2026, 8), (2026, 9)]
    active_emis = {r["siswa_id"] for r in default_world.rows["emis/siswa.jsonl"] if r["status_aktif"]}
    for t in default_world.truth:
        rows = files.get((t.system, t.student_id), [])
        assert [(r["y"], r["m"]) for r in rows] == [(m.year, m.month) for m in t.attendance]
        for r, m in zip(rows, t.attendance, strict=True):
            assert (r["he"], r["a"], r["i"], r["s"]) == (m.effective_days, m.alpa, m.izin, m.sakit)
            assert HARI_EFEKTIF[0] <= m.effective_days <= HARI_EFEKTIF[1]
            assert min(m.alpa, m.izin, m.sakit) >= 0
            assert m.present == m.effective_days - m.alpa - m.izin - m.sakit >= 0
            assert m.meets_85 is memenuhi(m.effective_days, m.alpa, m.izin, m.sakit)
        if t.system == "emis" and t.student_id not in active_emis:
            assert t.attendance == []  # a transfer's record left behind: not at that madrasah any more
        if t.dropped_out_on is None:
            assert [(m.year, m.month) for m in t.attendance] in ([], period)
        else:
            last = t.attendance[-1]
            assert (last.year, last.month) == (t.dropped_out_on.year, t.dropped_out_on.month)
            assert [(m.year, m.month) for m in t.attendance] == period[:len(t.attendance)]


def test_spread_most_attend_some_fall_below_some_drop_out(default_world: World) -> None:
    truth = [t for t in default_world.truth if t.attendance]
    months = [m for t in truth for m in t.attendance]
    per_month = sum(m.meets_85 for m in months) / len(months)
    every_month = sum(all(m.meets_85 for m in t.attendance) for t in truth) / len(truth)
    dropped = sum(t.dropped_out_on is not None for t in truth) / len(truth)
    assert 0.88 <= per_month <= 0.96
    assert 0.78 <= every_month <= 0.90
    assert 0.01 <= dropped <= 0.03
    # dropouts leave in every month of the period, and the month they leave is mostly below 85%
    left = [t for t in truth if t.dropped_out_on is not None]
    assert set(Counter(t.dropped_out_on.month for t in left)) == {7, 8, 9}
    assert sum(not t.attendance[-1].meets_85 for t in left) / len(left) > 0.5
    # effective days differ between institutions and months, all within 18-24
    assert len({m.effective_days for m in months}) >= 5


def test_dropouts_are_marked_as_left_in_both_systems(default_world: World) -> None:
    keluar = {("emis", r["siswa_id"]): r for r in default_world.rows["emis/siswa_keluar.jsonl"]}
    keluar |= {("dapodik", r["peserta_didik_id"]): r for r in default_world.rows["dapodik/registrasi_keluar.jsonl"]}
    truth = {(t.system, t.student_id): t for t in default_world.truth if t.dropped_out_on is not None}
    assert set(keluar) == set(truth)
    for key, row in keluar.items():
        assert date.fromisoformat(row["tanggal_keluar"]) == truth[key].dropped_out_on
        assert row.get("alasan_keluar", "PUTUS_SEKOLAH") == "PUTUS_SEKOLAH"
        assert row.get("jenis_keluar_id", 5) == 5


def test_deterministic_and_other_files_unchanged_by_the_seed_stream(tmp_path: Path) -> None:
    a = generate_world(WorldConfig(seed=5, n_families=400), tmp_path / "a")
    b = generate_world(WorldConfig(seed=5, n_families=400), tmp_path / "b")
    c = generate_world(WorldConfig(seed=6, n_families=400), tmp_path / "c")
    assert a.counts == b.counts
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / KEHADIRAN_PD_FILE).read_bytes() != (tmp_path / "c" / KEHADIRAN_PD_FILE).read_bytes()
    assert c.counts[KEHADIRAN_PD_FILE] > 0
