from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from services.sync_hub.deps import Admin, Reader, ReadSessionDep
from services.sync_hub.runs import repository, service
from shared.clock import as_utc
from shared.contracts.common import MAX_BIGINT, Page
from shared.contracts.hub import StudentOutcome, SyncRun, SyncRunCreate, UnitProgress
from shared.cursor import Cursor, row_id_after
from shared.idempotency import IdempotencyKey

router = APIRouter(prefix="/api/v1/sync-runs", tags=["sync runs"])


@router.post("", response_model=SyncRun, status_code=status.HTTP_202_ACCEPTED,
             summary="Start a sync run (planned into work units run by the hub's workers)",
             responses={409: {"description": "A run is already queued or running: its id is named"}})
def start_run(request: Request, principal: Admin, body: SyncRunCreate | None = None,
              _key: IdempotencyKey = None) -> SyncRun:
    """Queues a sync run (admin role): the hub plans it into work units (system x region) that its workers run; follow
    it with `GET /api/v1/sync-runs/{run_id}`. 409 names the run already queued or running. Send an `Idempotency-
    Key`: a retry with the same key and body answers the first run instead of queueing another; the same key with
    another body is 422 `IdempotencyConflict`.
    """
    queue: service.RunQueue = request.app.state.runs
    return queue.submit(body or SyncRunCreate(), trigger=principal.who)


@router.post("/{run_id}/cancel", response_model=SyncRun, summary="Cancel a queued or running sync run",
             responses={404: {"description": "No such run"}, 409: {"description": "The run has already ended"}})
def cancel_run(run_id: str, request: Request, principal: Admin) -> SyncRun:
    """Cancels a queued or running run (admin role): units not started are cancelled, running ones stop at their next
    batch. 409 when the run has already ended.
    """
    queue: service.RunQueue = request.app.state.runs
    return queue.cancel(run_id, by=principal.who)


@router.get("/{run_id}/units", response_model=list[UnitProgress],
            summary="The work units of a run: system, region, status, attempts, counts, errors")
def list_units(run_id: str, session: ReadSessionDep, _: Reader) -> list[UnitProgress]:
    """The work units of a run with system, region, status, attempts, counts and errors: how far a run has come, unit
    by unit.
    """
    service.get(session, run_id)
    return [service.unit_contract(u) for u in repository.units_of(session, run_id)]


@router.get("", response_model=Page[SyncRun], summary="Sync runs, newest first")
def list_runs(session: ReadSessionDep, _: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 20,
              cursor: str | None = None) -> Page[SyncRun]:
    """Sync runs, newest first, each with its unit progress; keyset-paged (`next_cursor`)."""
    before = Cursor.decode(cursor) if cursor else None
    rows = repository.list_runs(session, limit + 1, before)
    items = [service.with_progress(session, r) for r in rows[:limit]]
    nxt = Cursor(as_utc(rows[limit - 1].created_at), rows[limit - 1].id).encode() if len(rows) > limit else None
    return Page[SyncRun](items=items, next_cursor=nxt)


@router.get("/{run_id}", response_model=SyncRun, summary="One sync run: status, counts per outcome, timings")
def get_run(run_id: str, session: ReadSessionDep, _: Reader) -> SyncRun:
    """One sync run: status, counts per outcome, unit progress (done / failed / waiting) and timings."""
    return service.with_progress(session, service.get(session, run_id))


@router.get("/{run_id}/outcomes", response_model=Page[StudentOutcome],
            summary="Every student's outcome in a run, with the key that decided it")
def list_outcomes(run_id: str, session: ReadSessionDep, _: Reader,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 500, cursor: str | None = None) -> Page[StudentOutcome]:
    """Every student's outcome in a run (matched, no NIK, not in the registry, review...) with the key that decided it;
    KK numbers masked. Paged with the opaque `next_cursor`.
    """
    service.get(session, run_id)
    after = row_id_after(cursor, largest=MAX_BIGINT)  # student_outcome.id is BIGINT (0027)
    rows = repository.list_outcomes(session, run_id, limit + 1, after)
    items = [service.outcome_contract(r) for r in rows[:limit]]
    nxt = str(rows[limit - 1].id) if len(rows) > limit else None
    return Page[StudentOutcome](items=items, next_cursor=nxt)
