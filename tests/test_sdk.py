"""The client SDK (clients/python, issue 13 point 6): installable on its own (httpx and pydantic only), the
project's version, models that match the services' OpenAPI, and contract tests calling the real apps through it
(in process), so SDK and services cannot drift apart."""

from __future__ import annotations

import ast
import io
import json
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import jembatan_client
from jembatan_client import (
    ApiError,
    Conflict,
    DapodikClient,
    Forbidden,
    HubClient,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Unavailable,
    UnexpectedAnswer,
)
from jembatan_client.models import (
    MIRRORS,
    AccessEntry,
    ChainReport,
    CheckRequest,
    CheckResponse,
    ChildAtRisk,
    HubResultBatch,
    HubResultItem,
    KehadiranImportReport,
    KesejahteraanPd,
    KipTidakCocok,
    LedgerPublicKey,
    LedgerReport,
    PermintaanPkh,
    PerubahanKeluar,
    PerubahanMasuk,
    PesertaDidikFeed,
    RiskSummary,
    RiwayatNilai,
    Sinkronisasi,
    Siswa,
    SkKip,
    SkKipBatch,
    SkKipItem,
    SpreadsheetImportReport,
)

from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as create_dapodik
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests import test_kehadiran_files as kehadiran
from services.dapodik_gateway.tests.conftest import OPERATOR, load, make_client, token  # noqa: F401  (fixtures)
from services.sync_hub.tests.test_risk_api import seed as seed_risk_report
from services.sync_hub.tests.test_roles import EMIS_TOKEN, MOTHER_NIK, Hub, StubRuns, hub  # noqa: F401  (fixture)
from shared.app import VERSION
from shared.clients import HubClient as ServiceHubClient
from shared.http import RetryPolicy

ROOT = Path(__file__).resolve().parents[1]
SDK = ROOT / "clients" / "python"


def test_the_sdk_depends_on_httpx_and_pydantic_only_and_imports_nothing_else() -> None:
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0] for d in project["dependencies"]) == ["httpx", "pydantic"]
    allowed = {"httpx", "pydantic", "jembatan_client", "__future__"} | set(sys.stdlib_module_names)
    for module in (SDK / "jembatan_client").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"


def test_the_sdk_has_the_projects_version_and_a_changelog_entry() -> None:
    version = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]["version"]
    assert version == jembatan_client.__version__ == VERSION == tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"## {version}" in (SDK / "CHANGELOG.md").read_text()


@pytest.mark.parametrize("model", list(MIRRORS), ids=lambda m: m.__name__)
def test_sdk_models_match_the_published_openapi(model: type) -> None:
    service, name = MIRRORS[model]
    schema = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text())["components"]["schemas"][name]
    props, required = set(schema["properties"]), set(schema.get("required", []))
    fields = model.model_fields  # type: ignore[attr-defined]
    assert set(fields) <= props, f"{model.__name__} has fields the service does not: {set(fields) - props}"
    sdk_required = {n for n, fi in fields.items() if fi.is_required()}
    assert sdk_required <= required, f"{model.__name__} requires what the service may leave out"
    assert required - {n for n in required if n not in fields} <= set(fields)


SDK_CLIENTS = {"sync_hub": jembatan_client.HubClient, "emis_gateway": jembatan_client.EmisClient,
               "dapodik_gateway": DapodikClient}


def _api_operations(service: str) -> dict[str, str]:
    spec = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text())
    return {op["operationId"]: f"{method.upper()} {path}" for path, ops in spec["paths"].items()
            for method, op in ops.items() if path.startswith("/api/")}


def _sdk_operations(cls: type) -> dict[str, str]:
    marked = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            if getattr(member, "operation_id", None):
                marked[member.operation_id] = name
    return marked


@pytest.mark.parametrize("service", list(SDK_CLIENTS))
def test_every_api_route_of_the_hub_and_the_gateways_has_an_sdk_method(service: str) -> None:
    """The SDK cannot fall behind: a new route (in the published spec, which test_openapi keeps equal to the
    app) without a method marked with its operationId fails here, and so does a method naming a gone route."""
    routes, methods = _api_operations(service), _sdk_operations(SDK_CLIENTS[service])
    assert len(routes) >= 20
    missing = {op: where for op, where in routes.items() if op not in methods}
    assert missing == {}, f"{service}: routes with no SDK method"
    assert set(methods) - set(routes) == set(), f"{service}: SDK methods for routes the service does not have"
    assert len(set(methods.values())) == len(methods), "one method per route"


