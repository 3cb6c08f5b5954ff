"""A build of a period's families-at-risk report: read (``repository.inputs``), decide (``service.build``), write
(``repository.replace``), in the caller's transaction. The last stage of a run (``sync.lifecycle.move_on``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from services.sync_hub.risk import repository, service
from services.sync_hub.verification.service import Period
from shared.clock import utcnow

log = logging.getLogger("jembatan.hub.risk")


@dataclass(frozen=True)
class Built:
    build_id: str
    counts: dict[str, Any]
    seconds: dict[str, float]


def rebuild(session: Session, periode: str, run_id: str) -> Built:
    """Replace ``periode``'s report with one built from the hub's tables as they stand in ``session`` — unless
    nothing it reads has moved since the period's current build (``repository.inputs_stamp``): that build is kept
    (``seconds`` then has ``kept``), so a run that changed nothing costs no report."""
    period = Period.parse(periode)
    t0 = time.perf_counter()
    stamp = repository.inputs_stamp(session, period)
    current = repository.current_build(session, periode)
    if current is not None and current.inputs == stamp:
        seconds = {"stamp": round(time.perf_counter() - t0, 3), "kept": 1.0}
        log.info("families at risk %s (run %s): inputs unchanged since build %s, kept", periode, run_id,
                 current.build_id)
        return Built(current.build_id, dict(current.counts), seconds)
    got = repository.inputs(session, period)
    t1 = time.perf_counter()
    rows = service.build(period, got.members, got.linked, got.verified, got.unlinked, got.attributions)
    counts = service.counts(rows)
    t2 = time.perf_counter()
    build_id = repository.replace(session, periode, rows, counts, run_id, utcnow(), stamp)
    t3 = time.perf_counter()
    seconds = {"read": round(t1 - t0, 3), "rules": round(t2 - t1, 3), "write": round(t3 - t2, 3)}
    log.info("families at risk %s (run %s): %s families, %s rows, %s", periode, run_id, counts["families"],
             rows.height, seconds)
    return Built(build_id, counts, seconds)
