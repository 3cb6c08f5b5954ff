"""The operator console at ``/console``: server-rendered pages (Jinja2) with htmx for the live parts.

Routes parse and delegate: the rules live in the hub's own services (runs, review, risk) and the console's
``service``/``repository``. Every page declares its roles (``auth``); every form POST carries a CSRF token; a bad
field in any form is answered with the page, a 4xx and a message naming the field, and changes nothing.
"""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.sync_hub.audit import service as audit
from services.sync_hub.console import auth, service
from services.sync_hub.console import repository as repo
from services.sync_hub.console.auth import Anyone, Operator, Reviewer, Watcher
from services.sync_hub.console.repository import OutcomeFilters
from services.sync_hub.console.schemas import (
    DecisionForm,
    ExportForm,
    FamiliesExportForm,
    FamiliesForm,
    NikSearchForm,
    NisnSearchForm,
    OutcomeForm,
    Problem,
    ReversalForm,
    SearchForm,
    StartRunForm,
    parse_with,
)
from services.sync_hub.deps import PURPOSE, ReadSessionDep, Role, SessionDep
from services.sync_hub.ledger import repository as ledger_repo
from services.sync_hub.provenance import repository as provenance_repo
from services.sync_hub.review import repository as review_repo
from services.sync_hub.review import service as review
from services.sync_hub.review.schemas import CasesQuery, DecisionCreate, ReversalCreate, Verdict
from services.sync_hub.risk import report
from services.sync_hub.risk.schemas import RiskFilters, RiskQuery
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs import service as runs
from services.sync_hub.runs.service import RunQueue
from shared.auth import Principal
from shared.clock import as_utc, utcnow
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import RunStatus, SourceSystem, SyncRunCreate
from shared.contracts.risk import RiskReason
from shared.cursor import Cursor
from shared.errors import ApiError, error_response
from shared.nik import mask

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(region_name=service.region_name, reading_label=service.reading_label,
                             duration=service.duration, mask=mask,
                             outcomes=[o.value for o in Outcome], keys=[k.value for k in MatchKey],
                             systems=[s.value for s in SourceSystem], reasons=[r.value for r in RiskReason])
templates.env.filters["advice"] = service.advice
templates.env.filters["masked"] = service.masked
templates.env.filters["when"] = lambda d: as_utc(d).strftime("%Y-%m-%d %H:%M:%S UTC") if d else "–"

router = APIRouter(prefix=auth.PREFIX, include_in_schema=False, dependencies=[Depends(auth.enforce_console_declared)])
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ACTIVE = {RunStatus.QUEUED.value, RunStatus.RUNNING.value}
PAGE = 100


async def form_of(request: Request) -> dict[str, Any]:
    """The POSTed form as a dict (the first value of each field)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, Any], Depends(form_of)]


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    found = auth.current(request)
    principal = found[0] if found else None
    ctx.setdefault("problems", [])
    response = templates.TemplateResponse(request, name, {
        "principal": principal, "roles": set(principal.roles) if principal else set(),
        "csrf": getattr(request.state, "csrf", ""), **ctx}, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params.items())


def api_problems(exc: ApiError) -> list[Problem]:
    """The hub's error, as rendered by its error envelope (which masks any long digit run)."""
    body = json.loads(bytes(error_response(exc).body))
    errors = body.get("errors") or []
    if errors:
        return [Problem(e.get("field", "form"), e.get("rule", "invalid"), e.get("message", "")) for e in errors]
    return [Problem("form", body.get("error", "error"), body.get("detail", ""))]


# ---- sign in, sign out ----------------------------------------------------------------------------------

REASONS = {
    "required": "Silakan masuk · Please sign in.",
    "expired": "Sesi berakhir · Your token has expired or is no longer valid: sign in with a new one.",
    "machine": "Kredensial mesin · A machine client's credential cannot sign in to the console.",
    "signed_out": "Anda telah keluar · You have signed out.",
}


@router.get("/login", dependencies=[auth.OPEN])
def login_page(request: Request, next: str | None = None, reason: str | None = None) -> HTMLResponse:
    nonce = auth.new_login_nonce()
    response = render(request, "login.html", next=auth.safe_next(next), nonce=nonce,
                      notice=REASONS.get(reason or ""))
    response.set_cookie(auth.LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path=auth.PREFIX,
                        secure=request.url.scheme == "https", max_age=1800)
    return response


