"""Request Data PKH for one student: the record is sent to the sync hub (``HubClient.check``), which decides
from its registry replica and answers with the outcome and the values to write (result items with
provenance); they are applied here with the results service, in one transaction, before the answer goes out.

No transaction is open while the hub is asked; a press that writes nothing opens no write transaction. Unlike
EMIS (which queues a request and retries it), Dapodik keeps no queue: when the hub cannot decide (its replica not
ready, the hub unreachable) the operator gets 503 and presses again later; nothing was written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine

from services.dapodik_gateway.peserta_didik import service as peserta_didik_service
from services.dapodik_gateway.pkh import repository
from services.dapodik_gateway.results import service as results_service
from shared.batching import Batches
from shared.clients.hub import Checker, of_a_record
from shared.clock import utcnow
from shared.contracts.common import HubResultBatch
from shared.contracts.dapodik import PermintaanPkh, PesertaDidik
from shared.contracts.hub import MAX_CHECK, CheckRequest, CheckResponse, SourceSystem
from shared.db import SQLITE_IMMEDIATE, session_scope, statement_at_a_time
from shared.errors import NotFound, UpstreamFailure
from shared.http import ClientError, Rejected, Unavailable

log = logging.getLogger("dapodik_gateway.pkh")
CHECK_CLIENT = "hub-check"  # how a check's items are named in the sync log (applied here, not posted by the hub)


def request_student(engine: Engine, hub: Checker | None, peserta_didik_id: str, client: str) -> PermintaanPkh:
    """Two transactions at most: one reads the record the hub is sent (with its school's region; on PostgreSQL in one
    statement with its provenance, months and findings, ``repository.record_with_read_model``, without a
    transaction around it, ``shared.db.statement_at_a_time``); after the hub has answered,
    one applies its items and reads the record back as written. When the hub sends no items (the record holds its
    values already) nothing is written and the answer shows the record as it was sent."""
    if hub is None:
        raise UpstreamFailure("no credential for the hub is configured (DAPODIK_HUB_TOKEN); ask an administrator")
    with session_scope(statement_at_a_time(engine)) as session:  # reads only: no BEGIN/COMMIT on PostgreSQL
        if engine.dialect.name == "postgresql":  # the record and what its read model shows, in one statement
            row, *parts = repository.record_with_read_model(session, peserta_didik_id)
        else:
            row = repository.record_with_region(session, peserta_didik_id)  # type: ignore[assignment]
        if row is None:
            raise NotFound.field("peserta_didik_id", "not_found", "no student with this peserta_didik_id")
        if engine.dialect.name == "postgresql":
            [record] = peserta_didik_service.from_parts([row], *parts)
        else:
            record = peserta_didik_service.with_provenance(session, row)  # type: ignore[arg-type]
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


class Presses:
    """The presses of one app: asked at once, done together (``request_students``), each answered as alone;
    ``in_flight`` batches out at a time (DAPODIK_HUB_CALLS_IN_FLIGHT; 0: every press alone). ``hub`` gives the
    app's hub client when asked (``app.state.hub``)."""

    def __init__(self, engine: Engine, hub: Callable[[], Checker | None], in_flight: int) -> None:
        self.engine, self.hub = engine, hub
        self.batches: Batches[tuple[str, str], PermintaanPkh] | None = (
            Batches(lambda presses: request_students(engine, hub(), presses), key=lambda press: press[0],
                    max_in_flight=in_flight, max_items=MAX_CHECK, span="pkh.presses") if in_flight > 0 else None)

    def request(self, peserta_didik_id: str, client: str) -> PermintaanPkh:
        if self.batches is None:
            return request_student(self.engine, self.hub(), peserta_didik_id, client)
        return self.batches.submit((peserta_didik_id, client))


