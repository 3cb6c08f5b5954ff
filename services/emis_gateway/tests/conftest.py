"""Fixtures of the EMIS gateway tests: hand-built world files, an app on a fresh database, a hub item maker."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # starlette warns once, at import, that it prefers httpx2 over httpx; the project pins httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.emis_gateway.config import Settings
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS, HubFactory, create_app
from shared.db import make_engine, migrate
from shared.nik import Sex, encode
from shared.regions import known_nik_prefixes
from shared.testing import new_token

NSM_A = "111232010001"
NSM_B = "121232010002"
OPERATOR_TOKEN = "operator-token-0123456789abcdef"  # an operator of every madrasah


def nik(serial: int, sex: Sex = Sex.P, born: date = date(1984, 5, 6)) -> str:
    """A NIK that passes every rule of shared.nik."""
    return encode(sorted(known_nik_prefixes())[0], sex, born, serial)


def madrasah(nsm: str = NSM_A, **over: Any) -> dict[str, Any]:
    rec = {"nsm": nsm, "npsn": "6" + nsm[-7:], "nama": f"MI Nurul Huda {nsm[-4:]}", "jenjang": "MI",
           "status": "SWASTA", "kode_wilayah": "3201010001"}
    return {**rec, **over}


def siswa(i: int, nsm: str = NSM_A, **over: Any) -> dict[str, Any]:
    rec = {"siswa_id": f"siswa-{i:04d}", "nsm": nsm, "nisn": f"{3000000000 + i}", "nik": nik(1000 + i, Sex.L,
           date(2014, 1, 2)), "nama": f"Anak {i}", "jenis_kelamin": "L", "tempat_lahir": "Bogor",
           "tanggal_lahir": "2014-01-02", "tingkat": 4, "rombel": "4A", "status_aktif": True,
           "no_kk": f"32010101{i:08d}", "nama_ayah": f"Ayah {i}", "nik_ayah": None,
           "nama_ibu_kandung": f"Ibu {i}", "nik_ibu": nik(i + 1), "nama_wali": "", "nik_wali": None}
    return {**rec, **over}


def write_world(directory: Path, madrasah_rows: Sequence[dict[str, Any] | str],
                siswa_rows: Sequence[dict[str, Any] | str]) -> Path:
    """Write the two JSONL files; a str row is written as is (to plant broken lines)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("madrasah.jsonl", madrasah_rows), ("siswa.jsonl", siswa_rows)):
        lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
        (directory / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return directory


def seed(db_url: str, directory: Path, n_siswa: int = 3, *, replace: bool = False) -> None:
    """Migrate ``db_url`` and load one madrasah with ``n_siswa`` students into it."""
    write_world(directory, [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs")],
                [siswa(i) for i in range(n_siswa)])
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    try:
        report = load_world(engine, directory, replace=replace)
    finally:
        engine.dispose()
    assert report.ok, report.errors


def provenance(seq: int, pid: str = "prov-1", run: str = "run-1") -> dict[str, Any]:
    return {"provenance_id": pid, "sync_run_id": run, "source_system": "kemensos.dtsen",
            "source_record": "keluarga/3201010101010001", "source_version": seq, "observed_seq": seq,
            "retrieved_at": datetime(2026, 3, 1, 8, 0, tzinfo=UTC).isoformat(), "matched_by": "nik_ibu"}


def item(student_id: str, seq: int = 10, outcome: str | None = "PKH_RECIPIENT", detail: str | None = "KPM aktif",
         **values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"student_id": student_id, "values": values, "provenance": provenance(seq)}
    if outcome is not None:
        body["outcome"] = outcome
        body["outcome_detail"] = detail
    return body


def batch(*items: dict[str, Any], run: str = "run-1") -> dict[str, Any]:
    return {"sync_run_id": run, "items": list(items)}


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


AppFactory = Callable[..., TestClient]


@pytest.fixture
def app_client(token: str) -> Iterator[AppFactory]:
    """Start the real app (lifespan, migrations) on a database URL; closed at the end of the test.
    ``hub`` makes the app's hub client; other keywords are settings (``api_tokens`` defaults to the hub's)."""
    opened: list[TestClient] = []

    def _open(db_url: str, hub: HubFactory | None = None, **settings: Any) -> TestClient:
        settings.setdefault("api_tokens", {"sync_hub": token, "operator": OPERATOR_TOKEN})
        client = TestClient(create_app(Settings(database_url=db_url, **settings), hub=hub))
        client.__enter__()
        opened.append(client)
        return client

    yield _open
    for client in opened:
        if client.portal is not None:  # not closed by the test itself
            client.__exit__(None, None, None)


@pytest.fixture
def api(app_client: AppFactory, sqlite_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    """The app on SQLite with three students of NSM_A and an empty NSM_B, every call authenticated."""
    seed(sqlite_url, tmp_path / "world", 3)
    client = app_client(sqlite_url)
    client.headers.update(auth)
    return client


@pytest.fixture
def op(api: TestClient) -> TestClient:
    """The same app as ``api``, called by an operator of every madrasah (not the hub)."""
    return TestClient(api.app, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
