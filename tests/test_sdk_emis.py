"""The SDK's EmisClient against the real EMIS gateway app (in process), one call or more per route family:
institutions, students and their hand-entered PKH data (ETag / If-Match), Request Data PKH (a stand-in hub
answers), data ganda, the sync screen, spreadsheets, attendance files, the hub's feed and result batch. Answers
parse into the SDK's models, refusals into its exceptions. (Apart from tests/test_sdk.py: the EMIS and Dapodik
test fixtures share names.)"""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from jembatan_client import EmisClient, Forbidden, InvalidInput, NotFound, PreconditionFailed
from jembatan_client.models import (
    DataGanda,
    HubResultBatch,
    ImportReport,
    KehadiranImportReport,
    MadrasahSinkron,
    PkhAnswer,
    PkhManualInput,
    PkhRequest,
    SiswaFeed,
)

from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests import test_kehadiran_files as kehadiran
from services.emis_gateway.tests.conftest import (  # noqa: F401  (fixtures)
    NSM_A,
    NSM_B,
    OPERATOR_TOKEN,
    AppFactory,
    app_client,
    item,
    madrasah,
    siswa,
    token,
    write_world,
)
from services.emis_gateway.tests.test_pkh_request import FAST, StandInHub, hub_factory
from shared.db import make_engine, migrate


