"""Import and export of a madrasah's students in CSV and XLSX with EMIS column names: a per-row error report
for bad rows, and nothing half-imported."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from services.emis_gateway.tests.conftest import NSM_A, NSM_B, batch, item, nik
from shared.contracts.emis import PKH_COLUMNS, SISWA_COLUMNS
from shared.nik import Sex

HEADER = [h for h, _ in SISWA_COLUMNS]
CSV_TYPE = {"content-type": "text/csv"}
XLSX_TYPE = {"content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def to_csv(rows: list[list[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode()


def to_xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def from_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def new_row(n: int, **over: Any) -> dict[str, Any]:
    row = {"NISN": f"00990000{n:02d}", "NIK": nik(8000 + n, Sex.P, date(2015, 3, 4)), "Nama Lengkap": f"Baru {n}",
           "Jenis Kelamin": "Perempuan", "Tempat Lahir": "Cianjur", "Tanggal Lahir": "04/03/2015", "Tingkat": "3",
           "Rombel": "3B", "Status Siswa": "Aktif", "Nama Ibu Kandung": f"Ibu Baru {n}",
           "NIK Ibu": nik(8100 + n, Sex.P)}
    return {**row, **over}


def table(rows: list[dict[str, Any]], header: list[str] | None = None) -> list[list[Any]]:
    header = header or list(rows[0])
    return [header] + [[r.get(h) for h in header] for r in rows]


def students(api: TestClient, nsm: str = NSM_A) -> dict[str, dict[str, Any]]:
    return {s["siswa_id"]: s for s in api.get("/api/v1/siswa", params={"nsm": nsm}).json()["items"]}


def test_export_has_emis_columns_in_both_formats(api: TestClient) -> None:
    api.post("/api/v1/hub/results", json=batch(item("siswa-0001", penerima_pkh=True, no_kks="KKS-1")))
    r = api.get(f"/api/v1/madrasah/{NSM_A}/siswa/export", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="siswa_111232010001.csv"' in r.headers["content-disposition"]
    rows = from_csv(r.content)
    assert rows[0] == HEADER + list(PKH_COLUMNS) and len(rows) == 4
    one = dict(zip(rows[0], rows[2], strict=True))
    assert one["ID Siswa"] == "siswa-0001" and one["Status Siswa"] == "Aktif" and one["Tanggal Lahir"] == "2014-01-02"
    assert (one["Status PKH"], one["Penerima PKH"], one["No KKS"], one["Sumber Data PKH"]) == (
        "PKH_RECIPIENT", "Ya", "KKS-1", "SERVER_KEMENSOS")
    x = api.get(f"/api/v1/madrasah/{NSM_A}/siswa/export")  # XLSX by default
    sheet = load_workbook(io.BytesIO(x.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == HEADER + list(PKH_COLUMNS) and len(values) == 4
    assert isinstance(values[1][HEADER.index("NIK")], str)  # a NIK stays text: Excel must not round it


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_exported_file_imports_back_unchanged(api: TestClient, fmt: str) -> None:
    exported = api.get(f"/api/v1/madrasah/{NSM_A}/siswa/export", params={"format": fmt}).content
    before = students(api)
    r = api.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": fmt}, content=exported)
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3, "dry_run": False}
    assert students(api) == before


def test_new_students_from_an_indonesian_excel_csv(api: TestClient) -> None:
    body = to_csv(table([new_row(1), new_row(2, **{"Jenis Kelamin": "L", "Status Siswa": "Tidak Aktif"})]), ";")
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=body, headers=CSV_TYPE)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    made = {s["nama"]: s for s in students(api, NSM_B).values()}
    assert made["Baru 1"]["tanggal_lahir"] == "2015-03-04" and made["Baru 1"]["jenis_kelamin"] == "P"
    assert made["Baru 2"]["status_aktif"] is False and made["Baru 1"]["nsm"] == NSM_B
    # importing the same file again finds them by NISN: nothing new
    again = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=body, headers=CSV_TYPE).json()
    assert (again["created"], again["unchanged"]) == (0, 2)


def test_an_update_moves_the_change_feed_and_leaves_server_data(api: TestClient) -> None:
    api.post("/api/v1/hub/results", json=batch(item("siswa-0002", penerima_pkh=True)))
    before = students(api)["siswa-0002"]
    rows = from_csv(api.get(f"/api/v1/madrasah/{NSM_A}/siswa/export", params={"format": "csv"}).content)
    header = rows[0]
    target = rows[3]
    target[header.index("Rombel")] = "5C"
    target[header.index("Status PKH")] = "NOT_PKH_RECIPIENT"  # read-only columns are ignored
    target[header.index("Penerima PKH")] = "Tidak"
    r = api.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": "csv"}, content=to_csv(rows))
    assert r.json()["updated"] == 1 and r.json()["unchanged"] == 2
    after = students(api)["siswa-0002"]
    assert after["rombel"] == "5C" and after["updated_at"] > before["updated_at"]
    assert after["pkh"] == before["pkh"] and after["provenance"] == before["provenance"]


def test_bad_rows_are_reported_each_and_nothing_is_imported(api: TestClient) -> None:
    rows = [new_row(1),  # a good row: still not imported, because others are bad
            new_row(2, **{"NIK Ibu": "3.20101E+15"}),
            new_row(3, **{"Tanggal Lahir": "31/02/2015"}),
            new_row(4, **{"Jenis Kelamin": "X"}),
            new_row(5, **{"Tingkat": "tiga", "Status Siswa": "pindah"}),
            new_row(6, NSM="121232010002"),
            new_row(7, **{"Nama Lengkap": None})]
    r = api.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", content=to_csv(table(rows, [*new_row(0), "NSM"])),
                 headers=CSV_TYPE)
    assert r.status_code == 422, r.text
    found = {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert found == {("rows[3].NIK Ibu", "excel_scientific"), ("rows[4].Tanggal Lahir", "date_format"),
                     ("rows[5].Jenis Kelamin", "enum"), ("rows[6].Tingkat", "int_parsing"),
                     ("rows[6].Status Siswa", "status_siswa"), ("rows[7].NSM", "other_madrasah"),
                     ("rows[8].Nama Lengkap", "missing")}
    assert "nothing was imported" in r.json()["detail"]
    assert len(students(api)) == 3


def test_a_student_of_another_madrasah_cannot_be_written_through_an_import(api: TestClient) -> None:
    rows = from_csv(api.get(f"/api/v1/madrasah/{NSM_A}/siswa/export", params={"format": "csv"}).content)
    header = rows[0]
    for row in rows[1:]:
        row[header.index("NSM")] = ""  # the rows keep their ID Siswa
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", params={"format": "csv"}, content=to_csv(rows))
    assert r.status_code == 422
    assert {(e["field"], e["rule"]) for e in r.json()["errors"]} == {
        (f"rows[{n}].ID Siswa", "other_madrasah") for n in (2, 3, 4)}
    assert students(api, NSM_B) == {}


def test_xlsx_with_dates_and_numbers_as_excel_types_and_identifiers_as_text(api: TestClient) -> None:
    row = new_row(1, NIK=nik(8001, Sex.P, date(2015, 3, 4)), **{"Tanggal Lahir": date(2015, 3, 4), "Tingkat": 3,
                                                                  "NISN": "0990000001"})
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=to_xlsx(table([row])), headers=XLSX_TYPE)
    assert r.status_code == 200, r.text
    [made] = students(api, NSM_B).values()
    assert made["nik"] == nik(8001, Sex.P, date(2015, 3, 4)) and made["nisn"] == "0990000001"
    assert made["tanggal_lahir"] == "2015-03-04" and made["tingkat"] == 3


# What Excel keeps of the NIK 3172065511870016 typed into a Number cell: 15 significant digits.
DAMAGED = 3172065511870020.0


@pytest.mark.parametrize(("column", "cell"), [
    ("NIK Ibu", DAMAGED), ("NIK", DAMAGED), ("No KK", DAMAGED), ("NIK Ayah", 3172065511870016),
    ("NISN", 990000001), ("NSM", 121232010002)])
def test_a_numeric_identifier_cell_is_refused_and_nothing_changes(api: TestClient, column: str, cell: Any) -> None:
    rows = [new_row(1), new_row(2, **{column: cell})]
    header = [*new_row(0), *([column] if column not in new_row(0) else [])]
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=to_xlsx(table(rows, header)), headers=XLSX_TYPE)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(f"rows[3].{column}", "numeric_cell")]
    assert students(api, NSM_B) == {}
    # the same row with the identifier typed as text is imported
    rows[1][column] = NSM_B if column == "NSM" else (f"{cell:.0f}" if isinstance(cell, float) else str(cell))
    ok = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=to_xlsx(table(rows, header)), headers=XLSX_TYPE)
    assert ok.status_code == 200, ok.text
    assert ok.json()["created"] == 2


def test_the_damaged_nik_of_the_review_is_never_stored(api: TestClient) -> None:
    """The review's case: nik_ibu 3172065511870016 typed as a number reaches the file as 3172065511870020.0."""
    body = to_xlsx(table([new_row(1, **{"NIK Ibu": DAMAGED})]))
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=body, headers=XLSX_TYPE)
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("rows[2].NIK Ibu", "numeric_cell")]
    assert "317206551187" not in r.text  # the message does not repeat the value
    assert students(api, NSM_B) == {}


