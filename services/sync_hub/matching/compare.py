"""Vectorised field comparisons shared by the deterministic and the fallback pass."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler


def name_similarity(a: pl.Series, b: pl.Series) -> np.ndarray:
    """``shared.names.normalised_similarity`` for two aligned columns of normalised names (0 when either is
    empty). Equal pairs are settled without calling the scorer; the rest go through rapidfuzz ``cpdist``."""
    a, b = a.fill_null(""), b.fill_null("")
    out = np.zeros(len(a), dtype=np.float32)
    filled = ((a != "") & (b != "")).to_numpy()
    equal = (a == b).to_numpy() & filled
    out[equal] = 1.0
    idx = np.flatnonzero(filled & ~equal)
    if idx.size:
        la, lb = a.gather(idx).to_list(), b.gather(idx).to_list()
        jw = process.cpdist(la, lb, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=1)
        ts = process.cpdist(la, lb, scorer=fuzz.token_sort_ratio, dtype=np.float32, workers=1) / 100.0
        out[idx] = np.maximum(jw, ts)
    return out


def birth_dates_agree(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Equal, a day apart, day and month swapped, or the same day and month a year apart."""
    days = (a - b).dt.total_days().abs()
    swapped = (a.dt.year() == b.dt.year()) & (a.dt.day() == b.dt.month()) & (a.dt.month() == b.dt.day())
    year_off = (a.dt.month() == b.dt.month()) & (a.dt.day() == b.dt.day()) & ((a.dt.year() - b.dt.year()).abs() == 1)
    return ((days <= 1) | swapped | year_off).fill_null(False)


# -- one pair at a time (the scalar path, ``matching.scalar``): the same values as the columns above -------------

_ZERO, _ONE, _HUNDRED = np.float32(0.0), np.float32(1.0), np.float32(100.0)


def name_similarity_one(a: str | None, b: str | None) -> np.float32:
    """:func:`name_similarity` of one pair, as the same float32 (thresholds are compared in float32 by both)."""
    if not a or not b:
        return _ZERO
    if a == b:
        return _ONE
    jw = np.float32(JaroWinkler.normalized_similarity(a, b))
    ts = np.float32(fuzz.token_sort_ratio(a, b)) / _HUNDRED
    return max(jw, ts)


def birth_dates_agree_one(a: date | None, b: date | None) -> bool:
    """:func:`birth_dates_agree` of one pair (False when either is missing)."""
    if a is None or b is None:
        return False
    if abs((a - b).days) <= 1:
        return True
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return True
    return a.month == b.month and a.day == b.day and abs(a.year - b.year) == 1
