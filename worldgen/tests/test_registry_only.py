"""``Shares.registry_only``: registry families none of whose children is enrolled, drawn from a generator of
their own (a world without them is drawn exactly as before)."""

from __future__ import annotations

import json
from pathlib import Path

from worldgen.config import Shares, WorldConfig
from worldgen.generate import generate_world


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_registry_only_families_grow_the_registry_not_the_schools(tmp_path: Path) -> None:
    base = generate_world(WorldConfig(seed=3, n_families=600), tmp_path / "base")
    again = generate_world(WorldConfig(seed=3, n_families=600, shares=Shares(registry_only=0.0)), tmp_path / "zero")
    assert (tmp_path / "base/kemensos/anggota_keluarga.jsonl").read_bytes() == (
        tmp_path / "zero/kemensos/anggota_keluarga.jsonl").read_bytes() and base.counts == again.counts
    more = generate_world(WorldConfig(seed=3, n_families=600, shares=Shares(registry_only=0.5)), tmp_path / "more")
    persons, students = more.counts["kemensos/anggota_keluarga.jsonl"], more.n_students
    assert more.n_registry_families > base.n_registry_families and students < base.n_students
    assert persons / students > 1.5 * base.counts["kemensos/anggota_keluarga.jsonl"] / base.n_students
    # every student still has its ground truth, and no student belongs to a family without a child enrolled
    truth = _lines(tmp_path / "more/ground_truth.jsonl")
    assert len(truth) == students
    enrolled_kks = {t["true_no_kk"] for t in truth if t["in_registry"]}
    families = {f["no_kk"] for f in _lines(tmp_path / "more/kemensos/keluarga.jsonl")}
    assert enrolled_kks <= families and len(families) > len(enrolled_kks)


def test_registry_only_with_a_student_count(tmp_path: Path) -> None:
    s = generate_world(WorldConfig(seed=5, n_students=800, shares=Shares(registry_only=0.4)), tmp_path)
    assert s.n_students == 800 and s.counts["kemensos/anggota_keluarga.jsonl"] > 4 * 800
