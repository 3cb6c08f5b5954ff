"""Time-ordered (version 7) UUIDs in their text form, many at a time: the ids of the rows written per value.

A sync writes a provenance row per value (~4 a student), a ledger entry naming it, and an outbox row per pushed item,
each keyed by a UUID. With random (version 4) ids every insert lands on a random leaf of each B-tree on those keys
(``provenance`` id and provenance id, ``outbox_item`` id, ``ledger_entry`` record id). It splits pages all over the
index, and after each checkpoint it writes a full-page image of each leaf it touches first. Nationally those
indexes outgrow memory, and then every insert is a random read. A version 7 id starts with the time in
milliseconds, so ids made later sort later and inserts go to the right edge of the index. Measured on PostgreSQL
(``bench/bench_ids.py``: provenance-shaped rows and their ledger entries COPYed in batches of 3,000, a checkpoint
every 40 batches; docs/benchmarks.md, "Session 21"): into empty tables the backend's CPU fell by 20-32 % and the
WAL by 16 %; into tables already holding 3 M rows, by 49 % and 74 %.

The layout is RFC 9562's (section 5.7): 48 bits of Unix time in milliseconds, the version (7), 12 random bits, the
variant (``10``), 62 random bits. The text is the canonical one, as ``str(uuid.UUID(...))`` writes it, so a
reader cannot tell these ids from any other UUID and its order by text is its order by time. Ids made within one
millisecond keep random order among themselves. 74 random bits leave no room for two ids to meet, as
``uuid4``'s 122 did not.

They are made here rather than one ``uuid.UUID`` at a time (Python 3.11 has no ``uuid7``): a result batch of 1,000
students asks for ~6,000. The random bytes of all of them are read at once and the time, version and variant bits
set with numpy, as ``uuid4_texts`` did before.
"""

from __future__ import annotations

import os
import time

import numpy as np


def uuid7_texts(count: int, now_ms: int | None = None) -> list[str]:
    """``count`` version 7 UUIDs as text, stamped with ``now_ms`` (default: the clock, in Unix milliseconds)."""
    if count <= 0:
        return []
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, :6] = np.frombuffer((ms & (2**48 - 1)).to_bytes(6, "big"), dtype=np.uint8)  # unix_ts_ms
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7 (then rand_a's first 4 bits)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant 10 (RFC 9562)
    h = raw.tobytes().hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * count, 32)]


def new_id() -> str:
    """One version 7 UUID as text: the id of a row written often (a check, a verification and its ledger row)."""
    return uuid7_texts(1)[0]
