"""How a gateway applies one hub result to one student: the rule both gateways share.

Pure: given what the record holds now, decide what the item changes. The gateway's repository then
writes the changed values, one provenance row per changed field and a history row per old value, in
one transaction with the rest of the batch item (all-or-nothing per record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.contracts.common import HubResultItem, ResultStatus

FieldValue = str | bool | int | None

# The outcome and its detail are stored like any other hub-written field, under these names.
OUTCOME_FIELD = "status"
DETAIL_FIELD = "keterangan"


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
