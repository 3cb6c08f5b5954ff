"""Small numpy helpers of the vectorised generator: dates as day numbers, ranks within groups,
unique random codes. Every function is deterministic given its inputs and the generator passed in."""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import numpy.typing as npt

EPOCH = date(1970, 1, 1)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]


def day_number(d: date) -> int:
    """Days since 1970-01-01 (numpy's datetime64[D] epoch)."""
    return (d - EPOCH).days


_TABLE_LOW, _TABLE_HIGH = -50_000, 50_000  # 1833 .. 2106


@cache
def _ymd_table() -> tuple[IntArray, IntArray, IntArray]:
    return _ymd_slow(np.arange(_TABLE_LOW, _TABLE_HIGH, dtype=np.int64))


def ymd(days: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Year, month, day of day numbers (a table lookup for 1833-2106)."""
    days = np.asarray(days, np.int64)
    if len(days) and (days.min() < _TABLE_LOW or days.max() >= _TABLE_HIGH):
        return _ymd_slow(days)
    year, month, day = _ymd_table()
    i = days - _TABLE_LOW
    return year[i], month[i], day[i]


def _ymd_slow(days: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def age_at(ref: date, born: IntArray) -> IntArray:
    """Completed years at ``ref`` of people born on day numbers ``born``."""
    year, month, day = ymd(born)
    before_birthday = (month > ref.month) | ((month == ref.month) & (day > ref.day))
    return ref.year - year - before_birthday.astype(np.int64)


def born_from_age(ref: date, age_years: FloatArray) -> IntArray:
    return day_number(ref) - np.floor(age_years * 365.2425).astype(np.int64)


def group_rank(keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """For each element: its rank among equal keys (in index order), the sorted distinct keys, and
    the index of its key among them."""
    n = len(keys)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new = np.empty(n, np.bool_)
    new[0] = True
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_sorted = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - starts[group_sorted]
    inverse = np.empty(n, np.int64)
    inverse[order] = group_sorted
    return rank, sorted_keys[starts], inverse


def unique_draws(rng: np.random.Generator, n: int, low: int, high: int,
                 taken: IntArray | None = None) -> IntArray:
    """``n`` distinct integers in [low, high) not in ``taken``, in draw order."""
    out = np.zeros(0, np.int64)
    taken = np.zeros(0, np.int64) if taken is None else np.unique(taken)
    while len(out) < n:
        extra = rng.integers(low, high, size=int((n - len(out)) * 1.05) + 16, dtype=np.int64)
        extra = extra[~np.isin(extra, taken)]
        candidates = np.concatenate([out, extra])
        _, first = np.unique(candidates, return_index=True)
        out = candidates[np.sort(first)][:n]
    return out


def pick_weighted(rng: np.random.Generator, cum: FloatArray, size: int) -> IntArray:
    """Indices drawn with probabilities proportional to the increments of ``cum``."""
    return np.searchsorted(cum, rng.random(size) * cum[-1], side="right").astype(np.int64)


def uniform_index(rng: np.random.Generator, counts: IntArray) -> IntArray:
    """One index in [0, counts[i]) per element."""
    return np.floor(rng.random(len(counts)) * counts).astype(np.int64)


def digits_of(values: IntArray) -> IntArray:
    """(n, 16) digits of 16-digit numbers (leading zeros kept)."""
    powers = 10 ** np.arange(15, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10
