"""The families-at-risk routes on SQLite and PostgreSQL: one item per family, keyset pages, filters, 4xx naming
the field and rule, CSV and XLSX files, NIKs and KK numbers masked."""

from __future__ import annotations

import base64
import csv
import io
import re
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.config import Settings
from services.sync_hub.main import create_app
from services.sync_hub.risk import repository
from services.sync_hub.risk import service as rs
from services.sync_hub.tests.test_risk_service import (
    ANI,
    BUDI,
    CICI,
    DEDI,
    KK,
    KK2,
    KK3,
    attributed,
    members,
    unlinked,
    verified,
)
from services.sync_hub.verification.service import Period
from shared.clock import utcnow
from shared.db import session_scope
from shared.oidc import LocalIssuer

P = Period.parse("2026-T3")
ALL_NIKS = (ANI, BUDI, CICI, DEDI, KK, KK2, KK3)


def seed(engine, run_id: str = "run-1") -> str:  # type: ignore[no-untyped-def]
    """Three PKH families: KK (region 3201...: ANI under 85 %, BUDI's record does not link), KK2 (3301...: DEDI no
    school record), KK3 (3201...: CICI left school)."""
    m = pl.concat([
        members((ANI, KK, "ani", date(2014, 1, 1), "ANAK"), (BUDI, KK, "budi santoso", date(2012, 2, 2), "ANAK")),
        members((DEDI, KK2, "dedi", date(2013, 4, 4), "ANAK")).with_columns(
            pl.lit("3301012001").alias("family_region")),
        members((CICI, KK3, "cici", date(2011, 3, 3), "ANAK"))])
    v = verified({"nik": ANI, "months_below": [8]},
                 {"nik": CICI, "no_kk": KK3, "student_id": "s-3", "active": False, "keluar_on": date(2026, 8, 1),
                  "keluar_reason": "PUTUS_SEKOLAH"})
    u = unlinked({"nama": "BUDI SANTOSO", "dob": date(2012, 2, 2), "region": "3204012001"})
    rows = rs.build(P, m, pl.Series("nik", [ANI, CICI]), v, u, attributed(("pd-1", KK, "no_kk")))
    with session_scope(engine) as session:
        return repository.replace(session, P.periode, rows, rs.counts(rows), run_id, utcnow())


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app) as client:
            # a viewer: the report is for people watching the period (the role matrix covers the other roles)
            client.headers["Authorization"] = f"Bearer {LocalIssuer(tmp_path / 'keys').issue('vic', ['viewer'])}"
            seed(app.state.engine)
            yield client


def get(hub: TestClient, path: str = "", **params: object):  # type: ignore[no-untyped-def]
    return hub.get(f"/api/v1/families-at-risk{path}", params=params)


def no_personal_numbers(text: str) -> None:
    assert not any(n in text for n in ALL_NIKS)
    assert not re.search(r"\d{16}", text)


def test_one_item_per_family_masked(hub: TestClient) -> None:
    r = get(hub)
    assert r.status_code == 200, r.text
    no_personal_numbers(r.text)
    items = r.json()["items"]
    assert len(items) == 3 and r.json()["next_cursor"] is None
    by_reasons = {tuple(i["reasons"]): i for i in items}
    fam = by_reasons[("ATTENDANCE_BELOW_85", "NIK_MISMATCH")]
    assert fam["no_kk"] == "320101******0001" and fam["at_risk"] is True and fam["periode"] == "2026-T3"
    kids = {c["reason"]: c for c in fam["children"]}
    below = kids["ATTENDANCE_BELOW_85"]
    assert below["months_below"] == [8] and below["actor"] == "SCHOOL_AND_FAMILY"
    mismatch = kids["NIK_MISMATCH"]
    assert (mismatch["actor"], mismatch["school"], mismatch["student_id"], mismatch["evidence"], mismatch["nik"],
            mismatch["age"]) == ("SCHOOL", "sek-1", "pd-1", "no_kk", "320101******0002", 14)
    left = by_reasons[("LEFT_SCHOOL",)]
    assert left["at_risk"] is False and left["children"][0]["error"] is False