def _client(cls: Callable[..., jembatan_client.HubClient], http: TestClient, bearer: str):  # type: ignore[no-untyped-def]
    return cls("http://testserver", bearer, transport=http._transport, backoff=0.01)


def test_hub_contract_runs_review_and_typed_errors(hub: Hub) -> None:  # noqa: F811
    class Counting(StubRuns):
        submitted = 0

        def submit(self, body: object, trigger: str):  # type: ignore[no-untyped-def]
            Counting.submitted += 1
            return super().submit(body, trigger)

    hub.http.app.state.runs = Counting()  # type: ignore[attr-defined]
    admin = hub.person("ops", "admin")["Authorization"].split()[1]
    with _client(HubClient, hub.http, admin) as client:
        run = client.start_run(["emis"], idempotency_key="contract-1")
        again = client.start_run(["emis"], idempotency_key="contract-1")
        assert again.id == run.id and Counting.submitted == 1
        with pytest.raises(InvalidInput) as bad:
            client.start_run(["dapodik"], idempotency_key="contract-1")
        assert bad.value.problem.errors[0].field == "Idempotency-Key"  # type: ignore[union-attr]
        with pytest.raises(NotFound) as missing:
            client.get_run("no-such-run")
        assert missing.value.status == 404 and missing.value.problem.type == "urn:jembatan:problem:not-found"  # type: ignore[union-attr]
        seeded = client.get_run(hub.run_id)
        assert seeded.status == "SUCCEEDED" and [r.id for r in client.iter_runs(limit=1)] == [hub.run_id]
        assert list(client.iter_outcomes(hub.run_id, limit=1)) == []
        assert client.list_units(hub.run_id) == []
    reviewer = hub.person("rev", "reviewer")["Authorization"].split()[1]
    with _client(HubClient, hub.http, reviewer) as client:
        case = next(c for c in client.iter_cases() if c.id == hub.case_id)
        assert client.get_case(case.id).student["nama"] == "Siti Aminah"
        decision = client.decide(case.id, "no_link", "not them")
        assert decision.reviewer == "rev"
        with pytest.raises(Conflict):
            client.decide(case.id, "no_link", "not them")  # a fresh key: a real second decision, refused
        with pytest.raises(ApiError) as forbidden:
            client.start_run(["emis"])
        assert forbidden.value.status == 403


def test_dapodik_contract_etag_edit_and_stale_edit(make_client: Callable[..., TestClient]) -> None:  # noqa: F811
    http = make_client([f.sekolah(1)], [f.peserta_didik(1, 1), f.peserta_didik(2, 1)])
    with _client(DapodikClient, http, OPERATOR) as client:
        ids = [p.peserta_didik_id for p in client.iter_peserta_didik(limit=1)]
        assert sorted(ids) == sorted([f.uid(1), f.uid(2)])  # two pages of one, followed for the caller
        read = client.get_peserta_didik(f.uid(1))
        edited = client.edit_peserta_didik(f.uid(1), {"nama": "Nama Baru"}, if_match=read.etag)
        assert edited.record.nama == "Nama Baru" and edited.etag != read.etag
        with pytest.raises(PreconditionFailed):
            client.edit_peserta_didik(f.uid(1), {"nama": "Nama Lain"}, if_match=read.etag)
        assert client.get_peserta_didik(f.uid(1)).record.nama == "Nama Baru"
        with pytest.raises(Unavailable) as down:  # no hub configured: retried (it has a key), then raised
            client.request_pkh(f.uid(1))
        assert down.value.status in (502, 503) and "hub" in down.value.problem.detail  # type: ignore[union-attr]