@router.post("/login", dependencies=[auth.OPEN])
def login(request: Request, form: FormDep) -> Response:
    nxt = auth.safe_next(form.get("next"))
    nonce = request.cookies.get(auth.LOGIN_COOKIE)
    presented = form.get(auth.CSRF_FIELD)
    if not nonce or not presented or not hmac.compare_digest(nonce, presented):
        problems = [Problem("csrf", "csrf", "Formulir kedaluwarsa · The sign-in form expired: reload the page and "
                            "sign in again.")]
        return _login_again(request, nxt, problems, 403)
    token = (form.get("token") or "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        return _login_again(request, nxt, [Problem("token", "required", "token is required: paste the access "
                                                   "token from your identity provider (jembatan token)")], 422)
    if len(token) > 8192:
        return _login_again(request, nxt, [Problem("token", "too_long", "token is too long to be an access token")],
                            422)
    try:
        principal = auth.person_of(request, token)
    except ApiError as exc:
        return _login_again(request, nxt, api_problems(exc), 401)
    except auth.LoginRequired:
        return _login_again(request, nxt, [Problem("token", "machine", REASONS["machine"])], 403)
    if not principal.roles:
        return _login_again(request, nxt, [Problem("token", "role", "the token carries none of the roles viewer, "
                                                   "reviewer, admin, auditor")], 403)
    claims = auth.jwt_exp(token)
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(auth.COOKIE, token, httponly=True, samesite="strict", path=auth.PREFIX,
                        secure=request.url.scheme == "https", max_age=max(60, claims - int(utcnow().timestamp())))
    response.delete_cookie(auth.LOGIN_COOKIE, path=auth.PREFIX)
    return response


def _login_again(request: Request, nxt: str, problems: list[Problem], status: int) -> HTMLResponse:
    nonce = auth.new_login_nonce()
    response = render(request, "login.html", status=status, next=nxt, nonce=nonce, problems=problems, notice=None)
    response.set_cookie(auth.LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path=auth.PREFIX,
                        secure=request.url.scheme == "https", max_age=1800)
    return response


@router.post("/logout", dependencies=[auth.OPEN])
def logout(request: Request, form: FormDep) -> Response:
    found = auth.current(request)
    if found is not None and form.get(auth.CSRF_FIELD) != auth.csrf_token(found[1]):
        raise auth.BadCsrf()
    response = RedirectResponse(f"{auth.PREFIX}/login?reason=signed_out", status_code=303)
    response.delete_cookie(auth.COOKIE, path=auth.PREFIX)
    return response


@router.get("")
def home(_: Anyone) -> RedirectResponse:
    return RedirectResponse(f"{auth.PREFIX}/runs", status_code=303)


# ---- runs ---------------------------------------------------------------------------------------------


@router.get("/runs")
def runs_page(request: Request, session: ReadSessionDep, _: Watcher) -> HTMLResponse:
    rows = runs_repo.list_runs(session, 50, None)
    items = [runs.with_progress(session, r) for r in rows]
    active = next((r for r in items if r.status.value in ACTIVE), None)
    return render(request, "runs.html", nav="runs", runs=items, active=active)


@router.post("/runs")
def start_run(request: Request, principal: Operator, form: FormDep, session: SessionDep) -> Response:
    auth.check_csrf(request, form)
    parsed, problems = StartRunForm.parse({**form, "full": "true" if form.get("full") else ""})
    if problems:
        return _runs_with(request, session, problems, 422)
    queue: RunQueue = request.app.state.runs
    try:
        run = queue.submit(SyncRunCreate(full=parsed.full), trigger=principal.who)
    except ApiError as exc:
        return _runs_with(request, session, api_problems(exc), exc.status_code)
    return RedirectResponse(f"{auth.PREFIX}/runs/{run.id}", status_code=303)


def _runs_with(request: Request, session: SessionDep, problems: list[Problem], status: int) -> HTMLResponse:
    items = [runs.with_progress(session, r) for r in runs_repo.list_runs(session, 50, None)]
    active = next((r for r in items if r.status.value in ACTIVE), None)
    return render(request, "runs.html", status=status, nav="runs", runs=items, active=active, problems=problems)


def _run_or_404(request: Request, session: SessionDep, run_id: str) -> Any:
    row = runs_repo.get_run(session, run_id) if UUID_RE.match(run_id) else None
    if row is None:
        return None, render(request, "error.html", status=404, nav="runs", title="Run tidak ditemukan · Not found",
                            message="Tidak ada run dengan id ini · There is no sync run with this id.")
    return row, None


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, session: ReadSessionDep, _: Watcher) -> HTMLResponse:
    row, missing = _run_or_404(request, session, run_id)
    if missing:
        return missing  # type: ignore[no-any-return]
    return render(request, "run.html", nav="runs", **_run_view(session, row))


