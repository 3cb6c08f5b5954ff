"""The registry replica described without holding it: its size, and a uniform random sample of its persons.

Fitting the fallback model (``matching.fallback.train``) once per run, in a planning job, needs the registry's
true size for the prior (``stats``) and registry persons drawn uniformly at random for u (``random_persons``):
the slice of the registry a planner or a worker holds is the students' own kabupaten and birth years, and
agreement on region or birth year would look common in it.

``random_persons`` is deterministic per seed and per set of rows, on both databases alike: every member is written
with ``sample_key``, a 63-bit hash of its NIK (``sample_key``, BLAKE2b), indexed with the NIK; the sample is the
``n`` persons whose keys follow a point drawn from the seed (the same hash of ``#<seed>``), wrapping round to the
smallest keys, read as one or two index ranges of ``n`` rows (never the whole table). The keys are as good as
independent uniform draws, so the ``n`` that follow any point are a uniform sample without replacement; and they
depend on the NIKs alone, not on where the rows sit on disk: two replicas holding the same persons give the same
sample whatever order the change feed's pages (the follower's, the plan's) wrote them in. (Before, PostgreSQL's
``TABLESAMPLE BERNOULLI ... REPEATABLE`` picked rows by their physical place, so two first syncs of the same world
fitted different models.) A person's key never changes, so a changed registry changes the sample only by the
persons who came or went in the window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlmodel import Session

from services.sync_hub.matching.frames import SAMPLE_SCHEMA, RegistryStats

# one column list for both databases: the person, its family's region, one former KK number of the family
_COLUMNS = ("a.nik, a.no_kk, a.nama_norm, a.jenis_kelamin, a.tanggal_lahir, a.ibu_norm, a.hubungan_keluarga, "
            "k.kode_wilayah, (SELECT max(l.old_kk) FROM replica_kk_lama l WHERE l.no_kk = a.no_kk)")
_JOIN = "LEFT JOIN replica_keluarga k ON k.no_kk = a.no_kk"
# the persons of a window of sample keys, in key order (index (sample_key, nik)), with their family's region
_WINDOW = ("SELECT " + _COLUMNS + " FROM (SELECT * FROM replica_anggota WHERE sample_key {side} :start "
           "ORDER BY sample_key, nik LIMIT :n) a " + _JOIN)


def stats(session: Session) -> RegistryStats:
    """Persons, families and the registry sequence of the replica, read in one statement (one snapshot)."""
    persons, families, seq = session.execute(text(
        "SELECT (SELECT count(*) FROM replica_anggota), (SELECT count(*) FROM replica_keluarga), "
        "(SELECT observed_seq FROM replica_state WHERE id = 1)")).one()
    return RegistryStats(observed_seq=int(seq or 0), persons=int(persons), families=int(families))


def sample_key(text: str) -> int:
    """The 63-bit key the sample orders persons by: the first 8 bytes of BLAKE2b of ``text`` (a NIK; ``#<seed>`` for
    the starting point), non-negative so that it fits a signed BIGINT on both databases. Never change it: the stored
    keys were made with it (migration 0020 and the replica's writer)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def random_persons(session: Session, n: int, seed: int) -> pl.DataFrame:
    """``n`` replica persons drawn uniformly at random without replacement (all of them when there are fewer),
    as ``frames.SAMPLE_SCHEMA`` (names in their stored normal forms), in NIK order: the ``n`` whose
    ``sample_key`` follows ``sample_key("#<seed>")``, wrapping round (one or two index ranges)."""
    if n <= 0:
        return pl.DataFrame(schema=SAMPLE_SCHEMA)
    start = sample_key(f"#{seed}")
    rows = list(session.execute(text(_WINDOW.format(side=">=")), {"start": start, "n": n}).all())
    if len(rows) < n:
        rows += session.execute(text(_WINDOW.format(side="<")), {"start": start, "n": n - len(rows)}).all()
    return _frame(rows).sort("nik")


def _frame(rows: Sequence[Any]) -> pl.DataFrame:
    """SAMPLE_SCHEMA from the rows; the birth date arrives as ISO text on SQLite, as a date on PostgreSQL."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in SAMPLE_SCHEMA]
    series = []
    for (name, dtype), values in zip(SAMPLE_SCHEMA.items(), columns, strict=True):
        if dtype == pl.Date and values and isinstance(values[0], str):
            series.append(pl.Series(name, values, dtype=pl.String).str.to_date("%Y-%m-%d"))
        else:
            series.append(pl.Series(name, list(values), dtype=dtype))
    return pl.DataFrame(series)
