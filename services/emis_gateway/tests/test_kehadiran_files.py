"""A madrasah's attendance for one PKH period as files, on SQLite and PostgreSQL: the VERKOM CSV with its quirks
and the own CSV/XLSX layout (EMIS field names); a bad file is a 422 naming each row, column and rule and changes
nothing; a good one upserts (the same file twice changes nothing the second time); a changed month moves the
student in the hub's feed, an unchanged import does not; export then import changes nothing."""

from __future__ import annotations

import csv
import io
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests.conftest import (
    NSM_A,
    NSM_B,
    OPERATOR_TOKEN,
    AppFactory,
    madrasah,
    nik,
    seed,
    siswa,
    write_world,
)
from shared.db import make_engine, migrate

BASE = f"/api/v1/madrasah/{NSM_A}/kehadiran"
NPSN_A = "6" + NSM_A[-7:]
FEED = "/api/v1/hub/siswa"
Q3 = {"tahun": 2026, "tahap": 3}
MONTHS_Q3 = ["JULI 2026", "AGUSTUS 2026", "SEPTEMBER 2026"]


def nisn(i: int) -> str:
    return f"{3000000000 + i}"


def student_nik(i: int) -> str:
    return siswa(i)["nik"]


def block(alpa: int, izin: int, sakit: int, he: int, pct: str | None = None) -> list[str]:
    jml = alpa + izin + sakit
    return [str(alpa), str(izin), str(sakit), str(jml), pct if pct is not None else f"{100 * (he - jml) / he:.1f}"]


def verkom_file(rows: list[list[str]], *, months: list[str] = MONTHS_Q3, days: tuple[int, ...] = (20, 21, 22),
                npsn: str = NPSN_A, delimiter: str = ";", bom: bool = False, sep: bool = False) -> bytes:
    """A VERKOM CSV written by hand (not by shared.verkom): ``rows`` are the data rows' 25 cells."""
    out = io.StringIO()
    if sep:
        out.write(f"sep={delimiter}\r\n")
    w = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(["FORM VERIFIKASI KOMITMEN PENDIDIKAN"])
    w.writerow(["NPSN :", npsn])
    w.writerow(["Nama Sekolah :", "MI NURUL HUDA"])
    w.writerow(["BULAN", *[""] * 7, *chain.from_iterable([m, "", "", "", ""] for m in months), "", ""])
    w.writerow(["HARI EFEKTIF", *[""] * 7, *chain.from_iterable([str(d), "", "", "", ""] for d in days), "", ""])
    w.writerow(["No", "NIK Pengurus", "Nama Pengurus", "NIK Siswa", "NISN", "Nama Siswa", "Bentuk Pendidikan",
                "Tingkat Pendidikan", *["Alpa", "Izin", "Sakit", "Jml", "%"] * 3, "Ket", "Nama Pendamping"])
    w.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def row(no: int, i: int, blocks: list[list[str]], *, by_nisn: bool = True, by_nik: bool = True) -> list[str]:
    return [str(no), nik(i + 1), f"Ibu {i}", student_nik(i) if by_nik else "", nisn(i) if by_nisn else "",
            f"Anak {i}", "MI", "4", *chain.from_iterable(blocks), "", "BUDI"]


def good_rows(days: tuple[int, ...] = (20, 21, 22)) -> list[list[str]]:
    return [row(1, 0, [block(0, 1, 0, days[0]), block(2, 0, 0, days[1]), block(0, 0, 0, days[2])]),
            row(2, 1, [block(1, 1, 1, days[0]), block(0, 0, 4, days[1]), block(5, 0, 0, days[2])], by_nisn=False),
            row(3, 2, [block(0, 0, 0, days[0]), block(0, 0, 0, days[1]), block(0, 0, 1, days[2])], by_nik=False)]


