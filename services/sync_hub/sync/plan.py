"""What the hub wants each student's record to hold, and the smallest item that gets it there (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.sync_hub.domain.students import OUTCOME_FIELDS, FieldValue, StudentView
from services.sync_hub.matching.service import MatchDecision
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import SourceSystem
from shared.contracts.kemensos import KipIssuance

# Only a family found by a verified key says "not a recipient". NOT_REGISTERED does not: the NIK that
# found nothing may itself be wrong, so writing "false" could take a real recipient's status away.
KNOWN_NOT_RECIPIENT = {Outcome.NOT_PKH_RECIPIENT}


@dataclass(frozen=True, slots=True)
class Source:
    system: str
    record: str
    version: int
    retrieved_at: datetime
    matched_by: MatchKey


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """An item to push: only the values that differ from what the gateway holds."""

    student_id: str
    outcome: Outcome | None
    detail: str | None
    values: dict[str, FieldValue]
    source: Source

    @property
    def field_count(self) -> int:
        return len(self.values) + (2 if self.outcome is not None else 0)


def pkh_source(decision: MatchDecision, retrieved_at: datetime) -> Source:
    if decision.family is not None:
        return Source("kemensos.dtsen", f"keluarga/{decision.family.no_kk}", decision.family.version,
                      retrieved_at, decision.matched_by)
    if decision.matched_by is MatchKey.REVIEW:
        return Source("jembatan.review", f"decision/{decision.evidence.get('review_decision', '')}"[:80], 0,
                      retrieved_at, decision.matched_by)
    if decision.outcome in (Outcome.NOT_REGISTERED, Outcome.NIK_MISMATCH):
        return Source("kemensos.dtsen", "nik-lookup", 0, retrieved_at, decision.matched_by)
    return Source("jembatan.nik-rules", "student-record", 0, retrieved_at, decision.matched_by)


def desired_pkh(system: SourceSystem, decision: MatchDecision, kip: KipIssuance | None) -> dict[str, FieldValue]:
    """The PKH values for a student. A verified key (or a reviewer) writes the family's status either way.

    ``LINKED_BY_FALLBACK`` is pending confirmation, never "not a recipient": it writes ``true`` (and the
    period) when the family it found is in PKH, and nothing otherwise; the KKS card number of a family
    found without a verified key is not copied. ``IN_REVIEW`` and the outcomes without a family write
    nothing (``NOT_REGISTERED`` neither: the NIK that found nothing may be wrong).
    """
    recipient: bool | None
    family = decision.family
    fallback = decision.outcome is Outcome.LINKED_BY_FALLBACK
    if decision.outcome is Outcome.PKH_RECIPIENT or (fallback and family is not None and family.recipient):
        recipient = True
    elif decision.outcome in KNOWN_NOT_RECIPIENT:
        recipient = False
    else:
        recipient = None  # unknown or pending: never written as "not a recipient"
    no_kks = family.no_kks if family and not fallback else None
    if system is SourceSystem.EMIS:
        return {
            "penerima_pkh": recipient,
            "periode_pkh": family.pkh_periode if family and recipient is not None else None,
            "no_kks": no_kks if recipient is not None else None,
        }
    values: dict[str, FieldValue] = {}
    if recipient is not None:
        values["penerima_kps"] = recipient
        if kip is None and not fallback:  # once a KIP number is linked, it holds no_kps (it replaced the KPS number)
            values["no_kps"] = no_kks if recipient else None
    return values


def desired_kip(kip: KipIssuance) -> dict[str, FieldValue]:
    return {"penerima_kip": True, "no_kip": kip.no_kip, "nm_kip": kip.nama, "no_kps": kip.no_kip}


def diff(student: StudentView, outcome: Outcome | None, detail: str | None, wanted: dict[str, FieldValue],
         source: Source) -> PlannedItem | None:
    """The item that brings ``student`` to ``wanted`` (and the outcome), or None if nothing differs."""
    def differs(name: str, value: FieldValue) -> bool:
        # A value the record holds without the hub's provenance (a default, an operator's entry) is not
        # yet attested: the hub sends it so the gateway records where it comes from.
        return student.current.get(name) != value or name not in student.provenance

    changed = {f: v for f, v in wanted.items() if differs(f, v)}
    send_outcome = None
    if outcome is not None:
        outcome_field, detail_field = OUTCOME_FIELDS[student.system]
        if differs(outcome_field, outcome.value) or differs(detail_field, detail):
            send_outcome = outcome
    if not changed and send_outcome is None:
        return None
    return PlannedItem(student.student_id, send_outcome, detail if send_outcome else None, changed, source)
