"""A school's attendance for one PKH period as files, on SQLite and PostgreSQL: the VERKOM CSV with its quirks and
the own CSV/XLSX layout (Dapodik field names); a bad file is a 422 naming each row, column and rule and changes
nothing in the database; a good one upserts (the same file twice changes nothing the second time); a changed
month moves the student in the hub's feed (change_seq), an unchanged import does not; export then import
changes nothing; no month after the one a student left in."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import chain
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from services.dapodik_gateway import db
from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.loader.service import load_world
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR, OPERATOR, _migrate

A, B = f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]
BASE = f"/api/v1/sekolah/{A}/kehadiran"
FEED = "/api/v1/hub/peserta-didik"
Q3 = {"tahun": 2026, "tahap": 3}
MONTHS_Q3 = ["JULI 2026", "AGUSTUS 2026", "SEPTEMBER 2026"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCHOOL_B_TOKEN = "school-b-token-0123456789"
LEFT = 4  # student 4 left on 2026-08-10: no month after August


@pytest.fixture
def gw(db_url: str, tmp_path: Any, token: str) -> Iterator[TestClient]:
    """School 1 with students 1-4 (4 left in August), school 2 with student 9; called as the operator of all
    schools (``token`` is the hub's)."""
    directory = f.write_world(tmp_path / "w", [f.sekolah(1), f.sekolah(2)],
                              [f.peserta_didik(n, 1) for n in range(1, 5)] + [f.peserta_didik(9, 2)])
    (directory / "registrasi_keluar.jsonl").write_text(json.dumps(
        {"peserta_didik_id": f.uid(LEFT), "jenis_keluar_id": 5, "tanggal_keluar": "2026-08-10"}) + "\n")
    _migrate(db_url)
    engine = db.make_engine(db_url)
    try:
        report = load_world(engine, directory)
    finally:
        engine.dispose()
    assert report.ok, report.errors
    client = TestClient(create_app(Settings(
        database_url=db_url, api_tokens={"sync_hub": token, "operator": OPERATOR}, auto_migrate=False,
        operators={"op-b": {"token": SCHOOL_B_TOKEN, "npsn": B}})))
    client.__enter__()
    client.headers.update(AS_OPERATOR)
    yield client
    client.__exit__(None, None, None)


def student(n: int) -> dict[str, Any]:
    return f.peserta_didik(n, 1)


def block(alpa: int, izin: int, sakit: int, he: int, pct: str | None = None) -> list[str]:
    jml = alpa + izin + sakit
    return [str(alpa), str(izin), str(sakit), str(jml), pct if pct is not None else f"{100 * (he - jml) / he:.1f}"]


BLANK = ["", "", "", "", ""]


def verkom_file(rows: list[list[str]], *, months: list[str] = MONTHS_Q3, days: tuple[int | None, ...] = (20, 21, 22),
                npsn: str = A, delimiter: str = ";", bom: bool = False, sep: bool = False) -> bytes:
    """A VERKOM CSV written by hand (not by shared.verkom): ``rows`` are the data rows' 25 cells."""
    out = io.StringIO()
    if sep:
        out.write(f"sep={delimiter}\r\n")
    w = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(["FORM VERIFIKASI KOMITMEN PENDIDIKAN"])
    w.writerow(["NPSN :", npsn])
    w.writerow(["Nama Sekolah :", "SD NEGERI 1 CONTOH"])
    w.writerow(["BULAN", *[""] * 7, *chain.from_iterable([m, "", "", "", ""] for m in months), "", ""])
    w.writerow(["HARI EFEKTIF", *[""] * 7,
                *chain.from_iterable(["" if d is None else str(d), "", "", "", ""] for d in days), "", ""])
    w.writerow(["No", "NIK Pengurus", "Nama Pengurus", "NIK Siswa", "NISN", "Nama Siswa", "Bentuk Pendidikan",
                "Tingkat Pendidikan", *["Alpa", "Izin", "Sakit", "Jml", "%"] * 3, "Ket", "Nama Pendamping"])
    w.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def row(no: int, n: int, blocks: list[list[str]], *, by_nisn: bool = True, by_nik: bool = True) -> list[str]:
    s = student(n)
    return [str(no), s["nik_ibu"], s["nama_ibu_kandung"], s["nik"] if by_nik else "", s["nisn"] if by_nisn else "",
            s["nama"], "SD", "3", *chain.from_iterable(blocks), "", "BUDI"]


def good_rows() -> list[list[str]]:
    return [row(1, 1, [block(0, 1, 0, 20), block(2, 0, 0, 21), block(0, 0, 0, 22)]),
            row(2, 2, [block(1, 1, 1, 20), block(0, 0, 4, 21), block(5, 0, 0, 22)], by_nisn=False),
            row(3, 3, [block(0, 0, 0, 20), block(0, 0, 0, 21), block(0, 0, 1, 22)], by_nik=False),
            row(4, LEFT, [block(0, 0, 0, 20), block(12, 0, 0, 21), BLANK])]  # left in August


def post_verkom(client: TestClient, data: bytes, npsn: str = A, **params: Any) -> Any:
    return client.post(f"/api/v1/sekolah/{npsn}/kehadiran/verkom/import", params={**Q3, **params}, content=data,
                       headers={"content-type": "text/csv"})


def months_of(client: TestClient, n: int) -> list[tuple[int, int, int, int, int, int]]:
    rec = client.get(f"/api/v1/peserta-didik/{f.uid(n)}").json()
    return [(m["tahun"], m["bulan"], m["jml_hari_efektif"], m["jml_tanpa_keterangan"], m["jml_izin"], m["jml_sakit"])
            for m in rec["kehadiran_pd"]]


def snapshot(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The attendance table, every student's change number and last_update, and the change counter."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.execute(sa.text("SELECT * FROM kehadiran_pd ORDER BY peserta_didik_id, tahun, bulan")).all(),
                    conn.execute(sa.text("SELECT peserta_didik_id, change_seq, last_update FROM peserta_didik "
                                         "ORDER BY peserta_didik_id")).all(),
                    conn.execute(sa.text("SELECT * FROM change_counter")).all())
    finally:
        engine.dispose()


def feed(client: TestClient, token: str, since: str | None = None) -> tuple[list[str], str]:
    r = client.get(FEED, params={"limit": 100, **({"since": since} if since else {})},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return [s["peserta_didik_id"] for s in r.json()["items"]], r.json()["resume_cursor"]


def errors_of(r: Any) -> set[tuple[str, str]]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "InvalidInput" and "nothing was imported" in body["detail"]
    return {(e["field"], e["rule"]) for e in body["errors"]}


def test_a_clean_verkom_file_upserts_the_months(gw: TestClient) -> None:
    r = post_verkom(gw, verkom_file(good_rows(), bom=True, sep=True))
    assert r.status_code == 200, r.text
    assert r.json() == {"format": "verkom", "tahun": 2026, "tahap": 3, "rows": 4, "inserted": 11, "updated": 0,
                        "unchanged": 0, "students_changed": 4, "dry_run": False}
    assert months_of(gw, 1) == [(2026, 7, 20, 0, 1, 0), (2026, 8, 21, 2, 0, 0), (2026, 9, 22, 0, 0, 0)]
    assert months_of(gw, 2)[2] == (2026, 9, 22, 5, 0, 0)  # matched by NIK (no NISN on the row)
    assert months_of(gw, 3)[2] == (2026, 9, 22, 0, 0, 1)  # by NISN (no NIK on the row)
    assert [m[1] for m in months_of(gw, LEFT)] == [7, 8]  # a blank block: September not reported


@pytest.mark.parametrize(("tahap", "months", "delimiter", "bom", "sep", "pct"), [
    (1, ["JANUARI 2026", "PEBRUARI 2026", "MARET 2026"], ";", True, True, "95,5"),  # Excel's ';' with BOM, sep=
    (4, ["OKTOBER", "NOPEMBER", "DESEMBER"], ",", False, False, "95,5"),  # ',' (the 95,5 quoted), no year
    (1, ["Januari", "Pebruari", "Maret"], ",", True, False, "95.5%"),
])
def test_verkom_quirks_are_read(gw: TestClient, tahap: int, months: list[str], delimiter: str, bom: bool, sep: bool,
                                pct: str) -> None:
    data = verkom_file([row(1, 1, [block(1, 0, 0, 22, pct), block(0, 0, 0, 20), block(0, 0, 0, 21)])],
                       months=months, days=(22, 20, 21), delimiter=delimiter, bom=bom, sep=sep)
    if delimiter == ",":
        assert b'"95,5"' in data or b"95.5%" in data
    r = post_verkom(gw, data, tahap=tahap)
    assert r.status_code == 200, r.text
    first = 3 * (tahap - 1) + 1
    assert months_of(gw, 1) == [(2026, first, 22, 1, 0, 0), (2026, first + 1, 20, 0, 0, 0),
                                (2026, first + 2, 21, 0, 0, 0)]


def test_a_bad_file_is_named_cell_by_cell_and_changes_nothing(gw: TestClient, db_url: str) -> None:
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    before = snapshot(db_url)
    bad = good_rows()
    bad[0][8:13] = block(19, 2, 0, 20, "0,0")  # JULI: 21 days absent of 20
    bad[1][13:18] = ["-1", "0", "0", "-1", "105,0"]  # AGUSTUS Alpa negative
    bad[2][18:23] = ["x", "0", "0", "", ""]  # SEPTEMBER Alpa: not a number
    found = errors_of(post_verkom(gw, verkom_file(bad)))
    assert {("rows[7].JULI Jml", "exceeds_hari_efektif"), ("rows[8].AGUSTUS Alpa", "negative"),
            ("rows[9].SEPTEMBER Alpa", "integer")} <= found, found
    found = errors_of(post_verkom(gw, verkom_file(good_rows(), months=[*MONTHS_Q3[:2], "OKTOBER 2026"])))
    assert ("rows[4].BULAN 3", "outside_period") in found
    # rows that parse but name a student of another school, the same student twice, a month after leaving
    other = row(5, 1, [block(0, 0, 0, 20)] * 3)
    s9 = f.peserta_didik(9, 2)
    other[3], other[4] = s9["nik"], s9["nisn"]
    twice = row(6, 2, [block(0, 0, 0, 20), block(0, 0, 0, 21), block(0, 0, 0, 22)])
    late = good_rows()
    late[3][18:23] = block(0, 0, 0, 22)  # student 4 in September, after it left
    r = post_verkom(gw, verkom_file([*late, other, twice], npsn=B))
    found = errors_of(r)
    assert {("NPSN", "other_school"), ("rows[10].SEPTEMBER Alpa", "after_keluar"), ("rows[11].NISN", "not_in_school"),
            ("rows[12].NISN", "duplicate")} <= found, found
    assert all(student(n)["nik"] not in r.text for n in range(1, 5)) and s9["nik"] not in r.text  # no NIK echoed
    assert snapshot(db_url) == before  # nothing changed: months, change numbers, the counter


def test_same_file_twice_changes_nothing_the_second_time_and_the_feed_moves_only_on_change(
        gw: TestClient, db_url: str, token: str) -> None:
    _, resume = feed(gw, token)
    assert post_verkom(gw, verkom_file(good_rows())).json()["inserted"] == 11
    changed, resume = feed(gw, token, resume)
    assert changed == sorted(f.uid(n) for n in range(1, 5))
    before = snapshot(db_url)
    again = post_verkom(gw, verkom_file(good_rows())).json()
    assert (again["inserted"], again["updated"], again["unchanged"], again["students_changed"]) == (0, 0, 11, 0)
    assert feed(gw, token, resume)[0] == [] and snapshot(db_url) == before
    rows = good_rows()
    rows[1][13:18] = block(0, 0, 3, 21)  # one month of student 2 changes: only it moves
    r = post_verkom(gw, verkom_file(rows)).json()
    assert (r["inserted"], r["updated"], r["unchanged"], r["students_changed"]) == (0, 1, 10, 1)
    assert feed(gw, token, resume)[0] == [f.uid(2)]
    assert months_of(gw, 2)[1] == (2026, 8, 21, 0, 0, 3)


def test_verkom_export_then_import_changes_nothing(gw: TestClient, db_url: str) -> None:
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    r = gw.get(f"{BASE}/verkom/export", params=Q3)
    assert r.status_code == 200, r.text
    assert f'filename="verkom_{A}_2026_tahap3.csv"' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbfsep=;") and r.headers["x-students-omitted"] == "0"
    text = r.content.decode("utf-8-sig")
    assert "JULI 2026" in text and ";95,0;" in text and "Keluar 2026-08-10" in text
    before = snapshot(db_url)
    again = post_verkom(gw, r.content).json()
    assert (again["rows"], again["inserted"], again["updated"], again["unchanged"], again["students_changed"]) == (
        4, 0, 0, 11, 0)
    assert snapshot(db_url) == before
    # nothing held yet in tahap 4: a blank form of the school's students, which imports as nothing
    blank = gw.get(f"{BASE}/verkom/export", params={"tahun": 2026, "tahap": 4})
    assert "HARI EFEKTIF" + ";" * 24 in blank.content.decode("utf-8-sig")
    assert post_verkom(gw, blank.content, tahap=4).json()["inserted"] == 0


def test_own_layout_rules_are_named_by_row_and_field(gw: TestClient, db_url: str) -> None:
    header = ["peserta_didik_id", "nisn", "tahun", "bulan", "jml_hari_efektif", "jml_sakit", "jml_izin",
              "jml_tanpa_keterangan"]
    rows = [header,
            [f.uid(1), "", "2026", "7", "20", "0", "0", "21"],  # row 2: absences above the effective days
            [f.uid(2), "", "2026", "7", "20", "-2", "0", "0"],  # row 3: negative
            ["", student(3)["nisn"], "2026", "10", "20", "0", "0", "0"],  # row 4: October is not in tahap 3
            [f.uid(9), "", "2026", "8", "20", "0", "0", "0"],  # row 5: a student of school 2
            [f.uid(2), "", "2026", "8", "20", "0", "0", "0"],
            [f.uid(2), "", "2026", "8", "20", "1", "0", "0"],  # row 7: the same student and month again
            [f.uid(3), "", "2026", "9", "dua", "0", "0", "0"],  # row 8: not a number
            [f.uid(LEFT), "", "2026", "9", "20", "0", "0", "0"]]  # row 9: after the student left
    before = snapshot(db_url)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    found = errors_of(gw.post(f"{BASE}/import", params={**Q3, "format": "csv"}, content=out.getvalue().encode()))
    assert found == {("rows[2].jml_tanpa_keterangan", "exceeds_hari_efektif"), ("rows[3].jml_sakit", "negative"),
                     ("rows[4].bulan", "outside_period"), ("rows[5].peserta_didik_id", "not_in_school"),
                     ("rows[7].bulan", "duplicate"), ("rows[8].jml_hari_efektif", "integer"),
                     ("rows[9].bulan", "after_keluar")}, found
    assert snapshot(db_url) == before


def test_own_layout_xlsx_round_trip(gw: TestClient) -> None:
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    r = gw.get(f"{BASE}/export", params={**Q3, "format": "xlsx"})
    assert r.status_code == 200, r.text
    assert f'filename="kehadiran_{A}_2026_tahap3.xlsx"' in r.headers["content-disposition"]
    values = [list(v) for v in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True)]
    assert values[0] == ["peserta_didik_id", "nisn", "nama", "tahun", "bulan", "jml_hari_efektif", "jml_sakit",
                         "jml_izin", "jml_tanpa_keterangan", "jml_tidak_hadir", "persen_hadir", "memenuhi_85_persen"]
    assert len(values) == 12 and isinstance(values[1][1], str)  # the NISN stays text
    again = gw.post(f"{BASE}/import", params=Q3, content=r.content, headers={"content-type": XLSX}).json()
    assert (again["format"], again["rows"], again["unchanged"], again["students_changed"]) == ("xlsx", 11, 11, 0)
    # one cell changed, as a school would in Excel: one month updated, one student moved
    book = Workbook()
    for v in values:
        book.active.append(v)
    book.active.cell(row=2, column=9, value=3)  # the first row's jml_tanpa_keterangan
    changed_id = values[1][0]
    buffer = io.BytesIO()
    book.save(buffer)
    changed = gw.post(f"{BASE}/import", params=Q3, content=buffer.getvalue(), headers={"content-type": XLSX}).json()
    assert (changed["updated"], changed["unchanged"], changed["students_changed"]) == (1, 10, 1)
    rec = gw.get(f"/api/v1/peserta-didik/{changed_id}").json()
    assert rec["kehadiran_pd"][0]["jml_tanpa_keterangan"] == 3
    # a NISN Excel turned into a number is refused rather than matched wrongly
    book = Workbook()
    book.active.append(values[0])
    book.active.append([None, 1, None, 2026, 7, 20, 0, 0, 0])
    buffer = io.BytesIO()
    book.save(buffer)
    bad = gw.post(f"{BASE}/import", params={**Q3, "format": "xlsx"}, content=buffer.getvalue())
    assert errors_of(bad) == {("rows[2].nisn", "numeric_cell")}


def test_auth_roles_and_scope(gw: TestClient, token: str) -> None:
    data = verkom_file(good_rows())
    calls = [("post", f"{BASE}/verkom/import", Q3), ("get", f"{BASE}/verkom/export", Q3),
             ("post", f"{BASE}/import", {**Q3, "format": "csv"}), ("get", f"{BASE}/export", {**Q3, "format": "csv"})]
    anonymous = TestClient(gw.app)
    for method, path, params in calls:
        kwargs: dict[str, Any] = {"params": params, **({"content": data} if method == "post" else {})}
        assert getattr(anonymous, method)(path, **kwargs).status_code == 401
        r = getattr(gw, method)(path, headers={"Authorization": f"Bearer {SCHOOL_B_TOKEN}"}, **kwargs)
        assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "out_of_scope", r.text
        hub = getattr(gw, method)(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        assert hub.status_code == (403 if method == "post" else 200), hub.text  # the hub reads, never imports
    assert months_of(gw, 1) == []
    r = gw.get(f"{BASE}/verkom/export", params={**Q3, "tahap": 5})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tahap"
    r = gw.get(f"{BASE}/verkom/export", params={**Q3, "tahapp": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "unknown_parameter"
    assert gw.get("/api/v1/sekolah/20109999/kehadiran/verkom/export", params=Q3).status_code == 404
