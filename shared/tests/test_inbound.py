"""``shared.inbound.storage_problems``: why neither gateway database could store a hub result item, in one wording
for both gateways (field, rule, words)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contracts.common import MAX_BIGINT, HubResultItem
from shared.inbound import storage_problems

WRITABLE = ("no_kks", "penerima_pkh")


def item(**change: Any) -> HubResultItem:
    provenance = {"provenance_id": "p-1", "sync_run_id": "run-1", "source_system": "kemensos.dtsen",
                  "source_record": "keluarga/1", "source_version": 1, "observed_seq": 10,
                  "retrieved_at": datetime(2026, 1, 2, tzinfo=UTC), "matched_by": "nik_ibu",
                  **change.pop("provenance", {})}
    return HubResultItem.model_validate({"student_id": "s-1", "values": {"no_kks": "KKS-1"},
                                         "provenance": provenance, **change})


def test_a_storable_item_has_no_problem() -> None:
    assert storage_problems(item(outcome_detail="KPM aktif"), WRITABLE) == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"values": {"nama": "x"}}, "values: not_writable: fields not writable by the hub: nama"),
    ({"student_id": "a\x00b"}, "student_id: nul_character: text neither database can store"),
    ({"outcome_detail": "a\x00b"}, "outcome_detail: nul_character: text neither database can store"),
    ({"values": {"no_kks": "a\x00"}}, "values.no_kks: nul_character: text neither database can store"),
    ({"provenance": {"source_record": "\ud800"}}, "provenance.source_record: not_utf8: text neither database"),
    ({"provenance": {"observed_seq": MAX_BIGINT + 1}},
     f"provenance.observed_seq: less_than_equal: must be at most {MAX_BIGINT}"),
    ({"provenance": {"source_version": 2**64}}, "provenance.source_version: less_than_equal"),
    ({"provenance": {"retrieved_at": datetime(2026, 1, 2)}}, "provenance.retrieved_at: timezone_aware"),
    ({"provenance": {"retrieved_at": "0001-01-01T00:00:00+05:00"}}, "provenance.retrieved_at: datetime_range"),
])
def test_each_problem_names_the_field_and_the_rule(change: dict[str, Any], problem: str) -> None:
    [got] = storage_problems(item(**change), WRITABLE)
    assert got.startswith(problem)


def test_every_problem_of_an_item_is_named() -> None:
    got = storage_problems(item(student_id="\x00", provenance={"observed_seq": 2**63, "provenance_id": "\x00"}),
                           WRITABLE)
    assert [p.split(":")[0] for p in got] == ["student_id", "provenance.provenance_id", "provenance.observed_seq"]
