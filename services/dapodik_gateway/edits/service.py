"""The rules of a change to a student's record made by the school, shared by the operator's edit
(``PATCH /api/v1/peserta-didik/{id}``) and the spreadsheet import.

A change is checked whole against the contract (``PesertaDidikRecord``) after merging it into the record.
A value the hub wrote (it has provenance) is not the school's to change: the hub keeps it in line with the
registry, so such a change is refused (``hub_written``). What is saved: the new values; the old ones in
``value_history`` (``source`` operator or import, ``changed_by`` the client); one change number for the
whole request (the hub's feed offers the students again); validation again (a fix brings a held-back
record back to the feed, a mistake holds one back); the programme rows reconciled.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticUndefined
from sqlmodel import Session

from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.edits import repository
from services.dapodik_gateway.kesejahteraan import service as kesejahteraan_service
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.peserta_didik import service as pd_service
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.sinkronisasi import service as sync_service
from services.dapodik_gateway.validasi import service as validasi_service
from shared import etag
from shared.contracts.dapodik import DAPODIK_HUB_FIELDS, PesertaDidik, PesertaDidikEdit, PesertaDidikRecord
from shared.errors import FieldError, InvalidInput

RECORD_FIELDS = tuple(PesertaDidikRecord.model_fields)
WRITABLE = tuple(f for f in RECORD_FIELDS if f not in ("peserta_didik_id", "sekolah_id"))


def merge(old: Mapping[str, Any] | None, values: Mapping[str, Any], sekolah_id: str) -> dict[str, Any]:
    """The record after the change (ValidationError when it breaks the contract). ``values``: field -> value,
    None for an emptied field (its default, or a violation if the field is required)."""
    record: dict[str, Any] = ({f: old[f] for f in RECORD_FIELDS} if old is not None
                              else {"peserta_didik_id": str(uuid.uuid4()), "sekolah_id": sekolah_id})
    for field, value in values.items():
        if field in ("peserta_didik_id", "sekolah_id"):
            continue
        if value is None:
            default = PesertaDidikRecord.model_fields[field].default
            value = None if default is PydanticUndefined else default
        record[field] = value
    rec = PesertaDidikRecord.model_validate(record)
    return {**rec.model_dump(), "jenis_kelamin": rec.jenis_kelamin.value}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [f for f in WRITABLE if new[f] != old[f]]


def hub_written(session: Session, ids: Sequence[str]) -> dict[str, set[str]]:
    """Per student, the fields whose value the hub (or an SK) wrote."""
    states = results_repository.hub_states(session, list(ids), DAPODIK_HUB_FIELDS)
    return {pid: state.attested for pid, state in states.items()}


def _json(value: Any) -> str:
    return results_repository.to_json(value.isoformat() if isinstance(value, date) else value)


def save(session: Session, creates: list[dict[str, Any]],
         updates: list[tuple[Mapping[str, Any], Mapping[str, Any], list[str]]], source: str, client: str,
         now: datetime | None = None) -> None:
    """Write new students and changed ones (``(new, old, changed fields)``) with everything that follows.
    The caller began the change (``sync_service.begin_change``) and locked the changed students."""
    if not creates and not updates:
        return
    now = now or datetime.now(UTC)
    conn = session.connection()
    seq = sync_service.next_change_seq(conn)
    repository.insert(conn, [{**c, "status_padan": None, "keterangan_padan": None, "status_validasi": None,
                              "create_date": now, "last_update": now, "last_sync": None, "soft_delete": False,
                              "change_seq": seq} for c in creates])
    repository.update(conn, WRITABLE, [{**new, "last_update": now, "change_seq": seq} for new, _, _ in updates])
    repository.add_history(conn, [
        {"peserta_didik_id": new["peserta_didik_id"], "field": f, "old_value": _json(old[f]),
         "new_value": _json(new[f]), "changed_at": now, "source": source, "changed_by": client,
         "provenance_id": None, "field_provenance_id": None}
        for new, old, fields in updates for f in fields])
    ids = [c["peserta_didik_id"] for c in creates] + [new["peserta_didik_id"] for new, _, _ in updates]
    validasi_service.revalidate(conn, ids, now)
    kesejahteraan_service.reconcile_ids(
        conn, ids, {new["peserta_didik_id"]: dict.fromkeys(fields, "sekolah") for new, _, fields in updates}, now)


def edit(session: Session, peserta_didik_id: str, change: PesertaDidikEdit, client: str,
         if_match: str | None = None) -> PesertaDidik:
    """An operator's edit of one student: the fields the body gives, all or nothing. The counter, then the
    student's row, are locked before the record is read (the gateway's lock order, README *Locks*). ``if_match``:
    the ETag the operator read; 412 when the record has changed since (``shared.etag``)."""
    sync_service.begin_change(session.connection())
    pd_repository.lock(session, [peserta_didik_id])
    old = pd_service.require_record(session, peserta_didik_id)
    if if_match is not None:
        etag.check(if_match, pd_service.get_peserta_didik(session, peserta_didik_id))
    values = {f: getattr(change, f) for f in change.model_fields_set}
    bad = [FieldError(field=f, rule=rule, message="text no database can store") for f, v in values.items()
           if isinstance(v, str) and (rule := unstorable_text(v))]
    if bad:
        raise InvalidInput("text no database can store", bad)
    try:
        new = merge(old, values, old["sekolah_id"])
    except ValidationError as exc:
        raise InvalidInput("the record would break the contract", [
            FieldError(field=".".join(str(p) for p in e["loc"]) or "-", rule=e["type"], message=e["msg"])
            for e in exc.errors(include_url=False, include_input=False)]) from exc
    changed = diff(old, new)
    blocked = sorted(set(changed) & hub_written(session, [peserta_didik_id]).get(peserta_didik_id, set()))
    if blocked:
        raise InvalidInput("values the hub wrote are not changed by hand", [
            FieldError(field=f, rule="hub_written", message="the hub wrote this value (see the student's "
                       "provenance); it follows the registry") for f in blocked])
    save(session, [], [(new, old, changed)] if changed else [], "operator", client)
    return pd_service.get_peserta_didik(session, peserta_didik_id)