def test_hub_contract_checks_provenance_risk_ledger_and_audit(hub: Hub) -> None:  # noqa: F811
    """A call through the SDK for each of the hub's other route families: answers parse into the SDK's models,
    refusals into its exceptions."""
    engine = hub.http.app.state.engine  # type: ignore[attr-defined]
    seed_risk_report(engine)
    with _client(HubClient, hub.http, EMIS_TOKEN) as gateway:
        record = Siswa(siswa_id="siswa-0001", nsm="111232010001", nama="Anak 1", jenis_kelamin="L",
                       tanggal_lahir="2014-01-02", tingkat=4, updated_at="2026-03-01T00:00:00Z", pkh={})
        answer = gateway.check(CheckRequest(system="emis", siswa=[record]))  # the stub decides nothing
        assert isinstance(answer, CheckResponse) and answer.check_id == "emis_gateway" and answer.results == []
        with pytest.raises(InvalidInput) as bad:
            gateway.check({"system": "emis"})  # no records to check
        assert bad.value.problem.errors  # type: ignore[union-attr]
    admin = hub.person("ops", "admin")["Authorization"].split()[1]
    with _client(HubClient, hub.http, admin) as client:
        assert client.cancel_run(hub.run_id).status == "QUEUED"  # the stub's answer, typed
        assert client.provenance("emis", "siswa-0001") == []
        assert list(client.iter_verifications("2026-T3", limit=5)) == []
        families = list(client.iter_families_at_risk("2026-T3", limit=1))  # one per page, followed
        assert len(families) == 3 and len({f.no_kk for f in families}) == 3
        assert all(isinstance(c, ChildAtRisk) for f in families for c in f.children)
        summary = client.families_at_risk_summary("2026-T3")
        assert isinstance(summary, RiskSummary) and summary.periode == "2026-T3" and summary.families >= 1
        csv_file = client.export_families_at_risk("2026-T3")
        assert csv_file is not None and csv_file.count(b"\n") > 1
        streamed = io.BytesIO()
        assert client.export_families_at_risk("2026-T3", format="xlsx", into=streamed) is None
        assert streamed.getvalue().startswith(b"PK")  # an XLSX is a zip
        with pytest.raises(NotFound):
            client.families_at_risk_summary("2025-T1")
        with pytest.raises(InvalidInput) as bad:
            client.export_families_at_risk("2026-T9", into=io.BytesIO())  # the streamed path raises typed too
        assert bad.value.problem.errors[0].field == "periode"  # type: ignore[union-attr]
        key = client.ledger_public_key()
        assert isinstance(key, LedgerPublicKey) and key.algorithm == "Ed25519"
        report = client.ledger_verify()
        assert isinstance(report, LedgerReport) and report.ok and report.entries == 0
        with pytest.raises(Conflict):
            client.ledger_checkpoint()  # nothing to sign in an empty ledger
        with pytest.raises(NotFound):
            client.ledger_proof("no-such-provenance", "penerima_pkh")
        assert client.ledger_lookup(["0" * 64]).found == {}
        chain = client.audit_verify()
        assert isinstance(chain, ChainReport) and chain.ok
    reviewer = hub.person("rev", "reviewer")["Authorization"].split()[1]
    with _client(HubClient, hub.http, reviewer) as client:
        client.get_case(hub.case_id)  # a read of the mother's data, logged
        [earlier] = client.decisions("dapodik", "pd-1")
        reversed_ = client.reverse(earlier.id, "wrong scan")
        assert reversed_.id == earlier.id and reversed_.reversed_by == "rev"
        with pytest.raises(Forbidden):
            client.who_read(MOTHER_NIK)  # auditors only
    auditor = hub.person("aud", "auditor")["Authorization"].split()[1]
    with _client(HubClient, hub.http, auditor) as client:
        answer = client.who_read(MOTHER_NIK)
        assert MOTHER_NIK not in answer.nik and [r.actor for r in answer.reads] == ["rev"]
        assert isinstance(answer.reads[0], AccessEntry)


def _stand_in_hub(request: httpx.Request) -> httpx.Response:
    """``POST /api/v1/checks`` as the hub answers it for a student it finds in no family: an outcome, no values."""
    [record] = json.loads(request.content)["peserta_didik"]
    outcome = {"sync_run_id": "check-1", "system": "dapodik", "student_id": record["peserta_didik_id"],
               "outcome": "NOT_REGISTERED", "detail": "NIK valid, tidak terdaftar di DTSEN", "matched_by": "none"}
    return httpx.Response(200, json={"check_id": "check-1", "observed_seq": 7, "results": [outcome], "items": []})


