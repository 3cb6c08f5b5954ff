"""Manual PKH data (operator input) is kept apart from the server data: both visible, the server decides."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from services.emis_gateway.access import Principal
from services.emis_gateway.siswa import service
from services.emis_gateway.tests.conftest import batch, item, seed
from shared.contracts.emis import PkhManualInput
from shared.db import make_engine, session_scope
from shared.errors import ApiError
from shared.etag import etag_of

MANUAL = {"penerima_pkh": True, "periode_pkh": "2026 tahap I", "no_kks": "KKS-3201-0007", "keterangan": "kartu KKS"}


def put(op: TestClient, sid: str, body: dict[str, Any]) -> dict[str, Any]:
    r = op.put(f"/api/v1/siswa/{sid}/pkh-manual", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_manual_data_is_shown_apart_and_does_not_pass_for_server_data(api: TestClient, op: TestClient) -> None:
    before = api.get("/api/v1/siswa/siswa-0000").json()
    student = put(op, "siswa-0000", MANUAL)
    manual = student["pkh_manual"]
    assert {k: manual[k] for k in MANUAL} == MANUAL
    assert manual["diisi_oleh"] == "operator" and manual["diisi_pada"]
    # the server panel is untouched: no status, no source, no sync date, no provenance
    assert student["pkh"] == before["pkh"] and student["pkh"]["sumber"] is None
    assert student["provenance"] == [] and student["pkh_manual_berbeda"] is False
    assert student["updated_at"] == before["updated_at"]  # the hub's change feed does not see it
    listed = {s["siswa_id"]: s for s in api.get("/api/v1/siswa").json()["items"]}
    assert listed["siswa-0000"]["pkh_manual"] == manual and listed["siswa-0001"]["pkh_manual"] is None


def test_server_value_decides_and_neither_overwrites_the_other(api: TestClient, op: TestClient) -> None:
    put(op, "siswa-0001", MANUAL)
    r = api.post("/api/v1/hub/results", json=batch(item("siswa-0001", 10, "NOT_PKH_RECIPIENT", "bukan KPM",
                                                         penerima_pkh=False, no_kks=None)))
    assert r.json()["results"][0]["status"] == "APPLIED"
    student = api.get("/api/v1/siswa/siswa-0001").json()
    assert student["pkh"]["penerima_pkh"] is False and student["pkh"]["status_pkh"] == "NOT_PKH_RECIPIENT"
    assert student["pkh"]["sumber"] == "SERVER_KEMENSOS"
    assert {k: student["pkh_manual"][k] for k in MANUAL} == MANUAL  # the hub's write left the manual data
    assert student["pkh_manual_berbeda"] is True
    # a later manual entry does not overwrite the server value either
    again = put(op, "siswa-0001", {**MANUAL, "no_kks": "KKS-9"})
    assert again["pkh"] == student["pkh"] and again["pkh_manual"]["no_kks"] == "KKS-9"
    # and the hub, reading the student, sees only server data: a repeated result is UNCHANGED
    r = api.post("/api/v1/hub/results", json=batch(item("siswa-0001", 10, "NOT_PKH_RECIPIENT", "bukan KPM",
                                                         penerima_pkh=False, no_kks=None)))
    assert r.json()["results"][0]["status"] == "UNCHANGED"


def test_manual_data_can_be_removed(op: TestClient) -> None:
    put(op, "siswa-0002", MANUAL)
    r = op.delete("/api/v1/siswa/siswa-0002/pkh-manual")
    assert r.status_code == 200 and r.json()["pkh_manual"] is None


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"no_kks": "KKS;DROP"}, "no_kks", "string_pattern_mismatch"),
    ({"periode_pkh": "x" * 41}, "periode_pkh", "string_too_long"),
    ({"keterangan": "a\x00b"}, "keterangan", "nul_character"),
    ({"penerima_pkh": "mungkin"}, "penerima_pkh", "bool_parsing"),
    ({"status_pkh": "PKH_RECIPIENT"}, "status_pkh", "extra_forbidden"),  # the server's field is not writable
])
def test_bad_manual_input_is_a_422_naming_field_and_rule(op: TestClient, body: dict[str, Any], field: str,
                                                         rule: str) -> None:
    r = op.put("/api/v1/siswa/siswa-0000/pkh-manual", json=body)
    assert r.status_code == 422, r.text
    assert (field, rule) in {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert op.get("/api/v1/siswa/siswa-0000").json()["pkh_manual"] is None


def test_manual_data_of_an_unknown_student_is_404(op: TestClient) -> None:
    r = op.put("/api/v1/siswa/no-such/pkh-manual", json=MANUAL)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "siswa_id"
    assert op.delete("/api/v1/siswa/no-such/pkh-manual").status_code == 404


def test_the_hub_cannot_enter_manual_data(api: TestClient) -> None:
    r = api.put("/api/v1/siswa/siswa-0000/pkh-manual", json=MANUAL)
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "operator_only"
    assert api.get("/api/v1/siswa/siswa-0000").json()["pkh_manual"] is None


def test_a_stale_manual_entry_is_412_and_changes_nothing(op: TestClient) -> None:
    """ETag / If-Match (issue 13 point 7): two operators editing the same student cannot overwrite each other."""
    etag = op.get("/api/v1/siswa/siswa-0002").headers["etag"]
    first = op.put("/api/v1/siswa/siswa-0002/pkh-manual", json=MANUAL, headers={"If-Match": etag})
    assert first.status_code == 200 and first.headers["etag"] == op.get("/api/v1/siswa/siswa-0002").headers["etag"]
    stale = op.put("/api/v1/siswa/siswa-0002/pkh-manual", json={**MANUAL, "keterangan": "lain"},
                   headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["errors"][0]["rule"] == "stale"
    assert op.get("/api/v1/siswa/siswa-0002").json()["pkh_manual"]["keterangan"] == MANUAL["keterangan"]
    assert op.delete("/api/v1/siswa/siswa-0002/pkh-manual", headers={"If-Match": etag}).status_code == 412
    cleared = op.delete("/api/v1/siswa/siswa-0002/pkh-manual", headers={"If-Match": first.headers["etag"]})
    assert cleared.status_code == 200 and cleared.json()["pkh_manual"] is None


def test_two_operators_sending_one_etag_at_once_one_wins_the_other_gets_412(postgres_url: str, tmp_path: Path
                                                                               ) -> None:
    """PostgreSQL, two transactions: the first has checked its ETag and written, not yet committed; the second
    sends the same ETag. The row is locked before the ETag is compared, so the second waits, then sees the first's
    write and is refused (without the lock it read the old version, passed, and overwrote the first)."""
    seed(postgres_url, tmp_path / "world", 1)
    engine = make_engine(postgres_url)
    operator = Principal(name="operator")
    try:
        with session_scope(engine) as session:
            tag = etag_of(service.get_siswa(session, "siswa-0000"))
        first = Session(engine)
        service.set_manual(first, "siswa-0000", PkhManualInput(**MANUAL), operator, tag)  # locked, uncommitted
        outcome: list[object] = []

        def second() -> None:
            try:
                with session_scope(engine) as session:
                    service.set_manual(session, "siswa-0000", PkhManualInput(**{**MANUAL, "no_kks": "KKS-OTHER"}),
                                       operator, tag)
                outcome.append("applied")
            except ApiError as exc:
                outcome.append(exc.status_code)

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(1.0)
        assert racer.is_alive(), "the second edit did not wait for the first's row lock"
        first.commit()
        first.close()
        racer.join(30)
        assert outcome == [412]
        with session_scope(engine) as session:
            assert service.get_siswa(session, "siswa-0000").pkh_manual.no_kks == MANUAL["no_kks"]  # type: ignore[union-attr]
    finally:
        engine.dispose()