@pytest.fixture
def emis(app_client: AppFactory, sqlite_url: str, tmp_path: Path, token: str) -> TestClient:  # noqa: F811
    """Students 0-2 in NSM_A; student 3 in NSM_B has student 0's NIK (a "data ganda"); a stand-in hub."""
    write_world(tmp_path / "world", [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs")],
                [siswa(i) for i in range(3)] + [siswa(3, NSM_B, nik=siswa(0)["nik"])])
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        assert load_world(engine, tmp_path / "world").ok
    finally:
        engine.dispose()
    return app_client(sqlite_url, hub=hub_factory(StandInHub()), **FAST,
                      api_tokens={"sync_hub": token, "operator": OPERATOR_TOKEN})


def _client(http: TestClient, bearer: str) -> EmisClient:
    transport: httpx.BaseTransport = http._transport  # type: ignore[attr-defined]
    return EmisClient("http://testserver", bearer, transport=transport, backoff=0.01)


def test_emis_contract_every_route_family(emis: TestClient, token: str) -> None:  # noqa: F811
    with _client(emis, OPERATOR_TOKEN) as op:
        assert sorted(m.nsm for m in op.iter_madrasah(limit=1)) == sorted([NSM_A, NSM_B])  # pages of one
        assert op.get_madrasah(NSM_A).jumlah_siswa == 3
        with pytest.raises(NotFound):
            op.get_madrasah("999999999999")
        with pytest.raises(InvalidInput) as bad:
            op.get_madrasah("12")
        assert bad.value.problem.errors[0].field.endswith("nsm")  # type: ignore[union-attr]
        assert list(op.iter_pesantren()) == []
        with pytest.raises(NotFound):
            op.get_pesantren("510032010001")

        # students and the PKH data an operator enters by hand, guarded by the ETag
        assert sorted(s.siswa_id for s in op.iter_siswa(nsm=NSM_A, limit=2)) == [f"siswa-000{i}" for i in range(3)]
        read = op.get_siswa("siswa-0001")
        assert read.etag
        entered = op.set_manual_pkh("siswa-0001", PkhManualInput(penerima_pkh=True, keterangan="kartu KKS"),
                                    if_match=read.etag)
        assert entered.etag != read.etag
        with pytest.raises(PreconditionFailed):
            op.clear_manual_pkh("siswa-0001", if_match=read.etag)  # stale: someone changed it since
        cleared = op.clear_manual_pkh("siswa-0001", if_match=entered.etag)
        assert cleared.record.siswa_id == "siswa-0001" and cleared.etag == read.etag  # as it was before

        # Request Data PKH: one student (answered at once), a madrasah (queued, answered in the background)
        one = op.request_pkh("siswa-0000", idempotency_key="pkh-1")
        assert isinstance(one, PkhRequest) and one.status == "DONE"
        assert op.request_pkh("siswa-0000", idempotency_key="pkh-1").id == one.id  # a retry answers the same
        [answer] = op.iter_pkh_results(one.id)
        assert isinstance(answer, PkhAnswer) and answer.status_pkh == "PKH_RECIPIENT"
        queued = op.request_pkh_madrasah(NSM_A)
        deadline = time.monotonic() + 30
        while op.get_pkh_request(queued.id).status == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert op.get_pkh_request(queued.id).status == "DONE"
        assert sorted(a.siswa_id for a in op.iter_pkh_results(queued.id, limit=1)) == [
            f"siswa-000{i}" for i in range(3)]

        # data ganda: one person active in two madrasah
        [group] = op.iter_data_ganda()
        assert isinstance(group, DataGanda) and sorted(s.nsm for s in group.siswa) == sorted([NSM_A, NSM_B])
        assert list(op.iter_data_ganda_madrasah(NSM_B)) == [group]

        # the sync screen shows what the checks wrote
        screen = op.get_sinkron(NSM_A)
        assert isinstance(screen, MadrasahSinkron) and screen.terakhir is not None
        assert {c.field for c in op.iter_perubahan(NSM_A, limit=1)} >= {"status_pkh"}  # the last check's
        first_check = {(c.siswa_id, c.field) for c in op.iter_perubahan(NSM_A, sync_run_id=answer.sync_run_id)}
        assert ("siswa-0000", "penerima_pkh") in first_check

        # spreadsheets: export, import back (nothing changes), streamed XLSX, a bad file named row by row
        exported = op.export_siswa(NSM_A)
        assert exported is not None
        report = op.import_siswa(NSM_A, exported, dry_run=True)
        assert isinstance(report, ImportReport) and (report.rows, report.unchanged, report.dry_run) == (3, 3, True)
        xlsx = io.BytesIO()
        assert op.export_siswa(NSM_A, "xlsx", into=xlsx) is None
        xlsx.seek(0)
        assert op.import_siswa(NSM_A, xlsx, "xlsx").unchanged == 3
        with pytest.raises(InvalidInput) as bad:
            op.import_siswa(NSM_A, b"not,a,siswa,file\n1,2,3,4\n")
        assert bad.value.problem.errors  # type: ignore[union-attr]

        # attendance: a VERKOM file in, out and in again (nothing changes), the madrasah's own table
        first = op.import_kehadiran_verkom(NSM_A, kehadiran.verkom_file(kehadiran.good_rows()), 2026, 3)
        assert isinstance(first, KehadiranImportReport) and (first.rows, first.inserted) == (3, 9)
        verkom = op.export_kehadiran_verkom(NSM_A, 2026, 3)
        assert verkom is not None and op.import_kehadiran_verkom(NSM_A, verkom, 2026, 3, dry_run=True).inserted == 0
        table = op.export_kehadiran(NSM_A, 2026, 3)
        assert table is not None and op.import_kehadiran(NSM_A, table, 2026, 3).updated == 0
        with pytest.raises(InvalidInput) as bad:
            op.export_kehadiran(NSM_A, 2026, 5)
        assert bad.value.problem.errors[0].field.endswith("tahap")  # type: ignore[union-attr]
        with pytest.raises(Forbidden):
            op.post_results(HubResultBatch(sync_run_id="run-9", items=[item("siswa-0002", seq=50)]))

    with _client(emis, token) as hub:
        page = hub.hub_feed(limit=3)
        assert isinstance(page, SiswaFeed) and len(page.items) == 3 and page.next_cursor
        rest = hub.hub_feed(cursor=page.next_cursor)
        assert len(rest.items) == 1 and rest.next_cursor is None
        assert hub.hub_feed(since=rest.resume_cursor).items == []
        batch = HubResultBatch(sync_run_id="run-9", items=[item("siswa-0002", seq=500, penerima_pkh=True)])
        [result] = hub.post_results(batch).results
        assert result.student_id == "siswa-0002" and result.status
        [again] = hub.post_results(batch).results
        assert again.fields_written == []  # the same batch again changes nothing: why it is retried