def test_keyset_pages_cover_every_family_once_and_name_no_kk(hub: TestClient) -> None:
    seen, cursor = [], None
    while True:
        r = get(hub, limit=1, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        seen += [i["kode_wilayah"] + i["no_kk"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
        no_personal_numbers(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    assert len(seen) == len(set(seen)) == 3


def test_filters(hub: TestClient) -> None:
    def families(**params: object) -> list[list[str]]:
        r = get(hub, **params)
        assert r.status_code == 200, r.text
        return [sorted(c["reason"] for c in i["children"]) for i in r.json()["items"]]

    assert families(province="33") == [["NO_SCHOOL_RECORD"]]
    assert families(kabupaten="3301", province="33") == [["NO_SCHOOL_RECORD"]]
    assert families(kabupaten="3204") == [["NIK_MISMATCH"]]  # the school's region of BUDI's record
    assert families(school="20100001") == [["NIK_MISMATCH"]]  # NPSN
    assert families(school="sek-1") == [["NIK_MISMATCH"]]  # the school's own id
    assert families(reason="LEFT_SCHOOL") == [["LEFT_SCHOOL"]]
    assert families(province="35") == []


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"province": "3"}, "province", "string_pattern_mismatch"),
    ({"province": "3a"}, "province", "string_pattern_mismatch"),
    ({"kabupaten": "32010"}, "kabupaten", "string_pattern_mismatch"),
    ({"province": "32", "kabupaten": "3301"}, "kabupaten", "within_province"),
    ({"reason": "LATE"}, "reason", "enum"),
    ({"periode": "2026-T5"}, "periode", "string_pattern_mismatch"),
    ({"school": "a b"}, "school", "string_pattern_mismatch"),
    ({"limit": 0}, "limit", "greater_than_equal"),
    ({"cursor": "not-a-cursor"}, "cursor", "opaque_cursor"),
    ({"colour": "red"}, "colour", "extra_forbidden"),
])
def test_bad_filters_are_422_naming_field_and_rule(hub: TestClient, params: dict[str, object], field: str,
                                                   rule: str) -> None:
    r = get(hub, **params)
    assert r.status_code == 422, r.text
    assert {(e["field"], e["rule"]) for e in r.json()["errors"]} == {(field, rule)}
    assert get(hub, "/export", **params).status_code == 422 or field in ("limit", "cursor")


def test_unknown_period_404_rebuilt_report_409_no_credential_401(hub: TestClient) -> None:
    r = get(hub, periode="2025-T1")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "periode"
    cursor = get(hub, limit=1).json()["next_cursor"]
    seed(hub.app.state.engine, "run-2")  # type: ignore[attr-defined]
    r = get(hub, limit=1, cursor=cursor)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "report_rebuilt"
    assert hub.get("/api/v1/families-at-risk", headers={"Authorization": ""}).status_code == 401


def test_summary(hub: TestClient) -> None:
    r = get(hub, "/summary", periode="2026-T3")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["families"], body["families_component_ends"], body["sync_run_id"]) == (2, 1, "run-1")
    assert body["by_reason"] == {"ATTENDANCE_BELOW_85": 1, "LEFT_SCHOOL": 1, "NIK_MISMATCH": 1, "NO_SCHOOL_RECORD": 1}
    assert body["by_province"]["33"]["by_reason"] == {"NO_SCHOOL_RECORD": 1}
    assert get(hub, "/summary", periode="x").status_code == 422


def test_csv_and_xlsx_exports(hub: TestClient) -> None:
    r = get(hub, "/export", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "families-at-risk-2026-T3.csv" in r.headers["content-disposition"]
    no_personal_numbers(r.text)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["reason"] for x in rows) == ["ATTENDANCE_BELOW_85", "LEFT_SCHOOL", "NIK_MISMATCH",
                                                 "NO_SCHOOL_RECORD"]
    assert {x["error"] for x in rows if x["reason"] == "LEFT_SCHOOL"} == {"false"}
    filtered = list(csv.DictReader(io.StringIO(get(hub, "/export", format="csv", province="33").text)))
    assert [x["reason"] for x in filtered] == ["NO_SCHOOL_RECORD"]

    r = get(hub, "/export", format="xlsx", reason="NIK_MISMATCH")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:6] == ["periode", "no_kk", "kode_wilayah", "nik", "age", "reason"]
    assert len(values) == 2 and values[1][5] == "NIK_MISMATCH" and values[1][1] == "320101******0001"
    no_personal_numbers(repr(values))
    assert get(hub, "/export", format="pdf").status_code == 422


def test_a_control_character_from_a_gateway_reaches_the_xlsx_export_as_it_was(db_url: str, tmp_path: Path) -> None:
    """A student id or school a gateway sent may hold a control character an XLSX cell cannot (openpyxl refuses it:
    the export was a 500); it is written escaped and reads back as sent."""
    from shared.spreadsheet import FileFormat, read

    m = members((CICI, KK3, "cici", date(2011, 3, 3), "ANAK"))
    v = verified({"nik": CICI, "no_kk": KK3, "student_id": "s-\x013", "active": False, "keluar_on": date(2026, 8, 1),
                  "keluar_reason": "PUTUS_SEKOLAH"})
    rows = rs.build(P, m, pl.Series("nik", [CICI]), v, unlinked(), attributed())
    settings = Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0)
    with warnings.catch_warnings(), TestClient(create_app(settings)) as http:
        warnings.simplefilter("ignore")
        with session_scope(http.app.state.engine) as session:  # type: ignore[attr-defined]
            repository.replace(session, P.periode, rows, rs.counts(rows), "run-1", utcnow())
        token = LocalIssuer(tmp_path / "keys").issue("ana", ["viewer"])
        r = http.get("/api/v1/families-at-risk/export", params={"periode": P.periode, "format": "xlsx"},
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    header, got = read(r.content, FileFormat.XLSX)
    assert [cells[header.index("student_id")] for _, cells in got] == ["s-\x013"]
