"""Identifiers: NIK, KK numbers, UUIDs, KIP codes, NISN. NIKs and KK numbers are kept as int64
(16 digits fit) and formatted only when written."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from worldgen.arrays import BoolArray, IntArray, day_number, group_rank, pick_weighted, unique_draws, ymd
from worldgen.population import Regions

KK_EPOCH = day_number(date(1996, 1, 1))  # earliest recording date of a current KK
OLD_KK_EPOCH = day_number(date(1995, 1, 1))
KIP_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def other_kecamatan(regions: Regions, rng: np.random.Generator, own: IntArray) -> IntArray:
    """A kecamatan elsewhere: in the same province 60% of the time, else anywhere by population."""
    n = len(own)
    same = rng.random(n) < 0.6
    prov = np.where(same, regions.kec_prov[own], pick_weighted(rng, regions.prov_cum, n))
    other = regions.prov_start[prov] + (rng.random(n) * regions.prov_n[prov]).astype(np.int64)
    anywhere = (rng.random(n) * len(regions.kec_codes)).astype(np.int64)
    return np.where(other == own, anywhere, other)


def nik_keys(regions: Regions, prefix: IntArray, female: BoolArray, born: IntArray) -> IntArray:
    """PPKKCC DDMMYY as one integer (day + 40 for women)."""
    year, month, day = ymd(born)
    dd = day + 40 * female
    return regions.kec_int[prefix] * 1_000_000 + dd * 10_000 + month * 100 + year % 100


def allocate_serials(rng: np.random.Generator, keys: IntArray, start_max: int) -> IntArray:
    """Serial numbers 0001-9999 unique per key: a random start in 1..start_max per key, then counting up
    in index order (so people registered together, such as twins, get consecutive serials)."""
    rank, distinct, inverse = group_rank(keys)
    start = 1 + (rng.random(len(distinct)) * start_max).astype(np.int64)
    serial = start[inverse] + rank
    if len(serial) and serial.max() > 9999:
        raise RuntimeError("serial numbers exhausted for a region and date")
    return keys * 10_000 + serial


def kk_keys(regions: Regions, kec: IntArray, recorded: IntArray) -> IntArray:
    year, month, day = ymd(recorded)
    return regions.kec_int[kec] * 1_000_000 + day * 10_000 + month * 100 + year % 100


def uuids(rng: np.random.Generator, n: int) -> tuple[pl.Series, IntArray]:
    """``n`` random version-4 UUIDs (lower-case, hyphenated) and the rank of each in string order."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = pl.Series("h", np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32").astype("U32"))
    parts = [hexes.str.slice(a, b - a) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
    text = pl.select(pl.concat_str(parts, separator="-").alias("id")).to_series()
    # hex order is byte order: sort by the two big-endian halves
    halves = raw.view(">u8").reshape(n, 2)
    order = np.lexsort((halves[:, 1], halves[:, 0]))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    return text, rank


def kip_codes(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 6-character KIP numbers (A-Z, 0-9)."""
    values = unique_draws(rng, n, 0, 36**6)
    alphabet = np.frombuffer(KIP_ALPHABET.encode("ascii"), dtype=np.uint8)
    digits = (values[:, None] // (36 ** np.arange(5, -1, -1, dtype=np.int64))[None, :]) % 36
    chars = np.ascontiguousarray(alphabet[digits])
    return chars.view("S6").ravel().astype("U6").tolist()


def nisns(rng: np.random.Generator, born: IntArray) -> IntArray:
    """NISN: last three digits of the birth year + 7 digits, unique."""
    year = ymd(born)[0] % 1000
    n = len(born)
    values = year * 10_000_000 + (rng.random(n) * 10_000_000).astype(np.int64)
    for _ in range(100):
        _, first = np.unique(values, return_index=True)
        clash = np.ones(n, np.bool_)
        clash[first] = False
        idx = np.flatnonzero(clash)
        if not len(idx):
            return values
        values[idx] = year[idx] * 10_000_000 + (rng.random(len(idx)) * 10_000_000).astype(np.int64)
    raise RuntimeError("NISN space exhausted")