def _run_view(session: SessionDep, row: Any) -> dict[str, Any]:
    run = runs.with_progress(session, row)
    units = [runs.unit_contract(u) for u in runs_repo.units_of(session, row.id)]
    return {"run": run, "units": units, "active": run.status.value in ACTIVE}


@router.get("/runs/{run_id}/progress")
def run_progress(request: Request, run_id: str, session: ReadSessionDep, _: Watcher) -> HTMLResponse:
    """The live part of a run's page (htmx polls it every second while the run is queued or running)."""
    row, missing = _run_or_404(request, session, run_id)
    if missing:
        return missing  # type: ignore[no-any-return]
    return render(request, "_progress.html", **_run_view(session, row))


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: str, principal: Operator, form: FormDep, session: SessionDep) -> Response:
    auth.check_csrf(request, form)
    row, missing = _run_or_404(request, session, run_id)
    if missing:
        return missing  # type: ignore[no-any-return]
    queue: RunQueue = request.app.state.runs
    try:
        queue.cancel(run_id, by=principal.who)
    except ApiError as exc:
        return render(request, "run.html", status=exc.status_code, nav="runs", problems=api_problems(exc),
                      **_run_view(session, row))
    return RedirectResponse(f"{auth.PREFIX}/runs/{run_id}", status_code=303)


# ---- outcomes -----------------------------------------------------------------------------------------


def _filters(form: OutcomeForm) -> OutcomeFilters:
    return OutcomeFilters(run_id=form.run, system=form.system.value if form.system else None, province=form.province,
                          kabupaten=form.kabupaten, school=form.school,
                          outcome=form.outcome.value if form.outcome else None,
                          key=form.key.value if form.key else None)


def _link_base(q: dict[str, str], drop: tuple[str, ...]) -> str:
    kept = {k: v for k, v in q.items() if k not in drop and v}
    from urllib.parse import urlencode

    return f"{auth.PREFIX}/outcomes?" + (urlencode(kept) + "&" if kept else "")


@router.get("/outcomes")
def outcomes_page(request: Request, session: ReadSessionDep, _: Watcher) -> HTMLResponse:
    q = query(request)
    form, problems = OutcomeForm.parse(q)
    ctx: dict[str, Any] = {"nav": "outcomes", "q": q, "rows": [], "total": None, "chart": "", "map": "",
                           "rates": [], "level": "province", "next_after": None}
    if problems:
        return render(request, "outcomes.html", status=422, problems=problems, **ctx)
    if form.run and runs_repo.get_run(session, form.run) is None:
        return render(request, "outcomes.html", status=404, problems=[
            Problem("run", "exists", "run: there is no sync run with this id")], **ctx)
    f = _filters(form)
    after = tuple(form.after.split(":", 1)) if form.after else None
    rows = repo.outcomes_page(session, f, after, PAGE + 1)  # type: ignore[arg-type]
    ctx["next_after"] = f"{rows[PAGE - 1].system}:{rows[PAGE - 1].student_id}" if len(rows) > PAGE else None
    ctx["rows"] = rows[:PAGE]
    ctx["total"] = repo.count_outcomes(session, f)
    rates, level = service.region_rates(session, f)
    region_link = _link_base(q, ("province", "kabupaten", "after"))
    ctx.update(rates=rates, level=level, chart=service.rate_chart(rates, level, region_link),
               map=service.province_map(rates, region_link) if level == "province" else "")
    ctx["page_link"] = _link_base(q, ("after",))
    ctx["export_link"] = _link_base(q, ("after",)).replace("/outcomes?", "/outcomes/export?")
    ctx["runs"] = runs_repo.list_runs(session, 20, None)
    return render(request, "outcomes.html", **ctx)


