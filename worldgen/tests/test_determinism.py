from __future__ import annotations

from pathlib import Path

from worldgen.config import WorldConfig
from worldgen.generate import FILES, generate_world

ALL_FILES = (*FILES, "world.json")


def _generate(path: Path, seed: int) -> dict[str, bytes]:
    generate_world(WorldConfig(seed=seed, n_families=300), path)
    return {name: (path / name).read_bytes() for name in ALL_FILES}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a", seed=5)
    second = _generate(tmp_path / "b", seed=5)
    for name in ALL_FILES:
        assert first[name], f"{name} is empty"
        assert first[name] == second[name], f"{name} differs between two runs with the same seed"


def test_other_seed_gives_other_world(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a", seed=5)
    other = _generate(tmp_path / "b", seed=6)
    assert first["kemensos/anggota_keluarga.jsonl"] != other["kemensos/anggota_keluarga.jsonl"]
    assert first["ground_truth.jsonl"] != other["ground_truth.jsonl"]


def test_rows_are_sorted_by_their_key(tmp_path: Path) -> None:
    import json

    generate_world(WorldConfig(seed=1, n_families=200), tmp_path)
    keys = {"kemensos/keluarga.jsonl": "no_kk", "kemensos/pkh.jsonl": "no_kk", "kemensos/kip.jsonl": "no_kip",
            "emis/madrasah.jsonl": "nsm", "emis/siswa.jsonl": "siswa_id", "dapodik/sekolah.jsonl": "sekolah_id",
            "dapodik/peserta_didik.jsonl": "peserta_didik_id"}
    for name, key in keys.items():
        values = [json.loads(line)[key] for line in (tmp_path / name).read_text().splitlines()]
        assert values == sorted(values), name
        assert len(values) == len(set(values)), f"{name}: {key} not unique"
    truth = [json.loads(line) for line in (tmp_path / "ground_truth.jsonl").read_text().splitlines()]
    pairs = [(t["system"], t["student_id"]) for t in truth]
    assert pairs == sorted(pairs)
    members = [json.loads(line)["no_kk"] for line in (tmp_path / "kemensos/anggota_keluarga.jsonl")
               .read_text().splitlines()]
    assert members == sorted(members)


def test_reference_date_not_the_clock(tmp_path: Path) -> None:
    """Two reference dates give different worlds; the default is 2026-07-15."""
    from datetime import date

    assert WorldConfig().reference_date == date(2026, 7, 15)
    generate_world(WorldConfig(seed=1, n_families=100, reference_date=date(2025, 1, 10)), tmp_path / "a")
    generate_world(WorldConfig(seed=1, n_families=100), tmp_path / "b")
    pkh_a = (tmp_path / "a/kemensos/pkh.jsonl").read_text()
    assert '"tahun":2025,"tahap":1' in pkh_a
    assert (tmp_path / "a/world.json").read_bytes() != (tmp_path / "b/world.json").read_bytes()


def test_students_target_gives_exactly_that_many_records_deterministically(tmp_path: Path) -> None:
    config = WorldConfig(seed=9, n_students=1234)
    a = generate_world(config, tmp_path / "a")
    b = generate_world(config, tmp_path / "b")
    assert a.n_students == b.n_students == 1234
    assert a.counts["emis/siswa.jsonl"] + a.counts["dapodik/peserta_didik.jsonl"] == 1234
    for name in ALL_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # families are cut at the last record: every family of a record is whole in the registry
    assert a.n_families < 1234
