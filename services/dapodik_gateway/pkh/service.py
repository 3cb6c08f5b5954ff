"""Request Data PKH for one student: the record is sent to the sync hub (``HubClient.check``), which decides
from its registry replica and answers with the outcome and the values to write (result items with
provenance); they are applied here with the results service, in one transaction, before the answer goes out.

No transaction is open while the hub is asked; a press that writes nothing opens no write transaction. Unlike
EMIS (which queues a request and retries it), Dapodik keeps no queue: when the hub cannot decide (its replica not
ready, the hub unreachable) the operator gets 503 and presses again later; nothing was written.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from services.dapodik_gateway.peserta_didik import service as peserta_didik_service
from services.dapodik_gateway.pkh import repository
from services.dapodik_gateway.results import service as results_service
from shared.clients.coalesce import Checker
from shared.clock import utcnow
from shared.contracts.common import HubResultBatch
from shared.contracts.dapodik import PermintaanPkh
from shared.contracts.hub import CheckRequest, SourceSystem
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.errors import NotFound, UpstreamFailure
from shared.http import ClientError, Rejected, Unavailable

log = logging.getLogger("dapodik_gateway.pkh")
CHECK_CLIENT = "hub-check"  # how a check's items are named in the sync log (applied here, not posted by the hub)


def request_student(engine: Engine, hub: Checker | None, peserta_didik_id: str, client: str) -> PermintaanPkh:
    """Two transactions at most: one reads the record the hub is sent (with its school's region); after the hub
    has answered, one applies its items and reads the record back as written. When the hub sends no items (the
    record holds its values already) nothing is written and the answer shows the record as it was sent."""
    if hub is None:
        raise UpstreamFailure("no credential for the hub is configured (DAPODIK_HUB_TOKEN); ask an administrator")
    with session_scope(engine) as session:
        row = repository.record_with_region(session, peserta_didik_id)
        if row is None:
            raise NotFound.field("peserta_didik_id", "not_found", "no student with this peserta_didik_id")
        record = peserta_didik_service.with_provenance(session, row)
        region = row[repository.REGION]
    body = CheckRequest(system=SourceSystem.DAPODIK, peserta_didik=[record],
                        kode_wilayah={record.peserta_didik_id: region} if region else {})
    try:
        answer = hub.check(body)
    except Unavailable as exc:
        raise UpstreamFailure("the hub cannot decide now (registry unreachable or not ready); ask again later") from exc
    except Rejected as exc:
        log.warning("Request Data PKH: the hub refused the check (%s)", exc.status)
        raise UpstreamFailure(f"the hub refused the check ({exc.status}); ask an administrator") from exc
    except ClientError as exc:
        raise UpstreamFailure(f"unexpected answer from the hub: {type(exc).__name__}") from exc
    [outcome] = [o for o in answer.results if o.student_id == peserta_didik_id]
    written: list[str] = []
    if answer.items:  # nothing to write (the values are already held): no write transaction, no write lock
        with session_scope(engine) as session:  # the values and their provenance, in one transaction
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            applied = results_service.apply_batch(
                session, HubResultBatch(sync_run_id=answer.check_id, items=answer.items), CHECK_CLIENT)
            written = [f for r in applied.results for f in r.fields_written]
            record = peserta_didik_service.get_peserta_didik(session, peserta_didik_id)  # as just written
    now = utcnow()
    log.info("Request Data PKH by %s: check %s, %s, %d values written", client, answer.check_id,
             outcome.outcome.value, len(written))
    return PermintaanPkh(peserta_didik_id=peserta_didik_id, status_padan=outcome.outcome,
                         keterangan_padan=outcome.detail, matched_by=outcome.matched_by, check_id=answer.check_id,
                         nilai_ditulis=written, dijawab_pada=now, peserta_didik=record)
