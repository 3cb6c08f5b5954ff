"""Applying a KIP SK (decree) batch.

Each issuance names a student by ``peserta_didik_id``; applying it sets ``penerima_kip``, ``no_kip``,
``nm_kip`` and puts the KIP number in ``no_kps`` (it replaces the KPS number), every replaced value kept in
``value_history`` and every written value with provenance naming the SK (source ``<sumber>.sk_kip``, record
``sk/<nomor_sk>``, run ``sk:<nomor_sk>``). Values equal to what the record already holds with provenance
are not written again, so posting the same SK twice changes nothing. An issuance whose student does not
exist here, or whose NISN/NPSN (when given) disagree with the record, is not applied: it is answered
UNMATCHED and kept in ``kip_tidak_cocok`` for manual follow-up (resolved when a later SK applies to the
student).

SKs are ordered by their date (``tanggal_sk``), not by when they are posted: an issuance of an SK dated
before the newest SK that already wrote the student's KIP fields is not applied (answered UNCHANGED, with
a ``detail`` naming the newer SK's date, and counted as a conflict in the sync log), so a delayed older
decree never overwrites a newer one; SKs of the same date apply in posting order. Against the hub's own
KIP results an SK counts as the newest news: its provenance carries a registry sequence one above the
highest the fields reflect, so a hub result observed before the SK is STALE, and one observed after the
registry moved on applies.

Like a school's own edit, an SK is a change of the record: ``last_update`` and ``change_seq`` move (the
hub's feed offers the student again) and the programme rows (``kesejahteraan_pd``) are reconciled.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.kesejahteraan import service as kesejahteraan_service
from services.dapodik_gateway.kip import repository
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.results import service as results_service
from services.dapodik_gateway.sekolah import repository as sekolah_repository
from services.dapodik_gateway.sinkronisasi import service as sync_service
from shared.contracts.common import MatchKey, Page
from shared.contracts.dapodik import (
    KipTidakCocok,
    SkItemStatus,
    SkKipBatch,
    SkKipItem,
    SkKipItemStatus,
    SkKipResponse,
)
from shared.errors import Conflict, FieldError, InvalidInput
from shared.inbound import FieldValue
from shared.nik import normalise

log = logging.getLogger("dapodik_gateway.kip")
KIP_FIELDS = ("penerima_kip", "no_kip", "nm_kip", "no_kps")
_NAMESPACE = uuid.UUID("0b7e3c55-2f1e-4d0a-9c4b-5d7f1a2e6b90")


def _wanted(item: SkKipItem) -> dict[str, FieldValue]:
    return {"penerima_kip": True, "no_kip": item.no_kip, "nm_kip": item.nm_kip, "no_kps": item.no_kip}


def _check(batch: SkKipBatch) -> None:
    """Refuse an SK that names a student twice, gives one KIP number to two students, or holds text no
    database can store: 422 naming each offending field."""
    errors: list[FieldError] = []
    seen_pd: dict[str, int] = {}
    seen_kip: dict[str, int] = {}
    for i, item in enumerate(batch.items):
        if (first := seen_pd.get(item.peserta_didik_id)) is not None:
            errors.append(FieldError(field=f"items[{i}].peserta_didik_id", rule="duplicate",
                                     message=f"the SK names this student already at items[{first}]"))
        seen_pd.setdefault(item.peserta_didik_id, i)
        if (first := seen_kip.get(item.no_kip)) is not None:
            errors.append(FieldError(field=f"items[{i}].no_kip", rule="duplicate",
                                     message=f"the SK gives this KIP number already at items[{first}]"))
        seen_kip.setdefault(item.no_kip, i)
        if rule := unstorable_text(item.nm_kip):
            errors.append(FieldError(field=f"items[{i}].nm_kip", rule=rule, message="text no database can store"))
    if rule := unstorable_text(batch.sk.nomor_sk):
        errors.append(FieldError(field="sk.nomor_sk", rule=rule, message="text no database can store"))
    if errors:
        raise InvalidInput(f"{len(errors)} problem(s) in the SK", errors)


def _unmatched_contract(row: Any) -> KipTidakCocok:
    return KipTidakCocok(id=row["id"], nomor_sk=row["nomor_sk"], tanggal_sk=row["tanggal_sk"],
                         peserta_didik_id=row["peserta_didik_id"], no_kip=row["no_kip"], nm_kip=row["nm_kip"],
                         nisn=row["nisn"], npsn=row["npsn"], alasan=row["alasan"], created_at=row["created_at"],
                         resolved_at=row["resolved_at"])


def apply_sk(session: Session, batch: SkKipBatch, client: str) -> SkKipResponse:
    _check(batch)
    now = datetime.now(UTC)
    meta, conn = batch.sk, session.connection()
    # The gateway's lock order (README, *Locks*): the change counter, the SK's row, the students in id order.
    sync_service.begin_change(conn)
    stored = repository.sk(conn, meta.nomor_sk)
    if stored is not None and (stored["tanggal_sk"], stored["sumber"]) != (meta.tanggal_sk, meta.sumber):
        raise Conflict.field("sk.nomor_sk", "conflicts_with_stored_sk",
                             f"SK {meta.nomor_sk} was applied before with tanggal_sk {stored['tanggal_sk']} and "
                             f"sumber {stored['sumber']}: one number, one decree")
    ids = [item.peserta_didik_id for item in batch.items]
    fields = (*results_service.LOADED_FIELDS, "nisn")
    rows = pd_repository.lock_hub_values(session, ids, fields)
    states = results_repository.hub_states(session, list(rows), KIP_FIELDS)
    newest_sk = repository.latest_sk_dates(conn, list(rows), KIP_FIELDS)
    npsn_of = sekolah_repository.npsn_of(session, sorted({sid for sid, _ in rows.values()}))
    run_id = f"sk:{meta.nomor_sk}"
    source = {"sync_run_id": run_id, "source_system": f"{meta.sumber}.sk_kip", "source_record": f"sk/{meta.nomor_sk}",
              "source_version": 0, "retrieved_at": now, "matched_by": MatchKey.NONE.value, "written_at": now}
    writes = results_repository.Writes()
    results: list[SkKipItemStatus] = []
    unmatched: list[dict[str, Any]] = []
    changed: dict[str, dict[str, FieldValue]] = {}
    log_outcomes: list[tuple[str, str]] = []
    for item in batch.items:
        pid = item.peserta_didik_id
        reason = None
        if pid not in rows:
            reason = "unknown_peserta_didik_id"
        elif item.nisn is not None and normalise(rows[pid][1].get("nisn")) != item.nisn:  # type: ignore[arg-type]
            reason = "nisn_mismatch"
        elif item.npsn is not None and npsn_of.get(rows[pid][0]) != item.npsn:
            reason = "npsn_mismatch"
        if reason is not None:
            unmatched.append({"nomor_sk": meta.nomor_sk, "peserta_didik_id": pid, "no_kip": item.no_kip,
                              "nm_kip": item.nm_kip, "nisn": item.nisn, "npsn": item.npsn, "alasan": reason,
                              "created_at": now, "resolved_at": None})
            results.append(SkKipItemStatus(peserta_didik_id=pid, no_kip=item.no_kip, status=SkItemStatus.UNMATCHED,
                                           detail=reason))
            continue
        sekolah_id, held = rows[pid]
        state = states[pid]
        if (newer := newest_sk.get(pid)) is not None and newer > meta.tanggal_sk:
            results.append(SkKipItemStatus(peserta_didik_id=pid, no_kip=item.no_kip, status=SkItemStatus.UNCHANGED,
                                           detail=f"superseded: the KIP values come from an SK dated {newer}, "
                                                  f"after this SK ({meta.tanggal_sk})"))
            log_outcomes.append((sekolah_id, sync_service.KONFLIK))
            continue
        changes = {f: v for f, v in _wanted(item).items() if f not in state.attested or held[f] != v}
        if not changes:
            results.append(SkKipItemStatus(peserta_didik_id=pid, no_kip=item.no_kip, status=SkItemStatus.UNCHANGED))
            log_outcomes.append((sekolah_id, sync_service.UNCHANGED))
            continue
        seq = max((state.seqs.get(f, -1) for f in KIP_FIELDS), default=-1) + 1
        prov_id = str(uuid.uuid5(_NAMESPACE, f"{meta.nomor_sk}/{pid}"))
        first = not (state.attested & set(changes))
        for name, new in changes.items():
            old = held[name]
            writes.provenance.append({**source, "peserta_didik_id": pid, "field": name, "provenance_id": prov_id,
                                      "observed_seq": seq, "value": results_repository.to_json(new)})
            if not (old == new and type(old) is type(new)):
                writes.history.append({"peserta_didik_id": pid, "field": name,
                                       "old_value": results_repository.to_json(old),
                                       "new_value": results_repository.to_json(new), "changed_at": now,
                                       "source": "sk", "changed_by": client, "provenance_id": prov_id})
                writes.history_prov.append(len(writes.provenance) - 1)
            held[name] = new
            state.attested.add(name)
            state.seqs[name] = seq
        changed[pid] = held
        results.append(SkKipItemStatus(peserta_didik_id=pid, no_kip=item.no_kip, status=SkItemStatus.APPLIED,
                                       fields_written=list(changes)))
        log_outcomes.append((sekolah_id, sync_service.CREATE if first else sync_service.UPDATE))

    new_unmatched = [u for u in unmatched if u["peserta_didik_id"] not in
                     (repository.known_unmatched(conn, meta.nomor_sk) if stored is not None else set())]
    n_applied = sum(1 for r in results if r.status is SkItemStatus.APPLIED)
    if stored is None or changed or new_unmatched:  # a repeated SK writes nothing at all
        repository.save_sk(conn, {"nomor_sk": meta.nomor_sk, "tanggal_sk": meta.tanggal_sk, "sumber": meta.sumber,
                                  "first_received_at": now, "last_received_at": now, "client": client,
                                  "n_items": len(batch.items), "n_applied": n_applied,
                                  "n_unmatched": len(unmatched)}, exists=stored is not None)
        repository.add_unmatched(conn, new_unmatched)
    if changed:
        results_repository.write(session, writes)
        pd_repository.set_hub_values(session, changed, results_service.TRACKED_FIELDS, now)
        pd_repository.mark_changed(session, list(changed), now, sync_service.next_change_seq(conn))
        sources = {pid: {f: source["source_system"] for f in KIP_FIELDS} for pid in changed}
        kesejahteraan_service.reconcile(conn, changed, sources, now)
        repository.resolve(conn, list(changed), now)
        sync_service.record_batch(session, run_id, client, now, datetime.now(UTC), log_outcomes)
    log.info("SK %s from %s: %d items, %d applied, %d unmatched", meta.nomor_sk, client, len(batch.items),
             n_applied, len(unmatched))
    return SkKipResponse(
        nomor_sk=meta.nomor_sk, n_applied=n_applied,
        n_unchanged=sum(1 for r in results if r.status is SkItemStatus.UNCHANGED), n_unmatched=len(unmatched),
        results=results, unmatched=[_unmatched_contract(r) for r in repository.unmatched_of_sk(conn, meta.nomor_sk)])


def unmatched(session: Session, npsn: str | None, nomor_sk: str | None, include_resolved: bool, cursor: str | None,
              limit: int) -> Page[KipTidakCocok]:
    after = paging.parse_seq_cursor(cursor)
    if nomor_sk is not None and (rule := unstorable_text(nomor_sk)):
        raise InvalidInput.field("nomor_sk", rule, "text no database can store")
    rows = repository.unmatched(session, npsn, nomor_sk, include_resolved, after, limit)
    page = rows[:limit]
    next_cursor = paging.SeqCursor(page[-1]["id"]).encode() if len(rows) > limit else None
    return Page[KipTidakCocok](items=[_unmatched_contract(r) for r in page], next_cursor=next_cursor)
