"""``shared.ids.uuid7_texts``: RFC 9562 version 7 UUIDs as text, many at a time, ordered by the time they carry."""

from __future__ import annotations

import time
import uuid

from shared.ids import uuid7_texts


def test_texts_are_version_7_uuids_as_uuid_formats_them() -> None:
    before = time.time_ns() // 1_000_000
    ids = uuid7_texts(2_000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 2_000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
        assert before <= parsed.int >> 80 <= after  # unix_ts_ms, the first 48 bits


def test_the_time_is_the_one_given_and_later_ids_sort_later_as_text() -> None:
    ms = 1_764_892_800_123  # 2025-12-05 00:00:00.123 UTC
    ids = uuid7_texts(3, now_ms=ms)
    assert {uuid.UUID(t).int >> 80 for t in ids} == {ms}
    assert ids[0].startswith(f"{ms:012x}"[:8] + "-" + f"{ms:012x}"[8:])
    earlier, later = uuid7_texts(500, now_ms=ms), uuid7_texts(500, now_ms=ms + 1)
    assert max(earlier) < min(later)  # text order is time order, whatever the random bits
    assert uuid7_texts(1, now_ms=2**48 - 1)[0].startswith("ffffffff-ffff-7")


def test_the_random_bits_vary() -> None:
    ids = uuid7_texts(1_000, now_ms=1)
    assert len({t[14:] for t in ids}) == 1_000  # rand_a and rand_b, after the time and the version


def test_none_asked_none_given() -> None:
    assert uuid7_texts(0) == []


def test_one_new_id_is_a_version_7_uuid_of_now() -> None:
    from shared.ids import new_id

    before = time.time_ns() // 1_000_000
    parsed = uuid.UUID(new_id())
    assert parsed.version == 7 and before <= parsed.int >> 80 <= time.time_ns() // 1_000_000
