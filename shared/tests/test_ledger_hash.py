"""The ledger's hashing rules against RFC 6962's reference tree, and inclusion proofs of every shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared import ledger_hash as lh

# RFC 6962 test leaves (as in the reference implementations' test suites) and the root of all eight.
RFC_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
RFC_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def _recursive_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = lh._split(len(leaves))
    return lh.node_hash(_recursive_root(leaves[:k]), _recursive_root(leaves[k:]))


def test_root_matches_rfc6962_reference() -> None:
    assert lh.merkle_root([lh.leaf_hash(d) for d in RFC_LEAVES]).hex() == RFC_ROOT_8


@pytest.mark.parametrize("n", range(1, 40))
def test_iterative_root_is_the_rfc_tree_and_every_proof_verifies(n: int) -> None:
    leaves = [lh.leaf_hash(str(i).encode()) for i in range(n)]
    root = lh.merkle_root(leaves)
    assert root == _recursive_root(leaves)
    for i in range(n):
        path = lh.inclusion_path(leaves, i)
        assert lh.verify_inclusion(leaves[i], i, n, path, root)
        assert not lh.verify_inclusion(lh.leaf_hash(b"other"), i, n, path, root)
        if n > 1:
            assert not lh.verify_inclusion(leaves[i], (i + 1) % n, n, path, root)
            assert not lh.verify_inclusion(leaves[i], i, n, path[:-1], root)


def test_record_hash_is_canonical_and_independent_of_time_zone_and_key_order() -> None:
    at = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)
    kwargs = dict(provenance_id="p", sync_run_id="r", target_system="emis", target_record="S-1", field="status_pkh",
                  value="PKH_RECIPIENT", source_system="kemensos.dtsen", source_record="keluarga/x", source_version=3,
                  observed_seq=7, matched_by="nik")
    a = lh.field_record(retrieved_at=at, **kwargs)  # type: ignore[arg-type]
    b = lh.field_record(retrieved_at=at.astimezone(timezone(timedelta(hours=7))), **kwargs)  # type: ignore[arg-type]
    c = lh.field_record(retrieved_at=at.replace(tzinfo=None), **kwargs)  # type: ignore[arg-type]
    assert lh.record_hash(a) == lh.record_hash(b) == lh.record_hash(c)
    assert lh.record_hash(dict(reversed(list(a.items())))) == lh.record_hash(a)
    assert lh.record_hash({**a, "value": "NOT_PKH_RECIPIENT"}) != lh.record_hash(a)
    assert lh.record_hash({**a, "value": True}) != lh.record_hash({**a, "value": 1})
    assert lh.canonical({"x": "é"}) == '{"x":"é"}'.encode()


@pytest.mark.parametrize("value", [None, True, False, 0, 12, -3, "", "PKH_RECIPIENT",
                                   'é "quoted" \\ \n\t ☃', "a\u2028b"])
def test_the_direct_record_hash_is_the_canonical_one(value: object) -> None:
    at = datetime(2026, 3, 1, 8, 30, 0, 5, tzinfo=UTC)
    kwargs = dict(provenance_id="p-1", sync_run_id="r", target_system="dapodik", target_record="é/ü", field="no_kip",
                  value=value, source_system="kemensos.dtsen", source_record='keluarga/"x"', source_version=3,
                  observed_seq=7, matched_by="no_kk")
    expected = lh.record_hash(lh.field_record(retrieved_at=at, **kwargs))  # type: ignore[arg-type]
    assert lh.field_record_hash(retrieved_at_text=lh.utc_text(at), **kwargs) == expected  # type: ignore[arg-type]
    assert lh.value_text(value) == json.dumps(value, ensure_ascii=False)  # type: ignore[arg-type]
    hasher = lh.field_record_hasher()
    kwargs["value_text"] = lh.value_text(kwargs.pop("value"))  # type: ignore[arg-type]
    for _ in range(2):  # the second time from the texts it kept
        assert hasher(retrieved_at_text=lh.utc_text(at), kind=lh.KIND_PROVENANCE, **kwargs) == expected  # type: ignore[arg-type]


def test_the_hasher_keeps_no_text_of_one_record_for_another() -> None:
    """Records that differ in one repeated field each hash as their own canonical record, in any order."""
    at = datetime(2026, 3, 1, 8, 30, 0, 5, tzinfo=UTC)
    hasher = lh.field_record_hasher()
    records = [dict(provenance_id=f"p-{i}", sync_run_id=f"run-{i % 3}", target_system=("emis", "dapodik")[i % 2],
                    target_record="S-1", field=("status_pkh", "no_kip", "é\"")[i % 3],
                    value=(None, True, 1, "1", "PKH")[i % 5], source_system=("kemensos.dtsen", "x\n")[i % 2],
                    source_record="keluarga/1", source_version=i, observed_seq=i % 4,
                    matched_by=("nik", "no_kk", "")[i % 3]) for i in range(30)]
    for kind in lh.FIELD_KINDS:
        for r in records + records[::-1]:
            expected = lh.record_hash(lh.field_record(retrieved_at=at, kind=kind, **r))  # type: ignore[arg-type]
            args = {k: v for k, v in r.items() if k != "value"}
            assert hasher(value_text=lh.value_text(r["value"]), retrieved_at_text=lh.utc_text(at), kind=kind,  # type: ignore[arg-type]
                          **args) == expected


def test_the_item_hasher_hashes_each_value_as_its_own_canonical_record() -> None:
    """One item's values (text that needs escaping in every shared part too) hash as their canonical records."""
    at = datetime(2026, 3, 1, 8, 30, 0, 5, tzinfo=UTC)
    shared = dict(provenance_id="p-\x02", sync_run_id='r"\x03', target_system="dapodik", target_record="é/ü\n",
                  source_system="kemensos.dtsen", source_record='keluarga/"x"', source_version=3, observed_seq=7,
                  matched_by="no_kk")
    for kind in lh.FIELD_KINDS:
        hasher = lh.item_record_hasher(retrieved_at_text=lh.utc_text(at), kind=kind, **shared)  # type: ignore[arg-type]
        for field, value in (("status_pkh", "PKH"), ("no_kip", None), ("penerima_kip", True), ("é\"\x02", 0),
                             ("x", 'é "quoted" \\ \n\t ☃ \x03'), ("n", -12)):
            expected = lh.record_hash(lh.field_record(retrieved_at=at, kind=kind, field=field, value=value,  # type: ignore[arg-type]
                                                      **shared))
            assert hasher(field, value) == expected
    with pytest.raises(ValueError):
        lh.item_record_hasher(retrieved_at_text="t", kind="other", **shared)  # type: ignore[arg-type]


