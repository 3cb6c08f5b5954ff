"""Every row of every file validates against the record model the services load."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from shared.contracts.dapodik import KehadiranPdRecord, PesertaDidikRecord, RegistrasiKeluarRecord, SekolahRecord
from shared.contracts.emis import KehadiranSiswaRecord, MadrasahRecord, SiswaKeluarRecord, SiswaRecord
from shared.contracts.kemensos import (
    AnggotaKeluargaRecord,
    BansosRecord,
    KeluargaRecord,
    KipRecord,
    KkHistoryRecord,
    PkhRecord,
)
from worldgen.generate import FILES
from worldgen.tests.conftest import World
from worldgen.truth import GroundTruth, read_ground_truth
from worldgen.version import __version__

MODELS: dict[str, type[BaseModel]] = {
    "kemensos/keluarga.jsonl": KeluargaRecord,
    "kemensos/anggota_keluarga.jsonl": AnggotaKeluargaRecord,
    "kemensos/pkh.jsonl": PkhRecord,
    "kemensos/kip.jsonl": KipRecord,
    "kemensos/kk_history.jsonl": KkHistoryRecord,
    "kemensos/bansos.jsonl": BansosRecord,
    "emis/madrasah.jsonl": MadrasahRecord,
    "emis/siswa.jsonl": SiswaRecord,
    "dapodik/sekolah.jsonl": SekolahRecord,
    "dapodik/peserta_didik.jsonl": PesertaDidikRecord,
    "ground_truth.jsonl": GroundTruth,
    "emis/kehadiran_siswa.jsonl": KehadiranSiswaRecord,
    "emis/siswa_keluar.jsonl": SiswaKeluarRecord,
    "dapodik/kehadiran_pd.jsonl": KehadiranPdRecord,
    "dapodik/registrasi_keluar.jsonl": RegistrasiKeluarRecord,
}


@pytest.mark.parametrize("name", FILES)
def test_every_row_validates(small_world: World, raised_world: World, name: str) -> None:
    model = MODELS[name]
    fields = list(model.model_fields)
    for world in (small_world, raised_world):
        rows = world.rows[name]
        assert rows, f"{name} is empty"
        optional = {f for f, info in model.model_fields.items() if not info.is_required()}
        for row in rows:
            # the model's fields in the model's order; an optional field the generator does not fill yet
            # (a contract that grew) may be absent
            assert list(row) == [f for f in fields if f in row], f"{name}: keys {list(row)} != {fields}"
            assert set(fields) - set(row) <= optional, f"{name}: required fields missing"
            parsed = model.model_validate(row)
            # the row is exactly what model_dump(mode="json") would write
            assert parsed.model_dump(mode="json", exclude_unset=True) == row


def test_files_are_compact_json_lines(small_world: World) -> None:
    for name in FILES:
        text = (small_world.path / name).read_text(encoding="utf-8")
        assert text.endswith("\n")
        for line in text.splitlines()[:50]:
            assert line == json.dumps(json.loads(line), separators=(",", ":"), ensure_ascii=False)


def test_manifest(small_world: World) -> None:
    m = small_world.manifest
    assert m["seed"] == 11
    assert m["generator_version"] == __version__
    assert m["reference_date"] == "2026-07-15"
    assert m["config"]["error_rates"]["child_nik_missing"] == 0.05
    assert m["config"]["n_families"] == 800
    for name in FILES:
        assert m["counts"][name] == len(small_world.rows[name])
    assert m["families"]["in_registry"] == len(small_world.rows["kemensos/keluarga.jsonl"])
    assert m["families"]["total"] == 800


def test_read_ground_truth_accepts_file_or_directory(small_world: World) -> None:
    from_dir = read_ground_truth(small_world.path)
    from_file = read_ground_truth(small_world.path / "ground_truth.jsonl")
    assert from_dir == from_file == small_world.truth
    assert all(isinstance(t, GroundTruth) for t in from_dir)
