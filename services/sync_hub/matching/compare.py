"""Vectorised field comparisons shared by the deterministic and the fallback pass."""

from __future__ import annotations

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
