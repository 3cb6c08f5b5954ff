"""Indonesian person-name normalisation and similarity (DOMAIN.md §7).

Used to verify that a NIK hit belongs to the person the education record describes, and later for
fallback matching and duplicate detection. Normalising first matters more than the metric: spelling
reform (oe->u, dj->j, tj->c, nj->ny, sj->sy, ch->kh), Muhammad variants, Siti/St., titles, bin/binti.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

_TITLES = {
    "h", "hj", "kh", "dr", "drs", "dra", "ir", "prof", "tgk", "r", "rr", "alm", "almh", "ust", "ustadz",
    "spd", "spdi", "skom", "se", "sh", "sag", "sos", "ssos", "st", "skm", "skep", "amd", "mm", "mpd", "msi",
    "ssi", "spdsd", "sthi", "mag",
}
_MUHAMMAD = {
    "m", "mhd", "moch", "mochammad", "mochamad", "moh", "mohamad", "mohammad", "mokhamad", "much",
    "muchammad", "muhamad", "muhammaad", "muhammad", "mukammad", "mukhamad", "mukhammad", "muh", "md",
}
_AHMAD = {"achmad", "akhmad", "ahmad", "ahmat", "achmat"}
_OLD_SPELLING = (("oe", "u"), ("dj", "j"), ("tj", "c"), ("nj", "ny"), ("sj", "sy"), ("ch", "kh"))
_PATRONYM = {"bin", "binti", "bintu", "bt", "bn"}


@lru_cache(maxsize=200_000)
def normalise(name: str | None) -> str:
    """Canonical form for comparison. Titles dropped, variants unified, ``bin/binti ...`` dropped."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    # "S.Pd." -> "spd", "Ma'ruf" -> "maruf": drop dots/apostrophes inside tokens, commas split titles
    text = re.sub(r"[.'`]", "", text.replace(",", " "))
    text = re.sub(r"[^a-z ]+", " ", text)
    tokens: list[str] = []
    for token in text.split():
        if token in _PATRONYM:
            break
        if (token in _TITLES and tokens != []) or token in _TITLES - {"st", "m", "r"}:
            # "St." leading is Siti, "M." leading is Muhammad; elsewhere titles are dropped
            continue
        if token == "st" and not tokens:
            token = "siti"
        elif token in _MUHAMMAD:
            token = "muhammad"
        elif token in _AHMAD:
            token = "ahmad"
        elif token in ("r", "rr") and not tokens:
            continue
        for old, new in _OLD_SPELLING:
            token = token.replace(old, new)
        tokens.append(token)
    return " ".join(tokens)


def similarity(a: str | None, b: str | None) -> float:
    """0..1 agreement of two names after normalising: the better of Jaro-Winkler on the whole string
    and a token-sort ratio (word order differs between systems)."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return max(JaroWinkler.normalized_similarity(na, nb), fuzz.token_sort_ratio(na, nb) / 100.0)
