"""Import and export of a school's students as CSV and XLSX with Dapodik's export columns: round trips, a
per-row error report for bad rows, nothing half-imported."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from services.dapodik_gateway.spreadsheet.columns import EXPORT_HEADER
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR

A, B = f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TABLES = ("peserta_didik", "value_history", "vld_peserta_didik", "kesejahteraan_pd")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """As the operator of all schools (the hub may not import)."""
    c = make_client([f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1) for n in range(1, 5)]
                    + [f.peserta_didik(9, 2)])
    c.headers.update(AS_OPERATOR)
    return c


def export(client: TestClient, fmt: str, npsn: str = A) -> bytes:
    r = client.get(f"/api/v1/sekolah/{npsn}/peserta-didik/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    assert f"peserta_didik_{npsn}_" in r.headers["content-disposition"]
    return r.content


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def to_csv(rows: list[dict[str, Any]], header: list[str] | None = None, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def to_xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    ws = book.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: TestClient, data: bytes, content_type: str = "text/csv", npsn: str = A, **params: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/sekolah/{npsn}/peserta-didik/import", content=data, params=params,
                       headers={"Content-Type": content_type})


def counts(client: TestClient) -> dict[str, int]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def students(client: TestClient, npsn: str = A) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/peserta-didik", params={"npsn": npsn}).json()["items"]
    return {s["peserta_didik_id"]: s for s in items}


def test_csv_export_has_dapodiks_columns_and_only_the_schools_students(client: TestClient) -> None:
    rows = csv_rows(export(client, "csv"))
    assert list(rows[0]) == EXPORT_HEADER
    assert {r["ID Peserta Didik"] for r in rows} == {f.uid(n) for n in range(1, 5)}
    one = next(r for r in rows if r["ID Peserta Didik"] == f.uid(1))
    rec = f.peserta_didik(1)
    assert (one["Nama"], one["NIK"], one["Nama Ibu"], one["Tanggal Lahir"], one["JK"]) == (
        rec["nama"], rec["nik"], rec["nama_ibu_kandung"], rec["tanggal_lahir"], rec["jenis_kelamin"])
    assert (one["Penerima KPS"], one["Status Validasi"]) == ("Tidak", "0")


def test_xlsx_export_keeps_identifiers_as_text(client: TestClient) -> None:
    sheet = load_workbook(io.BytesIO(export(client, "xlsx")), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == EXPORT_HEADER
    nik = EXPORT_HEADER.index("NIK")
    assert all(isinstance(r[nik], str) and len(r[nik]) == 16 for r in rows[1:])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_exported_file_imports_back_unchanged_and_writes_nothing(client: TestClient, fmt: str) -> None:
    resume = client.get("/api/v1/hub/peserta-didik", params={"limit": 1000}).json()["resume_cursor"]
    state = counts(client), students(client)
    r = upload(client, export(client, fmt), "text/csv" if fmt == "csv" else XLSX)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["format"], report["rows"], report["created"], report["updated"], report["unchanged"]) == (
        fmt, 4, 0, 0, 4)
    assert (counts(client), students(client)) == state
    assert client.get("/api/v1/hub/peserta-didik", params={"since": resume}).json()["items"] == []


def test_an_edited_file_updates_creates_revalidates_and_moves_the_feed(client: TestClient) -> None:
    resume = client.get("/api/v1/hub/peserta-didik", params={"limit": 1000}).json()["resume_cursor"]
    rows = csv_rows(export(client, "csv"))
    by_id = {r["ID Peserta Didik"]: r for r in rows}
    by_id[f.uid(1)]["Nama"] = "Siswa Nomor Satu"
    by_id[f.uid(2)]["NIK"] = "1234567890123456"  # a placeholder: held back after the import
    by_id[f.uid(3)]["Nomor KKS"] = "KKS-3"
    new = dict.fromkeys(EXPORT_HEADER, "") | {
        "Nama": "Siswa Baru", "NIPD": "99001", "JK": "L", "Tanggal Lahir": "03/04/2015", "Tingkat Pendidikan": "2",
        "Nama Ibu": "Ibu Baru", "NIK": "3201010304150123", "Penerima KIP": "Tidak"}
    r = upload(client, to_csv([*rows, new], EXPORT_HEADER, delimiter=";"))
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 3, 1)
    status = {x["peserta_didik_id"]: (x["status"], x["fields_changed"]) for x in report["results"]}
    assert status[f.uid(1)] == ("updated", ["nama"]) and status[f.uid(4)] == ("unchanged", [])
    created = next(x for x in report["results"] if x["status"] == "created")
    assert created["row"] == 6
    now = students(client)
    assert now[f.uid(1)]["nama"] == "Siswa Nomor Satu"
    assert now[created["peserta_didik_id"]]["tanggal_lahir"] == "2015-04-03"
    assert now[f.uid(2)]["status_validasi"] == 2
    history = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/riwayat").json()
    assert [(h["field"], h["old_value"], h["new_value"], h["source"], h["changed_by"]) for h in history] == [
        ("nama", f.peserta_didik(1)["nama"], "Siswa Nomor Satu", "import", "operator")]
    kks = client.get(f"/api/v1/peserta-didik/{f.uid(3)}/kesejahteraan").json()
    assert [(k["nama_jenis"], k["nomor"], k["asal_data"]) for k in kks] == [("KKS", "KKS-3", "sekolah")]
    changed = {s["peserta_didik_id"]: s for s in client.get("/api/v1/hub/peserta-didik", params={"since": resume}
                                                             ).json()["items"]}
    assert set(changed) == {f.uid(1), f.uid(2), f.uid(3), created["peserta_didik_id"]}
    # student 2 is held back now: it comes with the finding that names what to fix
    assert [(t["kode"], t["field_error"]) for t in changed[f.uid(2)]["temuan_validasi"]
            if t["status_validasi"] == 2] == [("nik_placeholder", "nik")]


def test_a_file_with_some_columns_changes_only_those(client: TestClient) -> None:
    data = to_xlsx(["ID Peserta Didik", "nama"], [[f.uid(4), "Siswa Empat"]])  # a field name works as a column
    r = upload(client, data, XLSX)
    assert r.status_code == 200, r.text
    s = students(client)[f.uid(4)]
    assert s["nama"] == "Siswa Empat" and s["nik"] == f.peserta_didik(4)["nik"]


def test_bad_rows_are_all_reported_and_nothing_is_imported(client: TestClient, token: str) -> None:
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(4, 10))),
                headers={"Authorization": f"Bearer {token}"})  # the hub writes penerima_kps
    state = counts(client), students(client), students(client, B)
    header = ["ID Peserta Didik", "Nama", "NIPD", "JK", "NISN", "Tanggal Lahir", "Tingkat Pendidikan", "Nama Ibu",
              "Penerima KPS"]
    rows = [
        [f.uid(1), "Baik", "00001", "L", "0000000001", "2014-02-02", 2, "Ibu", "Tidak"],  # fine, but not imported
        [f.uid(2), "Siswa", "00002", "X", None, "31/02/2014", 2, "Ibu", "Tidak"],  # JK, date
        [f.uid(3), "Siswa", "00003", "P", 12345678, "2014-03-03", "dua", "Ibu", "mungkin"],  # NISN number, int, bool
        [f.uid(9), "Siswa", "00009", "P", None, "2014-03-03", 2, "Ibu", "Tidak"],  # another school's student
        [f.uid(99), "Siswa", "00099", "P", None, "2014-03-03", 2, "Ibu", "Tidak"],  # no such student
        [None, None, "77777", "P", None, "2014-03-03", 2, "Ibu", "Tidak"],  # new student without a name
        [None, "Dua Kali", "00001", "L", None, "2014-02-02", 2, "Ibu", "Tidak"],  # NIPD of row 2
        [f.uid(4), "Siswa", "00004", "L", None, "2014-05-05", 2, "Ibu", "Tidak"],  # hub wrote penerima_kps=True
        [f.uid(1), "Lagi", "00001", "L", None, "2014-02-02", 2, "Ibu", "Tidak"],  # the same student twice
    ]
    r = upload(client, to_xlsx(header, rows), XLSX)
    assert r.status_code == 422, r.text
    body = r.json()
    found = {(e["field"], e["rule"]) for e in body["errors"]}
    assert found == {
        ("rows[3].JK", "enum"), ("rows[3].Tanggal Lahir", "date_parsing"),
        ("rows[4].NISN", "numeric_cell"), ("rows[4].Tingkat Pendidikan", "int_parsing"),
        ("rows[4].Penerima KPS", "bool_parsing"), ("rows[5].ID Peserta Didik", "not_in_school"),
        ("rows[6].ID Peserta Didik", "unknown_peserta_didik_id"), ("rows[7].Nama", "missing"),
        ("rows[8].NIPD", "duplicate"), ("rows[9].Penerima KPS", "hub_written"),
        ("rows[10].ID Peserta Didik", "duplicate"),
    }, body["errors"]
    assert "nothing was imported" in body["detail"]
    assert (counts(client), students(client), students(client, B)) == state


# What Excel keeps of the NIK 3172065511870016 typed into a Number cell: 15 significant digits.
DAMAGED = 3172065511870020.0


@pytest.mark.parametrize(("column", "cell"), [
    ("NIK Ibu", DAMAGED), ("NIK", DAMAGED), ("No KK", 3172065511870016), ("NISN", 12345678)])
def test_a_numeric_identifier_cell_is_refused_and_text_is_accepted(client: TestClient, column: str,
                                                                   cell: Any) -> None:
    state = counts(client), students(client)
    header = ["ID Peserta Didik", "Nama", column]
    r = upload(client, to_xlsx(header, [[f.uid(1), "Siswa Satu", None], [f.uid(2), "Siswa Dua", cell]]), XLSX)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(f"rows[3].{column}", "numeric_cell")]
    assert "317206551187" not in r.text  # the message does not repeat the value
    assert (counts(client), students(client)) == state
    typed = f"{cell:.0f}" if isinstance(cell, float) else str(cell)
    ok = upload(client, to_xlsx(header, [[f.uid(1), "Siswa Satu", None], [f.uid(2), "Siswa Dua", typed]]), XLSX)
    assert ok.status_code == 200, ok.text
    field = {"NIK Ibu": "nik_ibu", "NIK": "nik", "No KK": "no_kk", "NISN": "nisn"}[column]
    assert students(client)[f.uid(2)][field] == typed


def test_a_nik_excel_saved_in_scientific_notation_in_a_csv_is_refused(client: TestClient) -> None:
    state = counts(client), students(client)
    r = upload(client, to_csv([{"ID Peserta Didik": f.uid(2), "NIK Ibu": "3.17207E+15"}]))
    assert r.status_code == 422, r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("rows[2].NIK Ibu", "excel_scientific")]
    assert (counts(client), students(client)) == state


@pytest.mark.parametrize(("data", "content_type", "params", "field", "rule"), [
    (b"Nama,Kelas\nA,1\n", "text/csv", {}, "header.Kelas", "unknown_column"),
    (b"Nama,Nama\nA,B\n", "text/csv", {}, "header.Nama", "duplicate_column"),
    (b"Tempat Lahir\nBogor\n", "text/csv", {}, "header", "no_key"),
    (b"", "text/csv", {}, "file", "empty"),
    ("Nama,NIPD\nSiti,1\n".encode("utf-16"), "text/csv", {}, "file", "not_utf8"),
    (b"PK\x03\x04 not really a workbook", XLSX, {}, "file", "xlsx_invalid"),
    (b"Nama,NIPD\nA,1\n", "application/octet-stream", {}, "format", "missing"),
    (b"Nama,NIPD\nA,1\n", "text/csv", {"format": "ods"}, "format", "enum"),
    (b"NIPD,Nama\n00001,A\x00B\n", "text/csv", {}, "file", "nul_character"),
])
def test_a_file_that_cannot_be_read_is_422_naming_why(client: TestClient, data: bytes, content_type: str,
                                                      params: dict[str, str], field: str, rule: str) -> None:
    state = counts(client)
    r = upload(client, data, content_type, **params)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}, r.json()
    assert counts(client) == state


def test_export_and_import_answer_bad_requests_with_4xx(client: TestClient) -> None:
    assert client.get(f"/api/v1/sekolah/{A}/peserta-didik/export").json()["errors"][0]["field"] == "format"
    r = client.get(f"/api/v1/sekolah/{A}/peserta-didik/export", params={"format": "pdf"})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "enum"
    r = client.get("/api/v1/sekolah/99999999/peserta-didik/export", params={"format": "csv"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "npsn"
    assert upload(client, b"Nama\nA\n", npsn="99999999").status_code == 404
    r = upload(client, b"Nama\nA\n", npsn="1234")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "npsn"


def test_a_control_character_in_a_record_exports_to_xlsx_and_imports_back_unchanged(
        make_client: Callable[..., TestClient]) -> None:
    """An XLSX cell cannot hold a control character (openpyxl refuses it): the export of a record holding one was
    a 500 (found by fuzzing the gateway on real sockets). It is written as OOXML's ``_xHHHH_`` and read back."""
    client = make_client([f.sekolah(1)], [f.peserta_didik(1, 1, tempat_lahir="Bogor\x01Timur\x1f Barat")])
    client.headers.update(AS_OPERATOR)
    data = export(client, "xlsx")
    state = counts(client), students(client)
    assert next(iter(state[1].values()))["tempat_lahir"] == "Bogor\x01Timur\x1f Barat"
    r = upload(client, data, XLSX)
    assert r.status_code == 200, r.text
    assert (r.json()["updated"], r.json()["unchanged"]) == (0, 1)
    assert (counts(client), students(client)) == state
