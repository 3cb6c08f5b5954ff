"""Worlds shared by the worldgen tests (generated once per session, small so the suite stays fast)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.nik import check
from worldgen.config import ErrorRates, WorldConfig
from worldgen.generate import FILES, generate_world
from worldgen.truth import GroundTruth, read_ground_truth

# Error rates raised so that every rate is observable on a ~3,000-family world.
RAISED = ErrorRates(
    child_nik_missing=0.10, mother_nik_missing=0.15, father_nik_missing=0.15, kk_as_nik=0.08,
    placeholder_nik=0.05, nik_swapped_digits=0.10, nik_typo=0.10, wrong_sex_digit=0.06, name_variant=0.20,
    birth_date_off_by_one=0.10, birth_date_day_month_swapped=0.20, stale_kk=0.10, duplicate_record=0.05,
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@dataclass
class World:
    path: Path
    config: WorldConfig
    rows: dict[str, list[dict[str, Any]]]
    truth: list[GroundTruth]
    manifest: dict[str, Any]
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # anggota by nik
    families: dict[str, dict[str, Any]] = field(default_factory=dict)  # keluarga by no_kk
    family_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.rows["emis/siswa.jsonl"]:
            self.by_id[r["siswa_id"]] = r
        for r in self.rows["dapodik/peserta_didik.jsonl"]:
            self.by_id[r["peserta_didik_id"]] = r
        for r in self.rows["kemensos/anggota_keluarga.jsonl"]:
            self.members[r["nik"]] = r
            self.family_members.setdefault(r["no_kk"], []).append(r)
        for r in self.rows["kemensos/keluarga.jsonl"]:
            self.families[r["no_kk"]] = r

    @property
    def ref(self) -> date:
        return self.config.reference_date

    def true_dob(self, nik: str) -> date:
        parsed = check(nik, today=self.ref).parsed
        assert parsed is not None, nik
        return parsed.birth_date


def load_world(path: Path, config: WorldConfig) -> World:
    rows = {name: read_jsonl(path / name) for name in FILES}
    manifest = json.loads((path / "world.json").read_text(encoding="utf-8"))
    return World(path, config, rows, read_ground_truth(path), manifest)


def make_world(tmp_path_factory: pytest.TempPathFactory, name: str, config: WorldConfig) -> World:
    path = tmp_path_factory.mktemp(name)
    generate_world(config, path)
    return load_world(path, config)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Default rates, 800 families."""
    return make_world(tmp_path_factory, "small", WorldConfig(seed=11, n_families=800))


@pytest.fixture(scope="session")
def default_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Default rates, 3,000 families: big enough for shares and the larger default rates."""
    return make_world(tmp_path_factory, "default", WorldConfig(seed=2026, n_families=3000))


@pytest.fixture(scope="session")
def raised_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Raised error rates, 3,000 families: every error observable, many records with several errors."""
    return make_world(tmp_path_factory, "raised",
                      WorldConfig(seed=7, n_families=3000, error_rates=RAISED))
