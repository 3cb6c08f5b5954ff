"""No error body repeats a NIK a caller sent (issue "Trust", part 4): the edit of a student, the imports (a
student file, the VERKOM form) and every route with a path parameter are sent an unknown or malformed NIK;
a 4xx answer never holds the 16 digits, and nothing changes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR
from services.dapodik_gateway.tests.test_kehadiran_files import block, row, verkom_file
from shared.testing import NIK_PROBE, path_probes

A = f.sekolah(1)["npsn"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def client(make_client: Callable[..., TestClient], db_url: str) -> TestClient:
    c = make_client([f.sekolah(1)], [f.peserta_didik(n, 1) for n in range(1, 4)], url=db_url)
    c.headers.update(AS_OPERATOR)
    return c


def rows(client: TestClient) -> list[tuple[Any, ...]]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM peserta_didik ORDER BY 1")).all()]


def refused_without_the_nik(response: Any) -> list[tuple[str, str]]:
    assert 400 <= response.status_code < 500, response.text
    assert NIK_PROBE not in response.text
    return [(e["field"], e["rule"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"nik": int(NIK_PROBE)}, "nik", "string_type"),  # FastAPI's own 422 would repeat the input
    ({"nik": NIK_PROBE + "\x00"}, "nik", "nul_character"),
    ({"nik_ibu": NIK_PROBE * 5}, "nik_ibu", "string_too_long"),
    ({"no_kk": [NIK_PROBE]}, "no_kk", "string_type"),
    ({NIK_PROBE: "x"}, f"[{NIK_PROBE[:6]}******{NIK_PROBE[-4:]}]", "extra_forbidden"),  # a NIK as a field name
])
def test_a_refused_edit_does_not_repeat_the_nik(client: TestClient, body: dict[str, Any], field: str,
                                               rule: str) -> None:
    before = rows(client)
    r = client.patch(f"/api/v1/peserta-didik/{f.uid(2)}", content=json.dumps(body),
                     headers={"Content-Type": "application/json"})
    assert (field, rule) in refused_without_the_nik(r)
    assert rows(client) == before


def test_imports_refuse_without_repeating_the_nik(client: TestClient) -> None:
    before = rows(client)
    book = Workbook()
    book.active.append(["ID Peserta Didik", "Nama", "NIK", "NIK Ibu"])
    book.active.append([NIK_PROBE, "Siswa", int(NIK_PROBE), NIK_PROBE])  # an id that is no id, a NIK as a number
    out = io.BytesIO()
    book.save(out)
    r = client.post(f"/api/v1/sekolah/{A}/peserta-didik/import", content=out.getvalue(),
                    headers={"Content-Type": XLSX})
    assert {("rows[2].NIK", "numeric_cell")} <= set(refused_without_the_nik(r))
    stranger = row(1, 1, [block(0, 0, 0, 20), block(0, 0, 0, 21), block(0, 0, 0, 22)], by_nisn=False)
    stranger[3] = NIK_PROBE  # NIK Siswa of no student of the school
    r = client.post(f"/api/v1/sekolah/{A}/kehadiran/verkom/import", params={"tahun": 2026, "tahap": 3},
                    content=verkom_file([stranger]), headers={"content-type": "text/csv"})
    assert ("rows[7].NIK Siswa", "not_in_school") in refused_without_the_nik(r)
    assert rows(client) == before


def test_no_route_repeats_a_nik_put_in_its_path(client: TestClient) -> None:
    probes = path_probes(client.app.openapi())  # type: ignore[attr-defined]
    assert len(probes) > 10
    for method, url in probes:
        r = client.request(method, url, json={})
        assert r.status_code < 500 and NIK_PROBE not in r.text, (method, url, r.text)
