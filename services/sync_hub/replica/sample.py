"""The registry replica described without holding it: its size, and a uniform random sample of its persons.

Fitting the fallback model (``matching.fallback.train``) once per run, in a planning job, needs the registry's
true size for the prior (``stats``) and registry persons drawn uniformly at random for u (``random_persons``):
the slice of the registry a planner or a worker holds is the students' own kabupaten and birth years, and
agreement on region or birth year would look common in it.

``random_persons`` is deterministic per seed while the table is unchanged:

* PostgreSQL: ``TABLESAMPLE BERNOULLI (p) REPEATABLE (seed)`` (every row kept with probability p, the pages
  read once; ``SYSTEM`` would take whole pages, and a page holds the members of the families one feed page
  wrote together), p set so that the sample very likely holds more than ``n`` rows, then the first ``n`` in
  the order of ``md5(nik || seed)``; in the rare case it holds fewer, the whole table in that order. The same
  seed gives the same rows as long as the table is physically unchanged (a row rewritten by the change feed
  or moved by VACUUM may change the sample: PostgreSQL's own guarantee for ``REPEATABLE``).
* SQLite (the embedded default): row ids drawn uniformly by numpy's generator from ``seed`` between the
  smallest and the largest, those that exist kept (a uniform draw among the rows, however many ids deletes
  left unused) until ``n`` distinct rows; the same seed gives the same rows while the row ids are unchanged
  (a VACUUM may renumber them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import text
from sqlmodel import Session

from services.sync_hub.matching.frames import SAMPLE_SCHEMA, RegistryStats

# one column list for both databases: the person, its family's region, one former KK number of the family
_COLUMNS = ("a.nik, a.no_kk, a.nama_norm, a.jenis_kelamin, a.tanggal_lahir, a.ibu_norm, a.hubungan_keluarga, "
            "k.kode_wilayah, (SELECT max(l.old_kk) FROM replica_kk_lama l WHERE l.no_kk = a.no_kk)")
_JOIN = "LEFT JOIN replica_keluarga k ON k.no_kk = a.no_kk"
_CHUNK = 5_000  # row ids per statement


def stats(session: Session) -> RegistryStats:
    """Persons, families and the registry sequence of the replica, read in one statement (one snapshot)."""
    persons, families, seq = session.execute(text(
        "SELECT (SELECT count(*) FROM replica_anggota), (SELECT count(*) FROM replica_keluarga), "
        "(SELECT observed_seq FROM replica_state WHERE id = 1)")).one()
    return RegistryStats(observed_seq=int(seq or 0), persons=int(persons), families=int(families))


def random_persons(session: Session, n: int, seed: int) -> pl.DataFrame:
    """``n`` replica persons drawn uniformly at random without replacement (all of them when there are fewer),
    as ``frames.SAMPLE_SCHEMA`` (names in their stored normal forms), in NIK order."""
    if n <= 0:
        return pl.DataFrame(schema=SAMPLE_SCHEMA)
    read = _postgres if session.get_bind().dialect.name == "postgresql" else _sqlite
    return _frame(read(session, n, seed)).sort("nik")


def _postgres(session: Session, n: int, seed: int) -> Sequence[Any]:
    total = int(session.execute(text("SELECT count(*) FROM replica_anggota")).scalar_one())
    # expected rows n + 4 sd + 10: fewer than n is a 4-sigma event, and then the whole table is read
    percent = min(100.0, 100.0 * (n + 4 * math.sqrt(n) + 10) / max(total, 1))
    salt = f"#{seed}"
    sql = ("SELECT " + _COLUMNS + " FROM (SELECT * FROM replica_anggota {sample} "
           "ORDER BY md5(nik || :salt) LIMIT :n) a " + _JOIN)
    sampled = "TABLESAMPLE BERNOULLI (CAST(:percent AS double precision)) REPEATABLE (CAST(:seed AS double precision))"
    rows = session.execute(text(sql.format(sample=sampled)),
                           {"percent": percent, "seed": seed, "salt": salt, "n": n}).all()
    if len(rows) < min(n, total):
        rows = session.execute(text(sql.format(sample="")), {"salt": salt, "n": n}).all()
    return rows


def _sqlite(session: Session, n: int, seed: int) -> Sequence[Any]:
    lo, hi, total = session.execute(text("SELECT min(rowid), max(rowid), count(*) FROM replica_anggota")).one()
    if not total:
        return []
    if total <= n:
        return session.execute(text("SELECT " + _COLUMNS + " FROM replica_anggota a " + _JOIN)).all()
    rng = np.random.default_rng(seed)
    density = total / (hi - lo + 1)
    chosen: dict[int, None] = {}  # insertion-ordered: the first n distinct ids drawn that exist
    exists = text("SELECT rowid FROM replica_anggota WHERE rowid IN (SELECT value FROM json_each(:ids))")
    while len(chosen) < n:
        need = n - len(chosen)
        draw = rng.integers(lo, hi + 1, size=int(need / density * 1.2) + 64).tolist()
        found: set[int] = set()
        for start in range(0, len(draw), _CHUNK):
            found.update(session.execute(exists, {"ids": json.dumps(draw[start:start + _CHUNK])}).scalars())
        for rowid in draw:
            if rowid in found and rowid not in chosen:
                chosen[rowid] = None
                if len(chosen) == n:
                    break
    fetch = text("SELECT " + _COLUMNS + " FROM replica_anggota a " + _JOIN
                 + " WHERE a.rowid IN (SELECT value FROM json_each(:ids))")
    ids = list(chosen)
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        rows += session.execute(fetch, {"ids": json.dumps(ids[start:start + _CHUNK])}).all()
    return rows


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