def request_students(engine: Engine, hub: Checker | None, presses: list[tuple[str, str]]
                     ) -> list[PermintaanPkh | BaseException]:
    """``request_student`` for several presses (distinct students) at once, each answered as alone: one transaction
    reads every record sent (the same statements as one press, each for all of them), one call to the hub, and
    when the hub sends values, one transaction applies them all. A student not found fails only its own press;
    when the hub refuses the call for a reason that may concern one record, each press is asked again alone."""
    def alone(press: tuple[str, str]) -> PermintaanPkh | BaseException:
        try:
            return request_student(engine, hub, *press)
        except Exception as exc:
            return exc

    if hub is None or len(presses) == 1:
        return [alone(p) for p in presses]
    out: list[PermintaanPkh | BaseException | None] = [None] * len(presses)
    with session_scope(statement_at_a_time(engine)) as session:  # reads only: no BEGIN/COMMIT on PostgreSQL
        rows = repository.records_with_region(session, [pid for pid, _ in presses])
        found = [rows[pid] for pid, _ in presses if pid in rows]
        records = {r.peserta_didik_id: r for r in peserta_didik_service.with_provenances(session, found)}
    for k, (pid, _) in enumerate(presses):
        if pid not in rows:
            out[k] = NotFound.field("peserta_didik_id", "not_found", "no student with this peserta_didik_id")
    if not found:
        return [a if a is not None else RuntimeError("unanswered press") for a in out]
    regions = {pid: row[repository.REGION] for pid, row in rows.items() if row[repository.REGION]}
    body = CheckRequest(system=SourceSystem.DAPODIK, peserta_didik=list(records.values()), kode_wilayah=regions)
    try:
        answer: CheckResponse = hub.check(body)
    except ClientError as exc:
        if of_a_record(exc):  # only the press it concerns gets the refusal: each asked again alone
            return [a if a is not None else alone(p) for a, p in zip(out, presses, strict=True)]
        return [a if a is not None else _failure(exc) for a in out]
    applied: dict[str, list[str]] = {}
    written_records: dict[str, PesertaDidik] = {}
    if answer.items:  # nothing to write (the values are already held): no write transaction, no write lock
        with session_scope(engine) as session:  # every press's values and their provenance, in one transaction
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            result = results_service.apply_batch(
                session, HubResultBatch(sync_run_id=answer.check_id, items=answer.items), CHECK_CLIENT)
            for r in result.results:
                applied.setdefault(r.student_id, []).extend(r.fields_written)
            for pid in sorted({i.student_id for i in answer.items} & set(records)):
                written_records[pid] = peserta_didik_service.get_peserta_didik(session, pid)  # as just written
    now = utcnow()
    for k, (pid, client) in enumerate(presses):
        if out[k] is not None:
            continue
        try:
            [outcome] = [o for o in answer.results if o.student_id == pid]
        except ValueError as exc:  # not answered: this press fails as it would alone
            out[k] = exc
            continue
        written = applied.get(pid, [])
        log.info("Request Data PKH by %s: check %s, %s, %d values written", client, answer.check_id,
                 outcome.outcome.value, len(written))
        out[k] = PermintaanPkh(peserta_didik_id=pid, status_padan=outcome.outcome, keterangan_padan=outcome.detail,
                               matched_by=outcome.matched_by, check_id=answer.check_id, nilai_ditulis=written,
                               dijawab_pada=now, peserta_didik=written_records.get(pid, records[pid]))
    return [a if a is not None else RuntimeError("unanswered press") for a in out]


def _failure(exc: ClientError) -> UpstreamFailure:
    """What ``request_student`` raises for the hub's failure ``exc`` (a new one per press: each raises its own)."""
    if isinstance(exc, Unavailable):
        return UpstreamFailure("the hub cannot decide now (registry unreachable or not ready); ask again later")
    if isinstance(exc, Rejected):
        log.warning("Request Data PKH: the hub refused the check (%s)", exc.status)
        return UpstreamFailure(f"the hub refused the check ({exc.status}); ask an administrator")
    return UpstreamFailure(f"unexpected answer from the hub: {type(exc).__name__}")