@pytest.fixture
def gw(app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    """The app on ``db_url`` with students 0-2 of NSM_A (and an empty NSM_B), called by the hub's token."""
    seed(db_url, tmp_path / "world", 3)
    client = app_client(db_url)
    client.headers.update(auth)
    return client


def post_verkom(client: TestClient, data: bytes, nsm: str = NSM_A, **params: Any) -> Any:
    return client.post(f"/api/v1/madrasah/{nsm}/kehadiran/verkom/import", params={**Q3, **params}, content=data,
                       headers={"content-type": "text/csv"})


def snapshot(client: TestClient) -> dict[str, Any]:
    """Every student's attendance and updated_at, as the API serves them."""
    items = client.get("/api/v1/siswa", params={"nsm": NSM_A, "limit": 100}).json()["items"]
    return {s["siswa_id"]: (s["updated_at"], s["kehadiran"]) for s in items}


def months_of(client: TestClient, siswa_id: str) -> list[tuple[int, int, int, int, int, int]]:
    rec = client.get(f"/api/v1/siswa/{siswa_id}").json()
    return [(m["tahun"], m["bulan"], m["hari_efektif"], m["alpa"], m["izin"], m["sakit"]) for m in rec["kehadiran"]]


def feed_since(client: TestClient, since: str | None = None) -> tuple[list[str], str]:
    page = client.get(FEED, params={"limit": 100, **({"since": since} if since else {})}).json()
    return [s["siswa_id"] for s in page["items"]], page["resume_cursor"]


def errors_of(r: Any) -> set[tuple[str, str]]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "InvalidInput" and "nothing was imported" in body["detail"]
    return {(e["field"], e["rule"]) for e in body["errors"]}


def test_a_clean_verkom_file_upserts_the_months(gw: TestClient) -> None:
    r = post_verkom(gw, verkom_file(good_rows(), bom=True, sep=True))
    assert r.status_code == 200, r.text
    assert r.json() == {"format": "verkom", "tahun": 2026, "tahap": 3, "rows": 3, "inserted": 9, "updated": 0,
                        "unchanged": 0, "students_changed": 3, "dry_run": False}
    assert months_of(gw, "siswa-0000") == [(2026, 7, 20, 0, 1, 0), (2026, 8, 21, 2, 0, 0), (2026, 9, 22, 0, 0, 0)]
    assert months_of(gw, "siswa-0001")[2] == (2026, 9, 22, 5, 0, 0)  # matched by NIK (no NISN on the row)
    assert months_of(gw, "siswa-0002")[2] == (2026, 9, 22, 0, 0, 1)  # by NISN (no NIK on the row)


@pytest.mark.parametrize(("tahap", "months", "delimiter", "bom", "sep", "pct"), [
    (1, ["JANUARI 2026", "PEBRUARI 2026", "MARET 2026"], ";", True, True, "95,5"),  # Excel's ';' with BOM, sep=
    (4, ["OKTOBER", "NOPEMBER", "DESEMBER"], ",", False, False, "95,5"),  # ',' (the 95,5 quoted), no year
    (1, ["Januari", "Pebruari", "Maret"], ",", True, False, "95.5%"),
])
def test_verkom_quirks_are_read(gw: TestClient, tahap: int, months: list[str], delimiter: str, bom: bool, sep: bool,
                                pct: str) -> None:
    rows = [row(1, 0, [block(1, 0, 0, 22, pct), block(0, 0, 0, 20), block(0, 0, 0, 21)])]
    data = verkom_file(rows, months=months, days=(22, 20, 21), delimiter=delimiter, bom=bom, sep=sep)
    if delimiter == ",":
        assert b'"95,5"' in data or b"95.5%" in data
    r = post_verkom(gw, data, tahap=tahap)
    assert r.status_code == 200, r.text
    first = 3 * (tahap - 1) + 1
    assert months_of(gw, "siswa-0000") == [(2026, first, 22, 1, 0, 0), (2026, first + 1, 20, 0, 0, 0),
                                           (2026, first + 2, 21, 0, 0, 0)]


def test_a_bad_file_is_named_cell_by_cell_and_changes_nothing(gw: TestClient) -> None:
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    before = snapshot(gw)
    bad = good_rows()
    bad[0][8:13] = block(19, 2, 0, 20, "0,0")  # JULI: 21 days absent of 20
    bad[1][13:18] = ["-1", "0", "0", "-1", "105,0"]  # AGUSTUS Alpa negative
    bad[2][18:23] = ["x", "0", "0", "", ""]  # SEPTEMBER Alpa: not a number
    found = errors_of(post_verkom(gw, verkom_file(bad)))
    assert {("rows[7].JULI Jml", "exceeds_hari_efektif"), ("rows[8].AGUSTUS Alpa", "negative"),
            ("rows[9].SEPTEMBER Alpa", "integer")} <= found, found
    # a month outside the period (Q3 asked, OKTOBER given)
    found = errors_of(post_verkom(gw, verkom_file(good_rows(), months=[*MONTHS_Q3[:2], "OKTOBER 2026"])))
    assert ("rows[4].BULAN 3", "outside_period") in found
    # rows that parse but name no student of this madrasah, the same student twice, another school's form
    stranger = row(4, 7, [block(0, 0, 0, 20)] * 3)  # siswa-0007 does not exist
    twice = row(5, 1, [block(0, 0, 0, 20), block(0, 0, 0, 21), block(0, 0, 0, 22)])
    r = post_verkom(gw, verkom_file([*good_rows(), stranger, twice], npsn="12345678"))
    found = errors_of(r)
    assert {("NPSN", "other_school"), ("rows[10].NISN", "not_in_school"), ("rows[11].NISN", "duplicate")} <= found
    assert all(student_nik(i) not in r.text for i in range(8))  # no NIK echoed
    assert snapshot(gw) == before  # nothing changed: months and updated_at


def test_same_file_twice_changes_nothing_the_second_time_and_the_feed_moves_only_on_change(gw: TestClient) -> None:
    _, resume = feed_since(gw)
    assert post_verkom(gw, verkom_file(good_rows())).json()["inserted"] == 9
    changed, resume = feed_since(gw, resume)
    assert changed == ["siswa-0000", "siswa-0001", "siswa-0002"]
    before = snapshot(gw)
    again = post_verkom(gw, verkom_file(good_rows())).json()
    assert (again["inserted"], again["updated"], again["unchanged"], again["students_changed"]) == (0, 0, 9, 0)
    assert feed_since(gw, resume)[0] == [] and snapshot(gw) == before
    # one month of one student changes: only that student moves
    rows = good_rows()
    rows[1][13:18] = block(0, 0, 3, 21)
    r = post_verkom(gw, verkom_file(rows)).json()
    assert (r["inserted"], r["updated"], r["unchanged"], r["students_changed"]) == (0, 1, 8, 1)
    assert feed_since(gw, resume)[0] == ["siswa-0001"]
    assert months_of(gw, "siswa-0001")[1] == (2026, 8, 21, 0, 0, 3)
    # a dry run reports the same and writes nothing
    rows[1][13:18] = block(0, 0, 4, 21)
    dry = post_verkom(gw, verkom_file(rows), dry_run="true").json()
    assert (dry["updated"], dry["dry_run"]) == (1, True) and months_of(gw, "siswa-0001")[1] == (2026, 8, 21, 0, 0, 3)


def test_verkom_export_then_import_changes_nothing(app_client: AppFactory, db_url: str, tmp_path: Path,
                                                   auth: dict[str, str]) -> None:
    seed(db_url, tmp_path / "world", 5)
    gw = app_client(db_url)
    gw.headers.update(auth)
    # siswa-0003 left in August (a blank September); siswa-0004 has no month held (three blank blocks)
    rows = [*good_rows(), row(4, 3, [block(1, 0, 0, 20), block(9, 0, 0, 21), ["", "", "", "", ""]])]
    assert post_verkom(gw, verkom_file(rows)).status_code == 200
    r = gw.get(f"{BASE}/verkom/export", params=Q3)
    assert r.status_code == 200, r.text
    assert f'filename="verkom_{NSM_A}_2026_tahap3.csv"' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbfsep=;") and r.headers["x-students-omitted"] == "0"
    text = r.content.decode("utf-8-sig")
    assert "JULI 2026" in text and NPSN_A in text and ";95,0;" in text  # a ';' file with ',' decimals
    again = post_verkom(gw, r.content).json()
    assert (again["rows"], again["inserted"], again["updated"], again["unchanged"], again["students_changed"]) == (
        5, 0, 0, 11, 0)


def test_verkom_export_leaves_off_students_it_cannot_name_and_refuses_differing_days(
        app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> None:
    directory = write_world(tmp_path / "w", [madrasah(NSM_A), madrasah(NSM_B)],
                            [siswa(0), siswa(1, nisn=None, nik=None), siswa(2, nisn=nisn(0), nik="123"), siswa(3)])
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    assert load_world(engine, directory).ok
    engine.dispose()
    gw = app_client(db_url)
    gw.headers.update(auth)
    r = gw.get(f"{BASE}/verkom/export", params=Q3)
    # siswa-0001 has no identifier, siswa-0002 shares siswa-0000's NISN and has no valid NIK: left off
    assert r.status_code == 200 and r.headers["x-students-omitted"] == "2", r.text
    lines = r.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 9 and lines[5] == "HARI EFEKTIF" + ";" * 24  # no month held: the days are blank
    assert [ln.split(";")[4] for ln in lines[7:]] == [nisn(0), nisn(3)]
    # the own layout holds per-student effective days; VERKOM has one per month
    table = "siswa_id,tahun,bulan,hari_efektif,sakit,izin,alpa\r\nsiswa-0000,2026,7,20,0,0,0\r\n" \
            "siswa-0003,2026,7,21,0,0,0\r\n"
    assert gw.post(f"{BASE}/import", params={**Q3, "format": "csv"}, content=table.encode()).status_code == 200
    r = gw.get(f"{BASE}/verkom/export", params=Q3)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "hari_efektif"
    assert r.json()["errors"][0]["rule"] == "hari_efektif_differs"


def own_rows(exported: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))


def to_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_own_layout_rules_are_named_by_row_and_field(gw: TestClient) -> None:
    header = ["siswa_id", "nisn", "tahun", "bulan", "hari_efektif", "sakit", "izin", "alpa"]
    rows = [header,
            ["siswa-0000", "", "2026", "7", "20", "0", "0", "21"],  # row 2: absences above the effective days
            ["siswa-0001", "", "2026", "7", "20", "-2", "0", "0"],  # row 3: negative
            ["", nisn(2), "2026", "10", "20", "0", "0", "0"],  # row 4: October is not in tahap 3
            ["siswa-0009", "", "2026", "8", "20", "0", "0", "0"],  # row 5: no such student here
            ["siswa-0001", "", "2026", "8", "20", "0", "0", "0"],
            ["siswa-0001", "", "2026", "8", "20", "1", "0", "0"],  # row 7: the same student and month again
            ["siswa-0002", "", "2026", "9", "dua", "0", "0", "0"]]  # row 8: not a number
    before = snapshot(gw)
    found = errors_of(gw.post(f"{BASE}/import", params={**Q3, "format": "csv"}, content=to_csv(rows)))
    assert found == {("rows[2].alpa", "exceeds_hari_efektif"), ("rows[3].sakit", "negative"),
                     ("rows[4].bulan", "outside_period"), ("rows[5].siswa_id", "not_in_school"),
                     ("rows[7].bulan", "duplicate"), ("rows[8].hari_efektif", "integer")}, found
    assert snapshot(gw) == before
    found = errors_of(gw.post(f"{BASE}/import", params={**Q3, "format": "csv"},
                              content=to_csv([["siswa_id", "tahun", "bulan", "hari", "sakit", "izin", "alpa"]])))
    assert {("rows[1].hari", "unknown_column"), ("rows[1].hari_efektif", "missing_column")} <= found


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_own_layout_round_trip(gw: TestClient, fmt: str) -> None:
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    r = gw.get(f"{BASE}/export", params={**Q3, "format": fmt})
    assert r.status_code == 200, r.text
    assert f'filename="kehadiran_{NSM_A}_2026_tahap3.{fmt}"' in r.headers["content-disposition"]
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(r.content)).active
        values = [list(v) for v in sheet.iter_rows(values_only=True)]
        assert values[0] == ["siswa_id", "nisn", "nama", "tahun", "bulan", "hari_efektif", "sakit", "izin", "alpa",
                             "jumlah_tidak_hadir", "persentase_kehadiran", "memenuhi_syarat_pkh"]
        assert len(values) == 10 and isinstance(values[1][1], str)  # the NISN stays text
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        values = own_rows(r.content)
        content_type = "text/csv"
    again = gw.post(f"{BASE}/import", params=Q3, content=r.content, headers={"content-type": content_type}).json()
    assert (again["format"], again["rows"], again["unchanged"], again["students_changed"]) == (fmt, 9, 9, 0)
    # one cell changed in the file: one month updated, one student moved
    rows = [list(v) for v in values]
    rows[1][8] = 3  # siswa-0000, July: alpa 3
    changed = gw.post(f"{BASE}/import", params={**Q3, "format": "csv"}, content=to_csv(rows)).json()
    assert (changed["updated"], changed["unchanged"], changed["students_changed"]) == (1, 8, 1)
    assert months_of(gw, "siswa-0000")[0] == (2026, 7, 20, 3, 1, 0)


