"""How a gateway applies one hub result to one student: the rule both gateways share.

Pure: given what the record holds now, decide what the item changes. The gateway's repository then
writes the changed values, one provenance row per changed field and a history row per old value, in
one transaction with the rest of the batch item (all-or-nothing per record).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from shared.contracts.common import MAX_BIGINT, HubResultItem, ResultStatus
from shared.db import unstorable_text

FieldValue = str | bool | int | None

# The outcome and its detail are stored like any other hub-written field, under these names.
OUTCOME_FIELD = "status"
DETAIL_FIELD = "keterangan"


class _Unattested:
    """Stands for the value of a field the hub never wrote: equal to nothing the hub sends, so the first time the
    hub sends a value the record already holds (say a KKS number of null), it is recorded with its provenance."""

    def __repr__(self) -> str:
        return "<unattested>"


UNATTESTED = _Unattested()


def _texts(item: HubResultItem) -> list[tuple[str, str]]:
    p = item.provenance
    out = [("student_id", item.student_id), ("provenance.provenance_id", p.provenance_id),
           ("provenance.sync_run_id", p.sync_run_id), ("provenance.source_system", p.source_system),
           ("provenance.source_record", p.source_record)]
    if item.outcome_detail is not None:
        out.append(("outcome_detail", item.outcome_detail))
    return out + [(f"values.{k}", v) for k, v in item.values.items() if isinstance(v, str)]


def storage_problems(item: HubResultItem, writable: Collection[str]) -> list[str]:
    """Why neither gateway database could store ``item``, whatever the record holds (empty when it could), each as
    ``field: rule: words``: a field the hub may not write, a text holding a NUL or not UTF-8, a provenance number
    past BIGINT, a retrieval time without a zone or beyond what UTC holds. The request was valid JSON for the
    contract; such an item is REJECTED on its own and the rest of its batch goes on. A gateway adds the rules of
    its own columns (types, lengths)."""
    problems: list[str] = []
    unknown = sorted(set(item.values) - set(writable))
    if unknown:
        problems.append(f"values: not_writable: fields not writable by the hub: {', '.join(unknown)}")
    texts = _texts(item)
    if unstorable_text("".join(text for _, text in texts)):  # one look at all of them; each only if needed
        problems += [f"{where}: {rule}: text neither database can store"
                     for where, text in texts if (rule := unstorable_text(text))]
    p = item.provenance
    for name, number in (("source_version", p.source_version), ("observed_seq", p.observed_seq)):
        if number > MAX_BIGINT:
            problems.append(f"provenance.{name}: less_than_equal: must be at most {MAX_BIGINT}")
    if p.retrieved_at.tzinfo is None:
        problems.append("provenance.retrieved_at: timezone_aware: needs a time zone")
    else:
        try:
            p.retrieved_at.astimezone(UTC)
        except OverflowError:
            problems.append("provenance.retrieved_at: datetime_range: beyond what UTC can represent")
    return problems


@dataclass(frozen=True, slots=True)
class Decision:
    status: ResultStatus
    changes: dict[str, FieldValue] = field(default_factory=dict)  # field -> new value
    detail: str | None = None


def decide(
    item: HubResultItem,
    current: Mapping[str, FieldValue],
    observed_seq: Mapping[str, int],
    writable: Sequence[str],
    outcome_field: str,
    detail_field: str,
) -> Decision:
    """Decide the effect of ``item`` on a record.

    ``current`` holds the record's present value of every writable field (and the outcome fields);
    ``observed_seq`` the registry sequence at which the hub observed each value it wrote (absent for
    values the hub never wrote). Rules:

    * a field outside ``writable`` rejects the whole item;
    * if any field the item touches was written from a *newer* observation, the item is STALE and
      nothing changes (a value derived from an older registry version never overwrites a newer one);
    * values equal to what the record holds are not rewritten; no change at all is UNCHANGED.
    """
    unknown = sorted(set(item.values) - set(writable))
    if unknown:
        return Decision(ResultStatus.REJECTED, detail=f"fields not writable by the hub: {', '.join(unknown)}")
    wanted: dict[str, FieldValue] = dict(item.values)
    if item.outcome is not None:
        wanted[outcome_field] = item.outcome.value
        wanted[detail_field] = item.outcome_detail
    incoming = item.provenance.observed_seq
    newer = sorted(f for f in wanted if observed_seq.get(f, -1) > incoming)
    if newer:
        return Decision(ResultStatus.STALE, detail=f"record holds newer values for: {', '.join(newer)}")
    changes = {f: v for f, v in wanted.items() if current.get(f) != v}
    if not changes:
        return Decision(ResultStatus.UNCHANGED)
    return Decision(ResultStatus.APPLIED, changes)