def test_the_batch_hasher_hashes_each_value_as_its_own_canonical_record() -> None:
    """Items of one batch (text that needs escaping, and % signs, in every part) hash as their canonical records."""
    at = datetime(2026, 3, 1, 8, 30, 0, 5, tzinfo=UTC)
    values = {"status_pkh": "PKH", "no_kip": None, "penerima_kip": True, "é\"\x02%s": 0,
              "x": 'é "quoted" \\ \n\t ☃ \x03 %d %%', "n": -12}
    for kind in lh.FIELD_KINDS:
        hashes = lh.batch_record_hasher('r"%s\x03', "dapodik%", 7, lh.utc_text(at), kind)
        for n, (pid, record, source, source_record, version, matched_by) in enumerate([
                ("p-\x02", "é/ü\n", "kemensos.dtsen", 'keluarga/"x"', 3, "no_kk"),
                ("p-%s", "%d%%", "jembatan.nik-rules", "student-record", 0, "nik"),
                ("p-3", "s3", "kemensos.dtsen", "keluarga/1", 2**40, "no_kk")]):
            got = hashes(pid, record, source, source_record, version, matched_by, values)
            assert list(got) == list(values), n
            for field, value in values.items():
                expected = lh.record_hash(lh.field_record(
                    provenance_id=pid, sync_run_id='r"%s\x03', target_system="dapodik%", target_record=record,
                    field=field, value=value, source_system=source, source_record=source_record,  # type: ignore[arg-type]
                    source_version=version, observed_seq=7, retrieved_at=at, matched_by=matched_by, kind=kind))
                assert got[field] == expected.hex()
    with pytest.raises(ValueError):
        lh.batch_record_hasher("r", "emis", 1, "t", "other")


@pytest.mark.parametrize("value", [1.5, [1], {"a": 1}])
def test_a_value_of_no_ledger_type_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        lh.value_text(value)  # type: ignore[arg-type]