@pytest.fixture
def dapodik(tmp_path: Path, token: str) -> Iterator[TestClient]:  # noqa: F811
    """School 1 with students 1-4, school 2 with student 5; a stand-in hub answers Request Data PKH."""
    url = f"sqlite:///{tmp_path / 'dapodik.db'}"
    load(url, tmp_path / "world", [f.sekolah(1), f.sekolah(2)],
         [f.peserta_didik(n, 1) for n in range(1, 5)] + [f.peserta_didik(5, 2)])
    stand_in = lambda _: ServiceHubClient(  # noqa: E731
        "http://hub.test", "hub-token-0123456789", transport=httpx.MockTransport(_stand_in_hub),
        retry=RetryPolicy(attempts=1))
    app = create_dapodik(DapodikSettings(database_url=url, auto_migrate=False,
                                         api_tokens={"sync_hub": token, "operator": OPERATOR}), hub=stand_in)
    with TestClient(app) as http:
        yield http


def test_dapodik_contract_schools_students_kip_spreadsheets_attendance_and_the_hub_routes(
        dapodik: TestClient, token: str) -> None:  # noqa: F811
    npsn = f.sekolah(1)["npsn"]
    with _client(DapodikClient, dapodik, OPERATOR) as op:
        schools = list(op.iter_sekolah(limit=1))
        assert sorted(s.npsn for s in schools) == sorted([npsn, f.sekolah(2)["npsn"]])
        assert op.get_sekolah(npsn).jumlah_peserta_didik == 4
        with pytest.raises(NotFound):
            op.get_sekolah("99999999")
        with pytest.raises(InvalidInput) as bad:
            op.get_sekolah("12")
        assert bad.value.problem.errors[0].field.endswith("npsn")  # type: ignore[union-attr]
        screen = op.get_sinkronisasi(npsn)
        assert isinstance(screen, Sinkronisasi) and screen.npsn == npsn
        assert all(isinstance(c, PerubahanKeluar) for c in op.iter_perubahan_keluar(npsn, limit=1))
        assert list(op.iter_perubahan_masuk(npsn)) == []
        assert list(op.iter_validasi(npsn, limit=1)) == []  # a clean world: no findings
        assert op.get_validasi(f.uid(1)).temuan == []
        assert all(isinstance(k, KesejahteraanPd) for k in op.kesejahteraan(f.uid(1)))

        # Request Data PKH (the stand-in hub answers), then the value history and the change log
        answer = op.request_pkh(f.uid(1))
        assert isinstance(answer, PermintaanPkh) and answer.status_padan == "NOT_REGISTERED"

        # KIP: an SK applied, an issuance that matched nobody listed until resolved
        sk = SkKipBatch(sk=SkKip(nomor_sk="SK-0001/PIP/2026", tanggal_sk="2026-03-01", sumber="puslapdik"),
                        items=[SkKipItem(peserta_didik_id=f.uid(1), no_kip="AB12CD", nm_kip=f"SISWA {f.word(1)}"),
                               SkKipItem(peserta_didik_id=f.uid(1, "zz"), no_kip="EF34GH", nm_kip="SISWA LAIN")])
        applied = op.apply_kip_sk(sk, idempotency_key="sk-1")
        assert (applied.n_applied, applied.n_unmatched) == (1, 1)
        assert op.apply_kip_sk(sk, idempotency_key="sk-1") == applied  # the retry answers the same
        [unmatched] = op.iter_kip_unmatched(nomor_sk="SK-0001/PIP/2026")
        assert isinstance(unmatched, KipTidakCocok) and unmatched.no_kip == "EF34GH"
        history = op.riwayat(f.uid(1))
        assert {h.field for h in history} >= {"no_kip"} and all(isinstance(h, RiwayatNilai) for h in history)

        # spreadsheets: export, import back (nothing changes), a bad file named cell by cell
        exported = op.export_peserta_didik(npsn)
        assert exported is not None
        report = op.import_peserta_didik(npsn, exported)
        assert isinstance(report, SpreadsheetImportReport) and (report.rows, report.unchanged) == (4, 4)
        xlsx = io.BytesIO()
        assert op.export_peserta_didik(npsn, "xlsx", into=xlsx) is None
        xlsx.seek(0)
        assert op.import_peserta_didik(npsn, xlsx, "xlsx").unchanged == 4  # uploaded from a file object
        with pytest.raises(InvalidInput) as bad:
            op.import_peserta_didik(npsn, b"bukan,file,peserta,didik\n1,2,3,4\n")
        assert bad.value.problem.errors  # type: ignore[union-attr]

        # attendance: a VERKOM file in, the same out and in again (nothing changes), the school's own table
        verkom = kehadiran.verkom_file(kehadiran.good_rows()[:3])
        first = op.import_kehadiran_verkom(npsn, verkom, 2026, 3)
        assert isinstance(first, KehadiranImportReport) and (first.rows, first.inserted) == (3, 9)
        again = op.export_kehadiran_verkom(npsn, 2026, 3)
        assert again is not None and op.import_kehadiran_verkom(npsn, again, 2026, 3).inserted == 0
        table = op.export_kehadiran(npsn, 2026, 3)
        assert table is not None and op.import_kehadiran(npsn, table, 2026, 3).updated == 0
        with pytest.raises(InvalidInput):
            op.import_kehadiran_verkom(npsn, verkom, 2026, 5)

    with _client(DapodikClient, dapodik, token) as as_hub:
        page = as_hub.hub_feed(limit=2)
        assert isinstance(page, PesertaDidikFeed) and len(page.items) == 2 and page.next_cursor
        rest = as_hub.hub_feed(cursor=page.next_cursor, limit=10)
        assert len(page.items) + len(rest.items) == 5 and rest.next_cursor is None
        assert as_hub.hub_feed(since=rest.resume_cursor).items == []
        assert as_hub.hub_one(f.uid(2)).peserta_didik_id == f.uid(2)
        item = HubResultItem(student_id=f.uid(2), outcome="PKH_RECIPIENT", outcome_detail="KPM PKH aktif",
                             values={"penerima_kps": True},
                             provenance={"provenance_id": "prov-9", "sync_run_id": "run-9",
                                         "source_system": "kemensos.dtsen", "source_record": "keluarga/x",
                                         "source_version": 1, "observed_seq": 9, "matched_by": "nik_ibu",
                                         "retrieved_at": datetime(2026, 3, 1, tzinfo=UTC).isoformat()})
        [result] = as_hub.post_results(HubResultBatch(sync_run_id="run-9", items=[item])).results
        assert result.student_id == f.uid(2) and "penerima_kps" in result.fields_written
        [result] = as_hub.post_results({"sync_run_id": "run-9", "items": [item.model_dump(mode="json")]}).results
        assert result.fields_written == []  # the same batch again changes nothing
    with _client(DapodikClient, dapodik, OPERATOR) as op:
        incoming = list(op.iter_perubahan_masuk(npsn, limit=1))  # what the KIP SK and the hub's batch wrote
        assert all(isinstance(c, PerubahanMasuk) for c in incoming)
        assert "penerima_kps" in {c.field for c in incoming if c.provenance_id == "prov-9"}
        with pytest.raises(Forbidden):
            op.post_results(HubResultBatch(sync_run_id="run-9", items=[item]))  # the hub's credential only