@router.get("/outcomes/export")
def outcomes_export(request: Request, session: ReadSessionDep, _: Watcher) -> Response:
    form, problems = ExportForm.parse(query(request), ignore=("after",))
    if not problems and form.run and runs_repo.get_run(session, form.run) is None:
        problems = [Problem("run", "exists", "run: there is no sync run with this id")]
    if problems:
        status = 404 if problems[0].rule == "exists" else 422
        return render(request, "outcomes.html", status=status, problems=problems, nav="outcomes", q=query(request),
                      rows=[], total=None, chart="", rates=[], level="province", next_after=None)
    f = _filters(form)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    if form.format == "xlsx":
        return StreamingResponse(service.chunks(service.outcomes_xlsx(session, f)), media_type=service.XLSX_TYPE,
                                 headers={"Content-Disposition": f'attachment; filename="outcomes-{stamp}.xlsx"'})
    return StreamingResponse(service.chunks(service.outcomes_csv(session, f)), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="outcomes-{stamp}.csv"'})


# ---- review -------------------------------------------------------------------------------------------


@router.get("/review")
def review_queue(request: Request, session: SessionDep, _: Watcher) -> HTMLResponse:
    q = query(request)
    cursor = q.get("cursor") or None
    try:
        page = review.list_cases(session, CasesQuery(cursor=cursor, limit=100))
    except (ApiError, ValueError):
        return render(request, "review.html", status=422, nav="review", cases=[], next_cursor=None,
                      blind=q.get("blind") == "1",
                      problems=[Problem("cursor", "opaque_cursor", "cursor is not one this page made: use the "
                                        "page's own Next link")])
    return render(request, "review.html", nav="review", cases=page.items, next_cursor=page.next_cursor,
                  blind=q.get("blind") == "1")


def _case_page(request: Request, session: SessionDep, principal: Principal, case_id: str, blind: bool,
               problems: list[Problem] | None = None, status: int = 200, form: dict[str, Any] | None = None
               ) -> HTMLResponse:
    if len(case_id) > 36 or review_repo.get_case(session, case_id) is None:
        return render(request, "error.html", status=404, nav="review", title="Kasus tidak ditemukan · Not found",
                      message="Tidak ada kasus tinjauan dengan id ini · There is no review case with this id.")
    view = review.get_case(session, case_id)
    audit.record(session, principal, f"{request.method} {auth.PREFIX}/review/{{case_id}}", PURPOSE[Role.REVIEWER],
                 review.case_access(view))
    nxt = next((c.id for c in review.list_cases(session, CasesQuery(limit=2)).items if c.id != case_id), None)
    suggestion = None
    if view.candidate_families and view.reason == "fallback":
        best = max(view.candidate_families, key=lambda c: c.probability or 0)
        suggestion = best.no_kk
    return render(request, "case.html", status=status, nav="review", case=view, blind=blind, next_case=nxt,
                  suggestion=suggestion, problems=problems or [], form=form or {})


@router.get("/review/history")
def review_history(request: Request, session: SessionDep, _: Reviewer) -> HTMLResponse:
    q = query(request)
    before = None
    if q.get("before"):
        try:
            c = Cursor.decode(q["before"])
            before = (c.at, c.key)
        except (ApiError, ValueError):
            return render(request, "history.html", status=422, nav="review", decisions=[], next_before=None,
                          problems=[Problem("before", "opaque_cursor", "before is not a cursor this page made: "
                                            "use the page's own Older link")])
    rows = repo.decisions_page(session, PAGE + 1, before)
    nxt = Cursor(as_utc(rows[PAGE - 1].decided_at), rows[PAGE - 1].id).encode() if len(rows) > PAGE else None
    return render(request, "history.html", nav="review", decisions=rows[:PAGE], next_before=nxt,
                  done=q.get("done"))


@router.get("/review/{case_id}")
def case_page(request: Request, case_id: str, session: SessionDep, principal: Reviewer) -> HTMLResponse:
    return _case_page(request, session, principal, case_id, query(request).get("blind") == "1")


@router.post("/review/{case_id}")
def decide(request: Request, case_id: str, principal: Reviewer, form: FormDep, session: SessionDep) -> Response:
    auth.check_csrf(request, form)
    blind = form.get("blind") == "1"
    choice = form.get("choice") or ""
    data = {k: v for k, v in form.items() if k not in ("choice", "blind")}
    if choice == "no_link":
        data["verdict"] = "no_link"
    elif choice.startswith("link:"):
        data.update(verdict="link", no_kk=choice[5:])
    parsed, problems = DecisionForm.parse({**data, "blind": "true" if blind else ""})
    if not choice:
        problems = [Problem("choice", "required", "choice is required: pick a candidate to link (keys 1-9) or no "
                            "link (key 0)"), *[p for p in problems if p.field != "verdict"]]
    if problems:
        return _case_page(request, session, principal, case_id, blind, problems, 422, form)
    try:
        review.decide(session, case_id, principal.name, DecisionCreate(
            verdict=Verdict(parsed.verdict), no_kk=parsed.no_kk if parsed.verdict == "link" else None,
            reason=parsed.reason))
    except ApiError as exc:
        return _case_page(request, session, principal, case_id, blind, api_problems(exc), exc.status_code, form)
    nxt = next((c.id for c in review.list_cases(session, CasesQuery(limit=1)).items), None)
    suffix = "?blind=1" if blind else ""
    target = f"{auth.PREFIX}/review/{nxt}{suffix}" if nxt else f"{auth.PREFIX}/review{suffix}"
    return RedirectResponse(target, status_code=303)


@router.post("/review/decisions/{decision_id}/reverse")
def reverse(request: Request, decision_id: str, principal: Reviewer, form: FormDep, session: SessionDep) -> Response:
    auth.check_csrf(request, form)
    parsed, problems = ReversalForm.parse(form)
    status = 422
    if not problems:
        try:
            review.reverse(session, decision_id[:36], principal.name, ReversalCreate(reason=parsed.reason))
            return RedirectResponse(f"{auth.PREFIX}/review/history?done=reversed", status_code=303)
        except ApiError as exc:
            problems, status = api_problems(exc), exc.status_code
    rows = repo.decisions_page(session, PAGE, None)
    return render(request, "history.html", status=status, nav="review", decisions=rows, next_before=None,
                  problems=problems, failed=decision_id)


# ---- provenance ---------------------------------------------------------------------------------------


@router.get("/provenance")
def provenance_page(request: Request, session: SessionDep, _: Anyone) -> HTMLResponse:
    q = query(request)
    form, problems = SearchForm.parse(q)
    students: list[Any] = []
    searched = bool(q)
    if not problems and form is not None and searched:
        system = form.system.value if form.system else None
        if form.student_id:
            students = repo.students_by_id(session, system, form.student_id)
        elif form.school:
            students = repo.students_of_school(session, system, form.school)
        else:
            problems = [Problem("student_id", "required", "give a student id or a school (or search by NIK below)")]
    return render(request, "provenance.html", status=422 if problems else 200, nav="provenance", q=q,
                  students=_with_status(session, students), problems=problems, searched=searched and not problems)


@router.post("/provenance")
def provenance_by_number(request: Request, _: Anyone, form: FormDep, session: SessionDep) -> HTMLResponse:
    """Search by NISN or NIK: POST only (neither is ever put in a URL, where logs, traces and browser history would
    keep it); the answer names students, never the number."""
    auth.check_csrf(request, form)
    by = "nisn" if "nisn" in form else "nik"
    if by == "nisn":
        parsed, problems = NisnSearchForm.parse(form)
        students = [] if problems else repo.students_by_nisn(session, parsed.nisn)
    else:
        parsed, problems = NikSearchForm.parse(form)
        students = [] if problems else repo.students_by_nik(session, parsed.nik)
    return render(request, "provenance.html", status=422 if problems else 200, nav="provenance", q={},
                  students=_with_status(session, students), problems=problems, searched=not problems, by=by)


def _with_status(session: SessionDep, students: list[Any]) -> list[dict[str, Any]]:
    status = repo.current_status(session, [(s.system, s.student_id) for s in students])
    return [{"system": s.system, "student_id": s.student_id, "school": s.school, "region": s.region,
             "outcome": status[(s.system, s.student_id)].outcome if (s.system, s.student_id) in status else None}
            for s in students]


@router.get("/provenance/{system}/{student_id}")
def student_provenance(request: Request, system: str, student_id: str, session: SessionDep, _: Anyone
                       ) -> HTMLResponse:
    if system not in {s.value for s in SourceSystem} or not re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", student_id):
        return render(request, "error.html", status=404, nav="provenance", title="Tidak ditemukan · Not found",
                      message="Tidak ada siswa dengan id ini · There is no student with this id.")
    rows = provenance_repo.for_target(session, system, student_id)
    ledgered = ledger_repo.entries_for(session, [r.id for r in rows])
    mirror = repo.students_by_id(session, system, student_id)
    status = repo.current_status(session, [(system, student_id)]).get((system, student_id))
    outcome = repo.outcome_of(session, status.sync_run_id, system, student_id) if status else None
    if not rows and not mirror:
        return render(request, "error.html", status=404, nav="provenance", title="Tidak ditemukan · Not found",
                      message="Hub belum pernah membaca atau menulis siswa ini · The hub has neither read nor written "
                      "a student with this id.")
    values = [{"row": r, "value": json.loads(r.value_json), "ledger": ledgered.get(r.id)} for r in rows]
    return render(request, "student.html", nav="provenance", system=system, student_id=student_id,
                  student=mirror[0] if mirror else None, current=status, outcome=outcome, values=values)


# ---- families at risk ---------------------------------------------------------------------------------


@router.get("/families")
def families_page(request: Request, session: SessionDep, _: Watcher) -> HTMLResponse:
    q = query(request)
    form, problems = parse_with(FamiliesForm, q)
    ctx: dict[str, Any] = {"nav": "families", "q": q, "summary": None, "families": [], "next_cursor": None}
    if problems:
        return render(request, "families.html", status=422, problems=problems, **ctx)
    try:
        ctx["summary"] = report.summary(session, form.periode)
        page = report.page(session, RiskQuery(**form.model_dump()))
    except ApiError as exc:
        return render(request, "families.html", status=exc.status_code, problems=api_problems(exc), **ctx)
    ctx.update(families=page.items, next_cursor=page.next_cursor,
               export_base=_families_link(q, ("cursor",)).replace("/families?", "/families/export?"),
               page_link=_families_link(q, ("cursor",)))
    return render(request, "families.html", **ctx)


def _families_link(q: dict[str, str], drop: tuple[str, ...]) -> str:
    from urllib.parse import urlencode

    kept = {k: v for k, v in q.items() if k not in drop and v}
    return f"{auth.PREFIX}/families?" + (urlencode(kept) + "&" if kept else "")


@router.get("/families/export")
def families_export(request: Request, session: SessionDep, _: Watcher) -> Response:
    form, problems = parse_with(FamiliesExportForm, query(request))
    if problems:
        return render(request, "families.html", status=422, problems=problems, nav="families", q=query(request),
                      summary=None, families=[], next_cursor=None)
    try:
        periode, filters = report.export_target(session, RiskFilters(**form.model_dump(exclude={"format"})))
    except ApiError as exc:
        return render(request, "families.html", status=exc.status_code, problems=api_problems(exc), nav="families",
                      q=query(request), summary=None, families=[], next_cursor=None)
    name = f"families-at-risk-{periode}.{form.format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if form.format == "xlsx":
        return StreamingResponse(report.file_chunks(report.xlsx_file(session, periode, filters)),
                                 media_type=report.XLSX_TYPE, headers=headers)
    return StreamingResponse(report.file_chunks(report.csv_file(session, periode, filters)),
                             media_type="text/csv; charset=utf-8", headers=headers)


# ---- health -------------------------------------------------------------------------------------------


@router.get("/health")
def health_page(request: Request, session: SessionDep, _: Anyone) -> HTMLResponse:
    settings = request.app.state.settings
    state = repo.replica_state(session)
    lag = (utcnow() - as_utc(state.synced_at)).total_seconds() if state and state.synced_at else None
    last = repo.last_run(session)
    return render(request, "health.html", nav="health", upstreams=service.upstreams(settings), replica=state,
                  lag=lag, follow_seconds=settings.replica_follow_seconds, units=repo.units_by_status(session),
                  outbox=repo.outbox_by_status(session), jobs=repo.procrastinate_jobs(session),
                  failed=repo.failed_units(session), last=runs.with_progress(session, last) if last else None,
                  database=session.get_bind().dialect.name)


# ---- the app's hooks ----------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Mount the console on the hub: its routes, its static assets (served by the hub: no CDN), and the pages
    that answer a missing sign-in, a missing role and a bad CSRF token."""
    app.include_router(router)
    app.mount(f"{auth.PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(auth.LoginRequired)
    def _login(request: Request, exc: auth.LoginRequired) -> Response:
        target = auth.login_url(request.url.path, exc.reason)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(auth.NotAllowed)
    def _forbidden(request: Request, exc: auth.NotAllowed) -> Response:
        needed = " atau/or ".join(sorted(r.value for r in exc.needed)) or "–"
        return render(request, "error.html", status=403, title="Tidak diizinkan · Not allowed",
                      message=f"Halaman ini memerlukan peran · This page needs the role: {needed}. "
                              f"Anda memegang · You hold: {', '.join(sorted(exc.held)) or 'none'}.")

    @app.exception_handler(auth.BadCsrf)
    def _csrf(request: Request, exc: auth.BadCsrf) -> Response:
        return render(request, "error.html", status=403, title="Formulir tidak sah · Form refused",
                      message="Token formulir (CSRF) tidak cocok · The form's CSRF token is missing or does not match "
                              "your session: reload the page and try again. Nothing was changed.")
