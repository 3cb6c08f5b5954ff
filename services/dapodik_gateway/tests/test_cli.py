"""``python -m services.dapodik_gateway load|migrate``: exit codes and the printed report."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from services.dapodik_gateway.cli import app
from services.dapodik_gateway.config import get_settings
from services.dapodik_gateway.tests import factories as f


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"DAPODIK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    get_settings.cache_clear()


def _run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        return CliRunner().invoke(app, list(args), env=env)


def test_load_reports_each_bad_line_and_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    world = f.write_world(tmp_path / "w", [f.sekolah(1)], [f.peserta_didik(1), f.peserta_didik(2, sekolah_n=5)])
    result = _run(env, "load", str(world))
    assert result.exit_code == 1
    assert "peserta_didik.jsonl:2: sekolah_id: unknown_sekolah:" in result.stderr
    assert "1 error(s); nothing was written" in result.stderr
    engine = sa.create_engine(env["DAPODIK_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM peserta_didik")).scalar_one() == 0
    engine.dispose()


def test_load_then_replace(env: dict[str, str], tmp_path: Path) -> None:
    world = f.write_world(tmp_path / "w", [f.sekolah(1)], [f.peserta_didik(n) for n in range(3)])
    first = _run(env, "load", str(world))
    assert first.exit_code == 0, first.output
    assert "loaded 1 sekolah and 3 peserta_didik" in first.stdout
    assert _run(env, "load", str(world)).exit_code == 1
    assert _run(env, "load", "--replace", str(world)).exit_code == 0


def test_migrate_and_missing_directory(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "migrate").exit_code == 0
    assert _run(env, "load", str(tmp_path / "nope")).exit_code == 2


def test_load_with_attendance_and_replace(env: dict[str, str], tmp_path: Path) -> None:
    world = f.write_world(tmp_path / "w", [f.sekolah(1)], [f.peserta_didik(n) for n in range(3)])
    (world / "kehadiran_pd.jsonl").write_text("".join(
        f'{{"peserta_didik_id":"{f.uid(n)}","tahun":2026,"bulan":7,"jml_hari_efektif":20,"jml_sakit":0,'
        f'"jml_izin":1,"jml_tanpa_keterangan":0}}\n' for n in range(3)), encoding="utf-8")
    (world / "registrasi_keluar.jsonl").write_text(
        f'{{"peserta_didik_id":"{f.uid(2)}","jenis_keluar_id":5,"tanggal_keluar":"2026-07-20"}}\n', encoding="utf-8")
    first = _run(env, "load", str(world))
    assert first.exit_code == 0, first.output
    assert "loaded 1 sekolah and 3 peserta_didik, 3 months of attendance, 1 students who left" in first.stdout
    again = _run(env, "load", "--replace", str(world))  # the months go with the students they belong to
    assert again.exit_code == 0, again.output