def test_dry_run_reports_and_writes_nothing(api: TestClient) -> None:
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", params={"dry_run": "true"},
                 content=to_csv(table([new_row(1)])), headers=CSV_TYPE)
    assert r.json() == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "dry_run": True}
    assert students(api, NSM_B) == {}


@pytest.mark.parametrize(("body", "params", "headers", "field", "rule"), [
    (b"PK\x03\x04 not really", {"format": "xlsx"}, {}, "file", "xlsx_invalid"),
    ("Nama Lengkap\nSiti\xe9".encode("latin-1"), {"format": "csv"}, {}, "file", "not_utf8"),
    (b"", {"format": "csv"}, {}, "file", "empty"),
    (b"Nama Lengkap\nSiti", {}, {"content-type": "application/json"}, "format", "required"),
    (b"Nama Lengkap\nSiti", {"format": "ods"}, {}, "format", "enum"),
    (b"Nama Lengkap\nSiti", {"format": "csv", "ulang": "1"}, {}, "ulang", "extra_forbidden"),
    (to_csv(table([new_row(1, Hobi="bola")])), {"format": "csv"}, {}, "rows[1].Hobi", "unknown_column"),
    (to_csv([["Nama Lengkap"], ["Siti"]]), {"format": "csv"}, {}, "rows[1].Tanggal Lahir", "missing_column"),
    (to_csv(table([new_row(1, Rombel="3\x00B")])), {"format": "csv"}, {}, "file", "nul_character"),
])
def test_malformed_files_are_a_422_naming_the_field_and_rule(api: TestClient, body: bytes, params: dict[str, Any],
                                                              headers: dict[str, str], field: str, rule: str) -> None:
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", params=params, content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert students(api, NSM_B) == {}


def test_unknown_madrasah_is_404(api: TestClient) -> None:
    assert api.get("/api/v1/madrasah/999999999999/siswa/export").status_code == 404
    r = api.post("/api/v1/madrasah/999999999999/siswa/import", params={"format": "csv"},
                 content=to_csv(table([new_row(1)])))
    assert r.status_code == 404


def test_the_same_student_twice_in_a_file_is_reported(api: TestClient) -> None:
    body = to_csv(table([new_row(1), new_row(2), new_row(1, Rombel="3C")]))
    api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=to_csv(table([new_row(1)])), headers=CSV_TYPE)
    r = api.post(f"/api/v1/madrasah/{NSM_B}/siswa/import", content=body, headers=CSV_TYPE)
    assert r.status_code == 422
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("rows[4].ID Siswa", "duplicate_row")]
    assert len(students(api, NSM_B)) == 1
