"""The ledger's hashing rules against RFC 6962's reference tree, and inclusion proofs of every shape."""

from __future__ import annotations

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
