"""Education verification as a stage of a run: once every deciding unit has ended, the PKH children to verify
are split by the province of their NIK into verification units, each a job like any other unit.

A child is verified when its verification for the run's PKH period is missing, was never answered, or one of
its school records was decided since the last run that verified the period in full (so a run whose verification
failed leaves its children to the next). Each verification unit reads its children's linked records
and attendance from the hub's copy, decides their facts (``verification.service``), writes every verification
whose facts differ from the ones last sent (a new version, observed now, with a new provenance id) as PENDING,
sends them to the registry in batches and records the answers. Facts equal to those sent are not sent again, so
a second run sends nothing new; a unit killed between writing and recording sends its PENDING rows again (the
registry answers UNCHANGED for what it had stored). STALE (the registry holds newer facts for the child) and
NOT_FOUND (no such member) are recorded, not retried.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from services.sync_hub.jobs.context import JobContext
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.ledger import service as ledger
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs.models import SyncRunRow
from services.sync_hub.sync import lifecycle
from services.sync_hub.verification import repository as repo
from services.sync_hub.verification.service import Facts, Period, decide
from shared.clock import utcnow
from shared.contracts.hub import UnitStatus
from shared.contracts.kemensos import ProvenansiHub, SumberPendidikan, VerifikasiPendidikan
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.http import Rejected
from shared.ids import new_id

log = logging.getLogger("jembatan.hub.verify")

NO_SCHOOL = "NO_SCHOOL"  # enrolled, but the school's NPSN / NSM is unknown to the hub: nothing can be sent


def work(ctx: JobContext, unit_id: str) -> None:
    """Run one verification unit to its end (raises ``shared.http.Unavailable`` when the registry cannot be
    reached: the queue tries the unit again later)."""
    started = lifecycle.begin(ctx.db, unit_id)
    if started is None:
        lifecycle.finish_run_if_done(ctx, unit_id)
        return
    unit, run = started
    period = Period.parse(run.periode)
    with session_scope(ctx.db) as session:
        since = runs_repo.verified_through(session, run.id, period.periode)
        children = repo.candidates(session, since, period.periode, unit.region)
    tally: Counter[str] = Counter()
    timings: dict[str, float] = {}
    batch = min(ctx.settings.verification_batch, 1000)
    for start in range(0, len(children), batch):
        _one_batch(ctx, run, unit.id, period, children[start:start + batch], tally, timings)
    if children:  # what the unit ledgered is covered by a signed checkpoint
        ledger.checkpoint(ctx.db, ledger_keys.signer(ctx.settings.ledger_key_file, ctx.settings.database_url))
    with session_scope(ctx.db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        row = runs_repo.get_unit(session, unit.id, lock=True)
        assert row is not None
        row.status = UnitStatus.FAILED.value if tally.get("REJECTED") else UnitStatus.SUCCEEDED.value
        row.finished_at, row.students, row.outcomes = utcnow(), len(children), dict(sorted(tally.items()))
        row.timings = {k: round(v, 3) for k, v in timings.items()}
    log.info("verification unit %s (NIK prefix %s, %s): %d children, %s", unit.id, unit.region, period.periode,
             len(children), dict(tally))
    lifecycle.finish_run_if_done(ctx, unit.id)


def _one_batch(ctx: JobContext, run: SyncRunRow, unit_id: str, period: Period, children: list[str],
               tally: Counter[str], timings: dict[str, float]) -> None:
    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - since
        return now

    t = time.perf_counter()
    now = utcnow()
    with session_scope(ctx.db) as session:
        records = repo.records_of(session, children, period)
        before = repo.sent(session, children, period.periode)
    t = phase("read", t)
    to_write: list[dict[str, Any]] = []
    to_send: list[VerifikasiPendidikan] = []
    for nik in children:
        if nik not in records:  # no longer linked as a PKH child since it was chosen
            continue
        facts = decide(nik, period, records[nik])
        if facts.enrolled and facts.npsn is None and facts.nsm is None:
            tally[NO_SCHOOL] += 1
            continue
        old = before.get(nik)
        digest = facts.digest()
        if old is not None and old["facts_hash"] == digest:
            if old["status"] in repo.RESEND:
                to_send.append(VerifikasiPendidikan.model_validate_json(old["payload"]))
            else:
                tally["not_sent_unchanged"] += 1
            continue
        version = int(old["version"]) + 1 if old is not None else 1
        item = _item(facts, version, now, run.registry_seq)
        to_send.append(item)
        to_write.append(_row(facts, item, digest, run.id, unit_id, now))
    t = phase("decide", t)
    if to_write:
        with session_scope(ctx.db) as session:
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            repo.write(session, period.periode, to_write)
    t = phase("write", t)
    if not to_send:
        return
    answers = _send(ctx, to_send)
    t = phase("send", t)
    sent_at = utcnow()
    digests = {r["provenance_id"]: r["facts_hash"] for r in to_write}
    with session_scope(ctx.db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        repo.settle(session, period.periode, [
            {"b_nik": item.nik_anak, "b_provenance": item.provenance.provenance_id, "status": status,
             "detail": detail, "sent_at": sent_at} for item, (status, detail) in zip(to_send, answers, strict=True)])
        # what was sent and what the registry answered, into the provenance ledger (last: its lock until the commit)
        ledger.append_verifications(session, [
            {"provenance_id": item.provenance.provenance_id, "sync_run_id": run.id, "nik_anak": item.nik_anak,
             "periode": period.periode, "version": item.version, "observed_at": item.observed_at,
             "facts_hash": digests.get(item.provenance.provenance_id) or before[item.nik_anak]["facts_hash"],
             "payload": item.model_dump_json(), "status": status, "detail": detail}
            for item, (status, detail) in zip(to_send, answers, strict=True)], sent_at)
    tally.update(status for status, _ in answers)
    phase("record", t)


def _item(facts: Facts, version: int, observed_at: Any, observed_seq: int) -> VerifikasiPendidikan:
    src = facts.source
    return VerifikasiPendidikan.model_validate({
        **facts.wire(), "observed_at": observed_at, "version": version,
        "provenance": ProvenansiHub(provenance_id=new_id(), source_system=SumberPendidikan(src.system.upper()),
                                    source_record=src.student_id, source_version=src.source_version,
                                    observed_seq=observed_seq).model_dump()})


def _row(facts: Facts, item: VerifikasiPendidikan, digest: str, run_id: str, unit_id: str, now: Any
         ) -> dict[str, Any]:
    src = facts.source
    return {"nik_anak": facts.nik_anak, "periode": facts.periode, "provenance_id": item.provenance.provenance_id,
            "version": item.version, "observed_at": item.observed_at, "facts_hash": digest,
            "payload": item.model_dump_json(), "status": "PENDING", "detail": None, "enrolled": facts.enrolled,
            "active": facts.active, "months_below": facts.months_below, "source_system": src.system,
            "source_record": src.student_id, "source_version": src.source_version, "school": src.school,
            "region": src.region, "no_kk": src.no_kk, "other_records": list(facts.others), "sync_run_id": run_id,
            "unit_id": unit_id, "decided_at": now, "sent_at": None}


def _send(ctx: JobContext, items: list[VerifikasiPendidikan]) -> list[tuple[str, str | None]]:
    """The registry's answer to each item. A batch it refuses (one item breaks its contract) is sent item by item,
    so only the items it refuses are REJECTED, each with the registry's reason."""
    try:
        response = ctx.upstreams.kemensos.put_education_verification(items)
        return [(r.status.value, None) for r in response.results]
    except Rejected as exc:
        if exc.status not in (400, 422):
            raise
    out: list[tuple[str, str | None]] = []
    for item in items:
        try:
            out.append((ctx.upstreams.kemensos.put_education_verification_item(item).status.value, None))
        except Rejected as exc:
            if exc.status not in (400, 422):
                raise
            out.append(("REJECTED", str(exc)[:300]))
    return out


__all__ = ["work"]
