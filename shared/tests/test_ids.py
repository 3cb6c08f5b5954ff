"""``shared.ids.uuid4_texts``: what ``str(uuid.uuid4())`` gives, many at a time."""

from __future__ import annotations

import uuid

from shared.ids import uuid4_texts


def test_texts_are_version_4_uuids_as_uuid_formats_them() -> None:
    ids = uuid4_texts(2_000)
    assert len(set(ids)) == 2_000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_none_asked_none_given() -> None:
    assert uuid4_texts(0) == []
