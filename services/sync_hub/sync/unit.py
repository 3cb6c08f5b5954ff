"""One work unit: the students of one source system in one region, decided, pushed and recorded.

A unit reads its students from the hub's copy (``mirror``), the part of the registry they can reach
(``replica.slice``: their keys, their fallback blocks, through the database's indexes), the KIP cards of its
region, and the fallback model the run's plan chose. It sends again any outbox item of its region whose
answer was never recorded, decides every student, opens or closes review cases, pushes only what differs from
what the gateway holds, and records outcomes, the students' current status and its own counts. Running it
again (a retry, a worker killed mid-way) is safe: the outbox replay settles what was sent, and what the gateway
already holds is answered UNCHANGED and not written twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.domain.students import StudentView
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.ledger import service as ledger
from services.sync_hub.matching import fallback, kip, scalar
from services.sync_hub.matching import model_store as models
from services.sync_hub.matching.frames import Registry, students_frame
from services.sync_hub.matching.kip import LinkedKip
from services.sync_hub.matching.service import MatchDecision, Matcher, to_rows
from services.sync_hub.mirror import service as mirror
from services.sync_hub.replica import service as replica
from services.sync_hub.replica.models import ReplicaKipRow
from services.sync_hub.replica.slice import keys_for
from services.sync_hub.review import service as review_service
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs.models import SyncRunRow
from services.sync_hub.sync import lifecycle
from services.sync_hub.sync.plan import PlannedItem, Source, desired_kip, desired_pkh, diff, pkh_source
from services.sync_hub.sync.push import Pusher
from shared.clock import utcnow
from shared.contracts.common import MatchKey
from shared.contracts.hub import SourceSystem, UnitStatus
from shared.contracts.kemensos import KipIssuance
from shared.db import SQLITE_IMMEDIATE, one_of, session_scope
from shared.regions import code_range

log = logging.getLogger("jembatan.hub.unit")

# a unit of at most this many students is decided on the scalar path (``Matcher.match_few``), larger ones on the
# batch path (``Matcher.match`` over ``replica.registry_for``): same decisions, whichever is cheaper (h-decide3: 400;
# h-decide4, the scalar fallback's slice indexed for its students only: the scalar path cheaper up to ~900 Dapodik
# students a unit, equal at ~1,000, dearer from ~2,000; EMIS cheaper at 888; see docs/benchmarks.md)
SCALAR_UNIT_MAX = 800

@dataclass
class UnitTally:
    outcomes: Counter[str] = field(default_factory=Counter)
    values_unchanged: int = 0
    kip_linked: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def phase(self, name: str, start: float) -> None:
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 3)


def work(ctx: JobContext, unit_id: str) -> None:
    """Run one unit to its end (raises ``shared.http.Unavailable`` when an upstream cannot be reached: the
    queue tries the unit again later)."""
    started = lifecycle.begin(ctx.db, unit_id)
    if started is None:
        lifecycle.finish_run_if_done(ctx, unit_id)
        return
    unit, run = started
    system = SourceSystem(unit.system)
    tally = UnitTally()

    def cancelled() -> bool:
        with session_scope(ctx.db) as session:
            return bool(session.execute(sa.select(SyncRunRow.cancel_requested).where(
                SyncRunRow.id == run.id)).scalar())

    signer = ledger_keys.signer(ctx.settings.ledger_key_file, ctx.settings.database_url)
    pusher = Pusher(ctx.db, ctx.upstreams, system, unit.id, cancelled, signer, ctx.settings.ledger_checkpoint_every)
    t = time.perf_counter()
    pusher.replay(unit.region, ctx.settings.push_batch)
    tally.phase("replay", t)

    t = time.perf_counter()
    with session_scope(ctx.db) as session:
        stored = mirror.in_region(session, system, unit.region)
    students = [s.view for s in stored]
    regions = {s.view.student_id: s.region for s in stored if s.region}
    tally.phase("read", t)

    t = time.perf_counter()
    decisions, kips, model_version = _decide(ctx, run.model_version, stored, students, regions)
    tally.phase("match", t)
    t = time.perf_counter()
    review_service.sync_cases(ctx.db, run.id, students, decisions)
    tally.phase("review_queue", t)

    retrieved_at = utcnow()
    planned: list[PlannedItem] = []
    for student, decision, card in zip(students, decisions, kips, strict=True):
        tally.outcomes[decision.outcome.value] += 1
        items, desired = _plan(student, decision, card, retrieved_at)
        planned.extend(items)
        tally.values_unchanged += desired - sum(i.field_count for i in items)
    tally.kip_linked = sum(1 for k in kips if k is not None)

    t = time.perf_counter()
    complete = pusher.push(run.id, planned, run.registry_seq, ctx.settings.push_batch)
    tally.phase("push", t)

    t = time.perf_counter()
    now = utcnow()
    with session_scope(ctx.db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        lifecycle.record(session, run.id, system, students, decisions, regions, now)
        row = runs_repo.get_unit(session, unit.id, lock=True)
        assert row is not None
        tally.phase("record", t)
        row.status = (UnitStatus.CANCELLED if not complete else UnitStatus.FAILED if pusher.tally.rejected
                      else UnitStatus.SUCCEEDED).value
        row.finished_at = now
        row.students = len(students)
        row.outcomes = dict(sorted(tally.outcomes.items()))
        row.values_written, row.values_unchanged = pusher.tally.values_written, tally.values_unchanged
        row.provenance_records = pusher.tally.provenance_records + pusher.tally.reconciled
        row.kip_linked, row.stale = tally.kip_linked, len(pusher.tally.stale)
        row.timings = {**tally.timings, "model": model_version or "none"}  # type: ignore[dict-item]
        row.errors = pusher.tally.rejected[:20]
    ledger.checkpoint(ctx.db, signer)  # what the unit ledgered is covered by a signed checkpoint
    log.info("unit %s (%s %s) %s: %d students, %d values written, %d stale", unit.id, system.value, unit.region,
             row.status, len(students), pusher.tally.values_written, len(pusher.tally.stale))
    lifecycle.finish_run_if_done(ctx, unit.id)


# -- deciding ---------------------------------------------------------------------------------------------------


def _decide(ctx: JobContext, model_version: str | None, stored: list[mirror.Stored], students: list[StudentView],
            regions: dict[str, str]) -> tuple[list[MatchDecision], list[LinkedKip | KipIssuance | None], str | None]:
    """Decide with the run's model (pinned by its plan: a refit during the run changes nothing); a run planned on
    an empty registry has none, and its students have no fallback candidate either."""
    if not students:
        return [], [], None
    chosen = models.ModelStore(ctx.db).get(model_version) if model_version else None
    settings = fallback.Settings(threads=ctx.settings.match_threads)
    reviewed = review_service.standing_decisions(ctx.db, students)
    if chosen is not None and len(students) <= SCALAR_UNIT_MAX:
        # a small unit: the check's scalar path (``Matcher.match_few``, the same decisions: a property test holds
        # both paths equal); the batch path's fixed cost (hundreds of small frame operations) would dominate
        rows = scalar.students(to_rows(students, regions))
        matcher = Matcher(Registry.empty(), settings, model=chosen.model, model_version=chosen.version)
        with session_scope(ctx.db) as session:  # ``widen`` reads through the session
            keys, widen = keys_for(session, rows)
            decisions = matcher.match_few(students, regions, reviewed, keys, widen, rows)
        stu = scalar.frame(rows) if students[0].system is SourceSystem.DAPODIK else None
    else:
        stu = students_frame(to_rows(students, regions))  # made once: the slice, the matcher and the KIP cards read it
        registry = replica.registry_for_students(ctx.db, stu)
        matcher = Matcher(registry, settings, model=chosen.model if chosen else None,
                          model_version=chosen.version if chosen else None)
        decisions = matcher.match(students, regions, reviewed, frame=stu)
    kips: list[LinkedKip | KipIssuance | None] = [None] * len(students)
    if stu is not None and students[0].system is SourceSystem.DAPODIK:
        kips = list(_kips(ctx.db, stored, stu, matcher.model))
    return decisions, kips, matcher.model_version


def _kips(db: Engine, stored: list[mirror.Stored], stu: pl.DataFrame, model: fallback.Model | None
          ) -> list[LinkedKip | None]:
    """The KIP card of each student (``matching.kip``): the cards issued in the unit's province and those whose NIK
    is one of its students'. Row-aligned with ``stored`` (and ``stu``, their ``students_frame``)."""
    provinces = sorted({s.region[:2] for s in stored if s.region})
    niks = sorted({s.view.nik for s in stored if s.view.nik})
    with session_scope(db) as session:
        cards = _cards(session, provinces, niks)
    if not cards:
        return [None] * len(stored)
    links = kip.link(stu, [s.bentuk for s in stored], kip.cards_frame_json(cards), model)
    return kip.to_students(links, cards, len(stored))


