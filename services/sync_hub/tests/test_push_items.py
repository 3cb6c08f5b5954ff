"""``sync.push.items_json``: the result items' JSON made without a pydantic model per item is the text
``HubResultItem.model_dump_json`` writes, and the record hashes are ``ledger.stamp``'s; values the model would
convert or refuse still go through the model."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum

import pytest
from pydantic import ValidationError

from services.sync_hub.sync import push
from services.sync_hub.sync.plan import PlannedItem, Source
from shared.contracts.common import HubResultBatch, HubResultItem, MatchKey, Outcome, Provenance
from shared.contracts.hub import SourceSystem

TEXT = "ab Z09-_/\\\"'{}:,é日本🙂\u00a0\u2028\x00\x01\x08\x0c\x1f\x7f\t\n\r"


def _text(rng: random.Random, most: int = 20) -> str:
    return "".join(rng.choice(TEXT) for _ in range(rng.randrange(0, most)))


def _value(rng: random.Random) -> object:
    return rng.choice([None, True, False, 0, 1, -7, 2**53 + 1, 10**20, _text(rng), "", "true", "null"])


def _planned(rng: random.Random, n: int) -> list[PlannedItem]:
    times = [datetime(2026, 12, 4, 21, 0, 0, 0, tzinfo=UTC),  # no microseconds: no fraction written
             datetime(2026, 12, 4, 21, 0, 0, 1234, tzinfo=UTC),
             datetime(2026, 12, 5, 4, 0, 0, 5, tzinfo=timezone(timedelta(hours=7))),  # equal to the first + 5 µs
             datetime(2026, 12, 4, 21, 0, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
             datetime(2026, 12, 4, 21, 0, 0)]  # naive
    out = []
    for _ in range(n):
        outcome = rng.choice([None, *Outcome])
        values = {rng.choice(["penerima_pkh", "no_kip", "status_pkh", _text(rng, 8)]): _value(rng)
                  for _ in range(rng.randrange(0, 6))}
        out.append(PlannedItem(
            _text(rng, 64), outcome, rng.choice([None, _text(rng, 300)]), values,
            Source(_text(rng), _text(rng), rng.choice([0, 3, 2**40]), rng.choice(times), rng.choice(list(MatchKey)))))
    return out


@pytest.fixture
def ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The items' provenance ids the same in both ways of making them."""
    monkeypatch.setattr(push, "uuid7_texts", lambda n: [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("system", [SourceSystem.EMIS, SourceSystem.DAPODIK])
@pytest.mark.usefixtures("ids")
def test_items_json_is_what_the_model_writes_with_the_same_record_hashes(seed: int, system: SourceSystem) -> None:
    rng = random.Random(seed)
    batch = _planned(rng, 40)
    run_id, seq = _text(rng, 36), rng.choice([0, 10, 2**40])
    items, payloads = push.items_json(run_id, batch, seq, system)
    models = push.to_items(run_id, batch, seq, system)
    assert payloads == [m.model_dump_json() for m in models]
    assert all(type(i) is push.SentItem for i in items)  # not the model's way
    for item, model in zip(items, models, strict=True):
        assert item.provenance.record_hashes == model.provenance.record_hashes
        assert push._values(system, item) == push._values(system, model)
    assert HubResultBatch.model_validate_json(push._body(run_id, payloads)).items == models


class Level(IntEnum):
    ONE = 1


@pytest.mark.usefixtures("ids")
@pytest.mark.parametrize("change", [
    {"values": {"kelas": Level.ONE}},  # an int subclass: the model keeps it as an int
    {"values": {"ratio": 1.5}},  # a float: the model refuses it
    {"student_id": "x" * 65},  # too long: refused
    {"detail": "x" * 301},
])
def test_items_the_model_would_convert_or_refuse_go_through_it(change: dict[str, object]) -> None:
    base = _planned(random.Random(1), 3)
    fields = {"student_id": "s1", "outcome": Outcome.PKH_RECIPIENT, "detail": "d", "values": {"a": 1},
              "source": base[0].source}
    odd = PlannedItem(**{**fields, **change})  # type: ignore[arg-type]
    try:
        expected = [m.model_dump_json() for m in push.to_items("run", [*base, odd], 1, SourceSystem.EMIS)]
    except ValidationError:
        with pytest.raises(ValidationError):
            push.items_json("run", [*base, odd], 1, SourceSystem.EMIS)
        return
    items, payloads = push.items_json("run", [*base, odd], 1, SourceSystem.EMIS)
    assert payloads == expected
    assert all(isinstance(i, HubResultItem) for i in items)


def test_the_kept_items_have_the_models_fields_in_their_order():
    """``SentItem`` / ``SentProvenance`` stand for ``HubResultItem`` / ``Provenance`` between the send and the answer
    (and ``items_json`` writes the models' JSON in their field order): a field added to a model fails here first."""
    assert [f.name for f in dataclasses.fields(push.SentItem)] == list(HubResultItem.model_fields)
    assert [f.name for f in dataclasses.fields(push.SentProvenance)] == list(Provenance.model_fields)
