from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

from pydantic import RootModel

from shared.contracts.common import Health, Page
from shared.contracts.hub import (
    CheckRequest,
    CheckResponse,
    ProvenanceRecord,
    RunStatus,
    SourceSystem,
    StudentOutcome,
    SyncRun,
    SyncRunCreate,
)
from shared.contracts.ledger import (
    LedgerCheckpoint,
    LedgerLookup,
    LedgerLookupAnswer,
    LedgerProof,
    LedgerPublicKey,
    LedgerReport,
)
from shared.contracts.risk import FamilyAtRisk, RiskSummary
from shared.http import BaseClient, ClientError, Rejected, Unavailable, segment

_HUB_WIDE = (401, 403, 429)  # the refusals that concern the caller, not one of the records


class Checker(Protocol):
    """What a gateway asks checks of: the hub's client (tests pass fakes)."""

    def check(self, body: CheckRequest) -> CheckResponse: ...

    def close(self) -> None: ...


def of_a_record(exc: ClientError) -> bool:
    """Whether the hub's refusal of a check of several presses may concern one record of the call rather than the
    hub or the caller (the gateways then ask each press again alone, so only the press it concerns gets it)."""
    if isinstance(exc, Rejected):
        return exc.status not in _HUB_WIDE
    return isinstance(exc, Unavailable) and exc.status == 500


def part_of(response: CheckResponse, ids: list[str]) -> CheckResponse:
    """The answer of one press of a batch: the outcomes and result items of its students, under the check's id."""
    mine = set(ids)
    return CheckResponse.model_construct(
        check_id=response.check_id, observed_seq=response.observed_seq,
        results=[r for r in response.results if r.student_id in mine],
        items=[i for i in response.items if i.student_id in mine])


class _ProvenanceList(RootModel[list[ProvenanceRecord]]):
    pass


class HubClient(BaseClient):
    def health(self) -> Health:
        return self.request("GET", "/health", Health, idempotent=True)

    def start_run(self, body: SyncRunCreate | None = None) -> SyncRun:
        """Starting a run is not idempotent: never retried."""
        body = body or SyncRunCreate()
        return self.request("POST", "/api/v1/sync-runs", SyncRun, idempotent=False,
                            content=body.model_dump_json())

    def check(self, body: CheckRequest) -> CheckResponse:
        """Decide up to 100 students now, from the records sent; the answer carries the result items to apply.
        ``Unavailable`` (503) means the hub cannot decide yet (its registry replica is not ready): the caller
        keeps the request PENDING and asks again later. Not retried here."""
        return self.request("POST", "/api/v1/checks", CheckResponse, idempotent=False,
                            content=body.model_dump_json())

    def get_run(self, run_id: str) -> SyncRun:
        return self.request("GET", f"/api/v1/sync-runs/{segment(run_id)}", SyncRun, idempotent=True)

    def list_runs(self, limit: int = 20) -> Page[SyncRun]:
        return self.request("GET", "/api/v1/sync-runs", Page[SyncRun], idempotent=True, params={"limit": limit})

    def outcomes(self, run_id: str, cursor: str | None = None, limit: int = 1000) -> Page[StudentOutcome]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", f"/api/v1/sync-runs/{segment(run_id)}/outcomes", Page[StudentOutcome],
                            idempotent=True, params=params)

    def provenance(self, target_system: SourceSystem, target_record: str) -> list[ProvenanceRecord]:
        return self.request("GET", "/api/v1/provenance", _ProvenanceList, idempotent=True,
                            params={"target_system": target_system.value, "target_record": target_record}).root

    def ledger_public_key(self) -> LedgerPublicKey:
        return self.request("GET", "/api/v1/ledger/public-key", LedgerPublicKey, idempotent=True)

    def ledger_verify(self) -> LedgerReport:
        return self.request("GET", "/api/v1/ledger/verify", LedgerReport, idempotent=True)

    def ledger_checkpoint(self) -> LedgerCheckpoint:
        """Sign a checkpoint over what is not covered yet (idempotent: nothing new, the newest is answered)."""
        return self.request("POST", "/api/v1/ledger/checkpoints", LedgerCheckpoint, idempotent=True)

    def ledger_proof(self, provenance_id: str, field: str) -> LedgerProof:
        return self.request("GET", "/api/v1/ledger/proof", LedgerProof, idempotent=True,
                            params={"provenance_id": provenance_id, "field": field})

    def ledger_lookup(self, record_hashes: list[str]) -> dict[str, int]:
        """Which of these record hashes the ledger holds (hash -> seq); at most 1000 per call."""
        return self.request("POST", "/api/v1/ledger/lookup", LedgerLookupAnswer, idempotent=True,
                            content=LedgerLookup(record_hashes=record_hashes).model_dump_json()).found
    def families_at_risk(self, periode: str | None = None, cursor: str | None = None, limit: int = 500,
                         **filters: str) -> Page[FamilyAtRisk]:
        """A page of the families-at-risk report (filters: province, kabupaten, school, reason)."""
        params: dict[str, str | int] = {"limit": limit, **filters}
        if periode:
            params["periode"] = periode
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/families-at-risk", Page[FamilyAtRisk], idempotent=True, params=params)

    def iter_families_at_risk(self, periode: str | None = None, limit: int = 500, **filters: str
                              ) -> Iterator[FamilyAtRisk]:
        cursor: str | None = None
        while True:
            page = self.families_at_risk(periode, cursor, limit, **filters)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def risk_summary(self, periode: str | None = None) -> RiskSummary:
        params = {"periode": periode} if periode else {}
        return self.request("GET", "/api/v1/families-at-risk/summary", RiskSummary, idempotent=True, params=params)

    def wait(self, run_id: str, timeout: float = 3600, poll: float = 0.5) -> SyncRun:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"sync run {run_id} still {run.status} after {timeout:.0f}s")
            time.sleep(poll)