# one body that parses as every answer the scripted calls expect (the models keep unknown fields)
ANY_ANSWER = {"found": {}, "check_id": "c", "observed_seq": 1, "results": [], "key_id": "k", "public_key": "p",
              "ok": True, "entries": 0, "checkpoints": 0, "checkpointed_seq": 0, "unchecked_tail": 0, "id": "r",
              "status": "QUEUED", "trigger": "t", "systems": ["emis"], "created_at": "2026-03-01T00:00:00Z"}


class Scripted:
    """A transport answering from a script (status codes, or an exception to raise), recording each request."""

    def __init__(self, *script: int | Exception) -> None:
        self.script, self.seen = list(script), []  # type: ignore[var-annotated]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if step >= 400:
            return httpx.Response(step, headers={"Retry-After": "0"},
                                  json={"error": "UpstreamFailure", "detail": "later", "errors": []})
        return httpx.Response(step, json=ANY_ANSWER)


def _scripted(cls, *script: int | Exception, **kwargs: object):  # type: ignore[no-untyped-def]
    transport = Scripted(*script)
    return cls("http://hub.test", "t", transport=httpx.MockTransport(transport), backoff=0.001,
               **kwargs), transport


@pytest.mark.parametrize(("call", "retried"), [
    (lambda c: c.ledger_public_key(), True),                                 # GET
    (lambda c: c.ledger_lookup(["0" * 64]), True),                           # a read sent as a POST
    (lambda c: c.start_run(["emis"]), True),                                 # POST with an Idempotency-Key
    (lambda c: c.check({"system": "emis"}), False),                          # POST: each call a new check
    (lambda c: c.ledger_checkpoint(), False),                                # POST: a retry could sign twice
    (lambda c: c.cancel_run("r"), False),                                    # POST without a key
    (lambda c: c.start_run(["emis"], idempotency_key=False), False),         # the caller gave up the key
], ids=["get", "lookup", "keyed-post", "check", "checkpoint", "cancel", "unkeyed-post"])
def test_only_idempotent_calls_are_retried_and_a_retry_is_the_same_request(call, retried: bool) -> None:  # type: ignore[no-untyped-def]
    client, transport = _scripted(HubClient, 503, 503, 200)
    if retried:
        call(client)
        assert len(transport.seen) == 3
        first, *rest = transport.seen
        for again in rest:  # the same request id and Idempotency-Key on every attempt
            assert again.headers["x-request-id"] == first.headers["x-request-id"]
            assert again.headers.get("idempotency-key") == first.headers.get("idempotency-key")
    else:
        with pytest.raises(Unavailable) as down:
            call(client)
        assert len(transport.seen) == 1 and down.value.status == 503
        assert down.value.request_id == transport.seen[0].headers["x-request-id"]


