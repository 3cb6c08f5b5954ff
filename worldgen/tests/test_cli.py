from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from worldgen.cli import app
from worldgen.config import ErrorRates, Shares, WorldConfig
from worldgen.generate import FILES


def test_generate_command(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = CliRunner().invoke(app, ["generate", "--seed", "3", "--families", "150", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ground_truth.jsonl" in result.output and "duplicate_record" in result.output
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["seed"] == 3 and manifest["config"]["n_families"] == 150
    for name in FILES:
        assert (out / name).exists()
        assert f"{manifest['counts'][name]:,}" in result.output


def test_generate_rejects_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--families", "0", "--out", str(tmp_path)]).exit_code != 0
    bad_date = runner.invoke(app, ["generate", "--reference-date", "15-07-2026", "--out", str(tmp_path)])
    assert bad_date.exit_code != 0
    assert not (tmp_path / "world.json").exists()


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        WorldConfig(n_families=10, colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ErrorRates(nik_typo=1.5)
    with pytest.raises(ValidationError):
        Shares(kip_nik_missing=0.7, kip_nik_wrong=0.5)
    config = WorldConfig()
    assert (config.tahun, config.tahap, config.triwulan) == (2026, 3, "2026-Q3")
    assert ErrorRates().child_nik_missing == 0.05 and ErrorRates().duplicate_record == 0.005
    with pytest.raises(ValidationError):
        config.seed = 2  # type: ignore[misc]


def test_generate_by_students(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = CliRunner().invoke(app, ["generate", "--seed", "4", "--students", "300", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["config"]["n_students"] == 300
    assert manifest["counts"]["emis/siswa.jsonl"] + manifest["counts"]["dapodik/peserta_didik.jsonl"] == 300
    assert "homonym" in result.output and "300 student records" in result.output
    assert CliRunner().invoke(app, ["generate", "--students", "0", "--out", str(tmp_path / "x")]).exit_code != 0
