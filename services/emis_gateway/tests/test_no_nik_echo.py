"""No error body repeats a NIK a caller sent (issue "Trust", part 4): the imports that take NIKs (a student
file, the VERKOM form) and every route with a path parameter are sent an unknown or malformed NIK; a 4xx
answer never holds the 16 digits, and nothing changes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from services.emis_gateway.tests.conftest import NSM_A, AppFactory, seed
from services.emis_gateway.tests.test_kehadiran_files import block, post_verkom, row, snapshot, verkom_file
from services.emis_gateway.tests.test_spreadsheet import new_row, table, to_csv
from shared.testing import NIK_PROBE, path_probes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def gw(app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    seed(db_url, tmp_path / "world", 3)
    client = app_client(db_url)
    client.headers.update(auth)
    return client


def refused_without_the_nik(response: Any) -> set[tuple[str, str]]:
    assert 400 <= response.status_code < 500, response.text
    assert NIK_PROBE not in response.text
    return {(e["field"], e["rule"]) for e in response.json()["errors"]}


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for r in rows:
        book.active.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "cell", "field", "rule"), [
    ("xlsx", int(NIK_PROBE), "rows[2].NIK Ibu", "numeric_cell"),  # the review's case
    ("xlsx", 3172065511870020.0, "rows[2].NIK Ibu", "numeric_cell"),
    ("xlsx", NIK_PROBE * 5, "rows[2].NIK Ibu", "string_too_long"),
    ("csv", NIK_PROBE + "\x00", "file", "nul_character"),
])
def test_a_refused_student_file_does_not_repeat_the_nik(gw: TestClient, fmt: str, cell: Any, field: str,
                                                        rule: str) -> None:
    before = snapshot(gw)
    rows = table([new_row(1, **{"NIK Ibu": cell})])
    body = xlsx(rows) if fmt == "xlsx" else to_csv(rows)
    r = gw.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": fmt}, content=body)
    assert refused_without_the_nik(r) == {(field, rule)}
    assert snapshot(gw) == before


def test_a_refused_attendance_file_does_not_repeat_the_nik(gw: TestClient) -> None:
    before = snapshot(gw)
    stranger = row(1, 0, [block(0, 0, 0, 20), block(0, 0, 0, 21), block(0, 0, 0, 22)], by_nisn=False)
    stranger[3] = NIK_PROBE  # NIK Siswa of no student of the madrasah
    assert ("rows[7].NIK Siswa", "not_in_school") in refused_without_the_nik(post_verkom(gw, verkom_file([stranger])))
    header = ["siswa_id", "nisn", "tahun", "bulan", "hari_efektif", "sakit", "izin", "alpa"]
    r = gw.post(f"/api/v1/madrasah/{NSM_A}/kehadiran/import", params={"tahun": 2026, "tahap": 3, "format": "csv"},
                content=to_csv([header, [NIK_PROBE, "", "2026", "7", "20", "0", "0", "0"]]))
    assert ("rows[2].siswa_id", "not_in_school") in refused_without_the_nik(r)
    assert snapshot(gw) == before


def test_a_nik_as_a_field_name_or_in_a_path_is_not_repeated(gw: TestClient) -> None:
    r = gw.post("/api/v1/hub/results", content=json.dumps({"sync_run_id": "r", NIK_PROBE: 1}),
                headers={"Content-Type": "application/json"})
    refused_without_the_nik(r)
    probes = path_probes(gw.app.openapi())  # type: ignore[attr-defined]
    assert len(probes) > 10
    for method, url in probes:
        r = gw.request(method, url, json={})
        assert r.status_code < 500 and NIK_PROBE not in r.text, (method, url, r.text)