def _cards(session: sa.orm.Session, provinces: list[str], niks: list[str]) -> list[str]:
    """The cards' JSON (``KipIssuance``), in ``no_kip`` order."""
    table = ReplicaKipRow.__table__  # type: ignore[attr-defined]
    found: dict[str, str] = {}
    for province in provinces:
        stmt = sa.select(table.c.no_kip, table.c.payload).where(code_range(table.c.kode_wilayah, province))
        found.update({r[0]: r[1] for r in session.execute(stmt)})
    where, bind = one_of(session, table.c.nik, "niks")  # the NIKs bound as one JSON text, not one parameter each
    stmt = sa.select(table.c.no_kip, table.c.payload).where(where)
    for start in range(0, len(niks), 20_000):
        found.update({r[0]: r[1] for r in session.execute(stmt, {"niks": bind(niks[start:start + 20_000])})})
    return [found[k] for k in sorted(found)]


def _plan(student: StudentView, decision: MatchDecision, card: KipIssuance | None, retrieved_at: datetime
          ) -> tuple[list[PlannedItem], int]:
    """The items to push for one student, and how many values it should hold in all."""
    items: list[PlannedItem] = []
    wanted = desired_pkh(student.system, decision, card)
    desired = len(wanted) + 2  # + outcome and its detail
    pkh_item = diff(student, decision.outcome, decision.detail, wanted, pkh_source(decision, retrieved_at))
    if pkh_item:
        items.append(pkh_item)
    if card is not None:
        source = Source("kemensos.kip", f"kip/{card.no_kip}", card.version, retrieved_at,
                        card.matched_by if isinstance(card, LinkedKip) else MatchKey.NIK)
        kip_wanted = desired_kip(card)
        desired += len(kip_wanted)
        kip_item = diff(student, None, None, kip_wanted, source)
        if kip_item:
            items.append(kip_item)
    return items, desired


__all__ = ["work"]