def test_auth_and_scope(app_client: AppFactory, sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url, tmp_path / "world", 1)
    client = app_client(sqlite_url, api_tokens={"operator": OPERATOR_TOKEN, "op_b": "op-b-token-0123456789abcdef"},
                        api_scopes={"op_b": [NSM_B]})
    data = verkom_file([row(1, 0, [block(0, 0, 0, 20)] * 3)])
    calls = [("post", f"{BASE}/verkom/import"), ("get", f"{BASE}/verkom/export"), ("post", f"{BASE}/import"),
             ("get", f"{BASE}/export")]
    for method, path in calls:
        kwargs: dict[str, Any] = {"params": {**Q3, "format": "csv"} if path.endswith("/import") else Q3}
        if method == "post":
            kwargs["content"] = data
        assert getattr(client, method)(path, **kwargs).status_code == 401
        r = getattr(client, method)(path, headers={"Authorization": "Bearer op-b-token-0123456789abcdef"}, **kwargs)
        assert r.status_code == 403, (path, r.text)
    assert client.get("/api/v1/siswa/siswa-0000", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).json()[
        "kehadiran"] == []
    op = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    assert client.post(f"{BASE}/verkom/import", params=Q3, content=data, headers=op).status_code == 200
    r = client.get(f"{BASE}/verkom/export", params={**Q3, "tahap": 5}, headers=op)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tahap"
    r = client.get(f"/api/v1/madrasah/{NSM_A[:-1]}9/kehadiran/verkom/export", params=Q3, headers=op)
    assert r.status_code == 404


def test_a_blank_block_keeps_what_is_held_and_the_identifiers_must_agree(gw: TestClient) -> None:
    """A blank block is a month not reported: it neither writes nor erases what is held. A row whose NISN and
    NIK Siswa name two different students is refused, without echoing the NIK."""
    assert post_verkom(gw, verkom_file(good_rows())).status_code == 200
    rows = good_rows()
    rows[0][18:23] = ["", "", "", "", ""]
    r = post_verkom(gw, verkom_file(rows)).json()
    assert (r["unchanged"], r["inserted"], r["updated"]) == (8, 0, 0)
    assert len(months_of(gw, "siswa-0000")) == 3
    mixed = good_rows()
    mixed[0][3] = student_nik(1)  # siswa-0000's NISN with siswa-0001's NIK
    r = post_verkom(gw, verkom_file(mixed))
    assert ("rows[7].NIK Siswa", "identity_mismatch") in errors_of(r) and student_nik(1) not in r.text
