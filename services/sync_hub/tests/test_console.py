# ruff: noqa: F811  (the ``hub`` fixture is imported from test_roles)
"""The console's forms and sign-in, in process (the browser story is tests/e2e/test_console_browser.py; who may
open what is test_roles.py's console matrix): every bad input is a visible, specific message, a 4xx, and changes
nothing; the session cookie is HttpOnly and SameSite=Strict; a form without its CSRF token is refused."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from services.sync_hub.console import auth
from services.sync_hub.review.models import ReviewCaseRow, ReviewDecisionRow
from services.sync_hub.tests.test_roles import EMIS_TOKEN, STUDENT_NIK, Hub, hub  # noqa: F401  (the fixture)
from shared.db import session_scope


def signed_in(h: Hub, *roles: str, user: str = "ana") -> tuple[dict[str, str], str]:
    token = h.issuer.issue(user, list(roles))
    return {"Cookie": f"{auth.COOKIE}={token}"}, auth.csrf_token(token)


def problems(html: str) -> set[tuple[str, str]]:
    return set(re.findall(r'data-field="([^"]+)" data-rule="([^"]+)"', html))


def test_sign_in_sets_an_httponly_strict_cookie_and_refuses_bad_tokens(hub: Hub) -> None:
    page = hub.http.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and nonce is not None
    token = hub.issuer.issue("ana", ["viewer"])
    ok = hub.http.post("/console/login", data={"csrf": nonce.group(1), "token": token, "next": "/console/outcomes"},
                       follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/console/outcomes"
    cookie = next(v for k, v in ok.headers.multi_items() if k == "set-cookie" and v.startswith(auth.COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    hub.http.cookies.clear()
    for bad, status, rule in ((hub.issuer.issue("ana", ["viewer"], ttl_seconds=-120), 401, "expired"),
                              ("not.a.jwt", 401, "malformed"), (EMIS_TOKEN, 403, "machine"), ("", 422, "required"),
                              (hub.issuer.issue("ana", []), 403, "role")):
        page = hub.http.get("/console/login")
        nonce = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = hub.http.post("/console/login", data={"csrf": nonce, "token": bad}, follow_redirects=False)
        assert r.status_code == status and ("token" if rule != "expired" and rule != "malformed" else
                                            "authorization", rule) in problems(r.text), (rule, r.text[-600:])
        assert f"{auth.COOKIE}=" not in r.headers.get("set-cookie", "")
    # an open redirect is not possible: only console paths follow a sign-in
    assert auth.safe_next("https://evil.example/") == "/console/runs"
    assert auth.safe_next("/console//evil.example") == "/console/runs"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(hub: Hub) -> None:
    cookie, _ = signed_in(hub, "reviewer")
    r = hub.http.post(f"/console/review/{hub.case_id}", headers=cookie,
                      data={"choice": "no_link", "reason": "not them"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = hub.http.post(f"/console/review/{hub.case_id}", headers=cookie,
                      data={"choice": "no_link", "reason": "not them", "csrf": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403
    with session_scope(hub.http.app.state.engine) as s:  # type: ignore[attr-defined]
        assert s.get(ReviewCaseRow, hub.case_id).status == "OPEN"  # type: ignore[union-attr]


@pytest.mark.parametrize(("query", "expected"), [
    ("province=3x", {("province", "string_pattern_mismatch")}),
    ("kabupaten=32", {("kabupaten", "string_pattern_mismatch")}),
    ("school=a%20b", {("school", "string_pattern_mismatch")}),
    ("outcome=MAYBE&key=guess", {("outcome", "enum"), ("key", "enum")}),
    ("system=sikdes", {("system", "enum")}),
    ("run=not-a-run", {("run", "string_pattern_mismatch")}),
    ("run=00000000-0000-0000-0000-000000000000", {("run", "exists")}),
    ("colour=red", {("colour", "extra_forbidden")}),
    ("after=x", {("after", "string_pattern_mismatch")}),
])
def test_bad_outcome_filters_get_a_specific_message(hub: Hub, query: str, expected: set[tuple[str, str]]) -> None:
    cookie, _ = signed_in(hub, "viewer")
    r = hub.http.get(f"/console/outcomes?{query}", headers=cookie)
    assert 400 <= r.status_code < 500 and problems(r.text) == expected, r.text[-800:]
    assert 'role="alert"' in r.text
    if query.startswith("after="):
        return  # an export is the whole filtered view: it takes no page position
    export = hub.http.get(f"/console/outcomes/export?{query}&format=csv", headers=cookie)
    assert 400 <= export.status_code < 500 and export.headers["content-type"].startswith("text/html")


def test_bad_review_input_is_refused_visibly_and_changes_nothing(hub: Hub) -> None:
    cookie, csrf = signed_in(hub, "reviewer")
    cases = [({"reason": "not them"}, ("choice", "required")),
             ({"choice": "no_link", "reason": "x"}, ("reason", "string_too_short")),
             ({"choice": "no_link", "reason": "y" * 301}, ("reason", "string_too_long")),
             ({"choice": "link:123", "reason": "a good reason"}, ("no_kk", "string_pattern_mismatch")),
             ({"choice": "link:3201010101100099", "reason": "a good reason"}, ("no_kk", "not_a_candidate")),
             ({"choice": "no_link", "reason": "a good reason", "extra": "1"}, ("extra", "extra_forbidden"))]
    for data, expected in cases:
        r = hub.http.post(f"/console/review/{hub.case_id}", headers=cookie, data={**data, "csrf": csrf},
                          follow_redirects=False)
        assert 400 <= r.status_code < 500 and expected in problems(r.text), (data, r.text[-800:])
    r = hub.http.post(f"/console/review/decisions/{hub.decision_id}/reverse", headers=cookie,
                      data={"csrf": csrf, "reason": ""}, follow_redirects=False)
    assert r.status_code == 422 and ("reason", "missing") in problems(r.text)
    r = hub.http.post("/console/review/decisions/nope/reverse", headers=cookie,
                      data={"csrf": csrf, "reason": "a good reason"}, follow_redirects=False)
    assert r.status_code == 404
    with session_scope(hub.http.app.state.engine) as s:  # type: ignore[attr-defined]
        assert s.get(ReviewCaseRow, hub.case_id).status == "OPEN"  # type: ignore[union-attr]
        assert s.get(ReviewDecisionRow, hub.decision_id).reversed_at is None  # type: ignore[union-attr]
        assert s.execute(sa.select(sa.func.count()).select_from(ReviewDecisionRow)).scalar_one() == 1
    # and a good one is taken, named after the person
    r = hub.http.post(f"/console/review/{hub.case_id}", headers=cookie,
                      data={"csrf": csrf, "choice": "no_link", "reason": "not the same child"}, follow_redirects=False)
    assert r.status_code == 303
    history = hub.http.get("/console/review/history", headers=cookie)
    assert "not the same child" in history.text and ">ana<" in history.text


def test_searches_refuse_bad_input_and_a_nik_never_travels_in_a_url(hub: Hub) -> None:
    cookie, csrf = signed_in(hub, "viewer")
    r = hub.http.get("/console/provenance?student_id=a%20b", headers=cookie)
    assert r.status_code == 422 and ("student_id", "string_pattern_mismatch") in problems(r.text)
    r = hub.http.get("/console/provenance?system=emis", headers=cookie)
    assert r.status_code == 422 and ("student_id", "required") in problems(r.text)
    r = hub.http.get(f"/console/provenance?nik={STUDENT_NIK}", headers=cookie)
    assert r.status_code == 422 and ("nik", "extra_forbidden") in problems(r.text)
    for nik in ("9876543", "32010141011000011", "abcdefghijklmnop"):  # none can occur in a hex CSRF token
        r = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nik": nik})
        assert r.status_code == 422 and ("nik", "string_pattern_mismatch") in problems(r.text)
        assert nik not in r.text  # the input is not echoed
    r = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nik": STUDENT_NIK})
    assert r.status_code == 200 and STUDENT_NIK not in r.text
    for path in ("/console/provenance/sikdes/x", "/console/provenance/emis/a%20b", "/console/runs/nope",
                 "/console/review/nope", "/console/families?periode=2026-T9", "/console/families?reason=LAZY"):
        r = hub.http.get(path, headers=signed_in(hub, "viewer", "reviewer")[0])
        assert 400 <= r.status_code < 500, path


def test_a_viewer_sees_masked_numbers_and_a_reviewer_reads_are_logged(hub: Hub) -> None:
    viewer, _ = signed_in(hub, "viewer")
    assert hub.http.get(f"/console/review/{hub.case_id}", headers=viewer).status_code == 403
    queue = hub.http.get("/console/review", headers=viewer).text
    assert "pd-2" in queue and not re.search(r"\d{16}", queue)
    reviewer, _ = signed_in(hub, "reviewer", user="rina")
    case = hub.http.get(f"/console/review/{hub.case_id}", headers=reviewer)
    assert case.status_code == 200 and STUDENT_NIK in case.text  # a reviewer needs the NIK
    auditor = {"Authorization": f"Bearer {hub.issuer.issue('aud', ['auditor'])}"}
    reads = hub.http.post("/api/v1/audit/who-read", json={"nik": STUDENT_NIK}, headers=auditor).json()["reads"]
    assert [(r["actor"], r["route"]) for r in reads] == [("rina", "GET /console/review/{case_id}")]


def test_signing_out_clears_the_cookie_and_an_expired_session_goes_back_to_sign_in(hub: Hub) -> None:
    cookie, csrf = signed_in(hub, "viewer")
    r = hub.http.post("/console/logout", headers=cookie, data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and 'jembatan_console=""' in r.headers["set-cookie"]
    expired = hub.issuer.issue("ana", ["viewer"], ttl_seconds=-120)
    r = hub.http.get("/console/outcomes", headers={"Cookie": f"{auth.COOKIE}={expired}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/outcomes&reason=expired"
    r = hub.http.get("/console/runs", headers={"Cookie": f"{auth.COOKIE}={expired}", "HX-Request": "true"},
                     follow_redirects=False)
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/console/login")


def test_a_students_provenance_page_shows_every_value_with_its_source_masked(hub: Hub) -> None:
    import json
    import uuid
    from datetime import date

    from services.sync_hub.mirror.models import StudentMirrorRow
    from services.sync_hub.provenance.models import ProvenanceRow
    from services.sync_hub.runs.models import StudentOutcomeRow, StudentStatusRow
    from shared.clock import utcnow

    kk, now = "3201010101100003", utcnow()
    with session_scope(hub.http.app.state.engine) as s:  # type: ignore[attr-defined]
        s.add(StudentMirrorRow(system="dapodik", student_id="pd-7", school="sek-1", region="3201010001", nama="Siti",
                               jenis_kelamin="P", tanggal_lahir=date(2010, 1, 1), nik=STUDENT_NIK, current_json="{}",
                               attested_json="{}"))
        s.add(StudentStatusRow(system="dapodik", student_id="pd-7", region="3201010001", outcome="PKH_RECIPIENT",
                               no_kk=kk, sync_run_id=hub.run_id, updated_at=now))
        s.add(StudentOutcomeRow(sync_run_id=hub.run_id, system="dapodik", student_id="pd-7", outcome="PKH_RECIPIENT",
                                matched_by="review", no_kk=kk))
        s.add(ProvenanceRow(id=str(uuid.uuid4()), provenance_id=str(uuid.uuid4()), sync_run_id=hub.run_id,
                            target_system="dapodik", target_record="pd-7", field="penerima_kps",
                            value_json=json.dumps(True), source_system="kemensos", source_record=f"keluarga/{kk}",
                            source_version=3, observed_seq=41, retrieved_at=now, matched_by="review", written_at=now))
    cookie, csrf = signed_in(hub, "viewer")
    found = hub.http.get("/console/provenance?student_id=pd-7", headers=cookie)
    assert found.status_code == 200 and "/console/provenance/dapodik/pd-7" in found.text
    by_nik = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nik": STUDENT_NIK})
    assert "/console/provenance/dapodik/pd-7" in by_nik.text and STUDENT_NIK not in by_nik.text
    page = hub.http.get("/console/provenance/dapodik/pd-7", headers=cookie)
    assert page.status_code == 200, page.text[-2000:]
    assert 'id="values"' in page.text and "penerima_kps" in page.text and "review" in page.text
    assert kk not in page.text and "320101******0003" in page.text and STUDENT_NIK not in page.text


NISN = "0141234567"


def test_a_student_read_from_a_gateway_is_found_by_its_nisn_in_a_post_form(hub: Hub) -> None:
    """The NISN travels from the gateway's read model through the hub's copy to the console's search; it is
    taken only in a form body (never a URL), never echoed, and bad input is a visible, specific 422."""
    from datetime import date

    from services.sync_hub.domain.students import enrolment_of, from_siswa
    from services.sync_hub.mirror import service as mirror
    from shared.clock import utcnow
    from shared.contracts.emis import PkhData, Siswa

    def siswa(sid: str, nisn: str | None) -> Siswa:
        return Siswa(siswa_id=sid, nsm="111232010001", nisn=nisn, nama="Siti", jenis_kelamin="P",
                     tanggal_lahir=date(2014, 3, 3), tingkat=4, updated_at=utcnow(), pkh=PkhData())

    def stored(record: Siswa) -> mirror.Stored:  # as a plan stores it, at its madrasah in 3201010001
        return mirror.Stored(from_siswa(record), record.nsm, "3201010001", None, enrolment_of(record, "20200001"))

    with session_scope(hub.http.app.state.engine) as s:  # type: ignore[attr-defined]
        mirror.store(s, [stored(siswa("s-41", NISN)), stored(siswa("s-42", None)), stored(siswa("s-43", "0141234568"))],
                     utcnow())
    cookie, csrf = signed_in(hub, "viewer")
    found = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nisn": NISN})
    assert found.status_code == 200 and "Students found</span> (NISN): 1" in found.text, found.text[-1500:]
    assert "/console/provenance/emis/s-41" in found.text and "s-43" not in found.text and NISN not in found.text
    unknown = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nisn": "0999999999"})
    assert unknown.status_code == 200 and "(NISN): 0" in unknown.text and "No student found" in unknown.text
    for bad, rule in (("98765", "string_pattern_mismatch"), ("98765432109", "string_pattern_mismatch"),
                      ("987654321x", "string_pattern_mismatch"), ("", "missing"), (STUDENT_NIK, "nik_not_nisn")):
        r = hub.http.post("/console/provenance", headers=cookie, data={"csrf": csrf, "nisn": bad})
        assert r.status_code == 422 and problems(r.text) == {("nisn", rule)}, (bad, r.text[-800:])
        assert 'role="alert"' in r.text and "a NISN is 10 digits" in r.text
        assert not bad or bad not in r.text.replace(csrf, "")  # the input is not echoed
    r = hub.http.post("/console/provenance", headers=cookie, data={"nisn": NISN})
    assert r.status_code == 403  # no CSRF token: refused
    r = hub.http.get(f"/console/provenance?nisn={NISN}", headers=cookie)
    assert r.status_code == 422 and ("nisn", "extra_forbidden") in problems(r.text)  # never in a URL


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_the_province_tile_map_places_every_province_once_and_names_its_figures() -> None:
    from services.sync_hub.console.service import (
        NO_DATA,
        PROVINCE_SHORT,
        PROVINCE_TILES,
        RATE_CLASSES,
        RegionRate,
        province_map,
    )
    from shared.regions import provinces

    assert set(PROVINCE_TILES) == set(provinces())  # a new province fails here until it is placed
    assert len(set(PROVINCE_TILES.values())) == len(PROVINCE_TILES)
    assert set(PROVINCE_SHORT) == set(provinces()) and len(set(PROVINCE_SHORT.values())) == len(PROVINCE_SHORT)
    assert all(len(label) <= 6 for label in PROVINCE_SHORT.values())  # what fits a tile
    for _, fill, ink, _ in (*RATE_CLASSES, (None, *NO_DATA[:2], None)):
        light, dark = sorted((_luminance(fill), _luminance(ink)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (fill, ink)
    svg = province_map([RegionRate("32", "Jawa Barat", 100, 95), RegionRate("11", "Aceh", 20, 2),
                        RegionRate("", "?", 5, 5)], "/console/outcomes?system=emis&")
    tiles = dict(re.findall(r'class="tile" data-province="(\d\d)"[^>]*>(.*?)</(?:a|g)>', svg))
    assert set(tiles) == set(provinces())
    assert "<title>Jawa Barat (32): 95.0% padan · linked, 95 / 100 siswa · students</title>" in tiles["32"]
    assert 'class="code">JABAR</text>' in tiles["32"] and 'class="code">ACEH</text>' in tiles["11"]
    assert 'fill="#08306b"' in tiles["32"] and 'fill="#eff3ff"' in tiles["11"] and ">10%<" in tiles["11"]
    assert "no students" in tiles["51"] and 'fill="#e6e6e6"' in tiles["51"]
    links = re.findall(r'href="([^"]+)"', svg)
    assert sorted(links) == [f"/console/outcomes?system=emis&amp;province={p}" for p in ("11", "32")]
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_the_outcomes_page_shows_the_province_map_until_a_province_is_chosen(hub: Hub) -> None:
    cookie, _ = signed_in(hub, "viewer")
    page = hub.http.get("/console/outcomes", headers=cookie)
    assert page.status_code == 200 and 'id="province-map"' in page.text and 'id="rates"' in page.text
    assert page.text.count('class="tile" data-province=') == 38
    one = hub.http.get("/console/outcomes?province=32", headers=cookie)
    assert one.status_code == 200 and 'id="province-map"' not in one.text and 'id="rates"' in one.text


RUN = "5b0e3c9e-7a51-4c1e-9d7e-2f8f8c1a0b11"


def test_a_run_still_reading_shows_what_its_plan_has_read_per_upstream(hub: Hub) -> None:
    """Before a run's units exist its plan reads (for hours, nationally): the API and the console's run page show the
    records read so far from each upstream and which reads have ended."""
    from datetime import UTC, datetime

    from services.sync_hub.runs import repository as runs_repo
    from services.sync_hub.runs.models import SyncRunRow

    engine = hub.http.app.state.engine  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add(SyncRunRow(id=RUN, status="RUNNING", trigger="person:ana", systems=["emis", "dapodik"],
                               created_at=now, started_at=now))
        session.flush()
        runs_repo.start_reading(session, RUN, ["emis", "dapodik", "kip", "registry"], now)
        runs_repo.add_read(session, RUN, "emis", 1200, now)
        runs_repo.add_read(session, RUN, "emis", 34, now, done=True)
        runs_repo.add_read(session, RUN, "dapodik", 5000, now)
    body = hub.http.get(f"/api/v1/sync-runs/{RUN}", headers=hub.person("ana", "viewer")).json()
    assert body["progress"] is None
    assert {r["source"]: (r["records"], r["done"]) for r in body["reading"]} == {
        "emis": (1234, True), "dapodik": (5000, False), "kip": (0, False), "registry": (0, False)}
    cookie, _ = signed_in(hub, "viewer")
    page = hub.http.get(f"/console/runs/{RUN}/progress", headers=cookie)
    assert page.status_code == 200
    emis = re.search(r'id="read-emis">([^<]*)<small>\(([^)]*)\)', page.text)
    dapodik = re.search(r'id="read-dapodik">([^<]*)<small>\(([^)]*)\)', page.text)
    assert emis is not None and emis.groups() == ("1,234 ", "selesai · done")
    assert dapodik is not None and dapodik.groups() == ("5,000 ", "membaca · reading…")
    # a feed read whole as ranges, and the registry replica's first load as ranges: how many of them are read
    from services.sync_hub.replica.models import ReplicaLoadRangeRow, ReplicaLoadRow
    from services.sync_hub.runs.models import FeedReadRangeRow, FeedReadRow

    with session_scope(engine) as session:
        read = FeedReadRow(sync_run_id=RUN, system="dapodik", ranges=3, resume_cursor="end", started_at=now)
        load = ReplicaLoadRow(head=1000, ranges=4, started_at=now)
        session.add_all([read, load])
        session.flush()
        session.add_all([FeedReadRangeRow(read_id=read.id, idx=i, done_at=now if i < 2 else None) for i in range(3)]
                        + [ReplicaLoadRangeRow(load_id=load.id, idx=i, lo=i * 250, hi=(i + 1) * 250,
                                               done_at=now if i == 0 else None) for i in range(4)])
    body = hub.http.get(f"/api/v1/sync-runs/{RUN}", headers=hub.person("ana", "viewer")).json()
    assert {r["source"]: (r["ranges"], r["ranges_done"]) for r in body["reading"]} == {
        "emis": (None, None), "dapodik": (3, 2), "kip": (None, None), "registry": (4, 1)}
    page = hub.http.get(f"/console/runs/{RUN}/progress", headers=cookie)
    dapodik = re.search(r'id="read-dapodik">.*?<small class="ranges">([^<]*)<span', page.text)
    assert dapodik is not None and dapodik.group(1) == "2 / 3 rentang · "
    assert 'id="read-emis">1,234 <small>(selesai · done)</small></dd>' in page.text  # one stream: no ranges
    with session_scope(engine) as session:  # once planned, the units' progress is shown instead
        session.execute(sa.update(SyncRunRow).where(SyncRunRow.id == RUN).values(planned_at=now))
    body = hub.http.get(f"/api/v1/sync-runs/{RUN}", headers=hub.person("ana", "viewer")).json()
    assert body["reading"] is None and body["progress"] is not None