def test_a_patch_and_a_connection_failure_on_it_are_not_retried_a_get_is() -> None:
    client, transport = _scripted(DapodikClient, httpx.ConnectError("refused"), 200)
    with pytest.raises(Unavailable) as down:
        client.edit_peserta_didik("pd-1", {"nama": "X"}, if_match='"e"')
    assert len(transport.seen) == 1 and down.value.status is None and down.value.problem is None
    assert transport.seen[0].headers["if-match"] == '"e"'
    client, transport = _scripted(HubClient, httpx.ReadTimeout("slow"), 429, 200)
    client.ledger_public_key()
    assert len(transport.seen) == 3


def test_rate_limited_carries_retry_after_and_the_callers_headers_join_its_trace() -> None:
    trace = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Request-ID": "caller-1"}
    client, transport = _scripted(HubClient, 429, attempts=1, headers=lambda: trace)
    with pytest.raises(RateLimited) as limited:
        client.ledger_verify()
    assert limited.value.retry_after == 0.0 and limited.value.request_id == "caller-1"
    assert transport.seen[0].headers["traceparent"] == trace["traceparent"]
    assert transport.seen[0].headers["x-request-id"] == "caller-1"


def test_a_streamed_download_is_retried_before_its_first_byte_and_raises_typed_errors() -> None:
    client, transport = _scripted(HubClient, 503, 200)
    into = io.BytesIO()
    assert client.export_families_at_risk("2026-T3", into=into) is None
    assert len(transport.seen) == 2 and into.getvalue().startswith(b'{"found"')
    client, transport = _scripted(HubClient, 503, 503, attempts=2)
    with pytest.raises(Unavailable):
        client.export_families_at_risk("2026-T3", into=io.BytesIO())
    assert len(transport.seen) == 2


def test_an_answer_that_does_not_fit_the_model_is_a_typed_error_not_a_pydantic_one() -> None:
    bodies = iter([{"algorithm": "Ed25519"}, {"items": [{"id": "r"}], "next_cursor": None}])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=next(bodies)))
    client = HubClient("http://hub.test", "t", transport=transport)
    with pytest.raises(UnexpectedAnswer) as wrong:
        client.ledger_public_key()
    assert wrong.value.status == 200 and "/api/v1/ledger/public-key" in str(wrong.value)
    with pytest.raises(UnexpectedAnswer):
        list(client.iter_runs())
