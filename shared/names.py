"""Indonesian person-name normalisation and similarity (DOMAIN.md §7).

Used to verify that a NIK hit belongs to the person the education record describes, and for fallback
matching. Normalising first matters more than the metric: spelling reform (oe->u, dj->j, tj->c, nj->ny,
sj->sy, ch->kh), Muhammad / Ahmad variants, St. -> Siti, titles, ``bin/binti`` and what follows.

``normalise`` (one name) and ``normalise_expr`` (a polars column, for millions of rows) apply the same
ordered list of regular expressions, written in the subset both Python's ``re`` and polars' Rust regex
read the same way; a property test holds them equal.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import polars as pl
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

TITLES = (
    "h", "hj", "kh", "dr", "drs", "dra", "ir", "prof", "tgk", "rr", "alm", "almh", "ust", "ustadz", "ustadzah",
    "spd", "spdi", "skom", "se", "sh", "sag", "sos", "ssos", "skm", "skep", "amd", "mm", "mpd", "msi", "ssi",
    "spdsd", "sthi", "mag", "sst", "sip", "sik", "mh", "mag", "apt", "bsc", "ba", "sfarm", "st",
)
MUHAMMAD = (
    "mhd", "moch", "mochammad", "mochamad", "moh", "mohamad", "mohammad", "mohammed", "mokhamad", "much",
    "muchammad", "muhamad", "muhammaad", "muhammad", "muhammat", "muhamat", "mukammad", "mukhamad", "mukhammad",
    "muh", "mochamat", "mohamat", "mokh", "mukh", "mokhammad", "mukhamat", "mokhamat",
)
AHMAD = ("achmad", "akhmad", "ahmad", "ahmat", "achmat", "akhmat")
PATRONYM = ("bin", "binti", "bintu", "bt", "bn")
OLD_SPELLING = (("oe", "u"), ("d+j", "j"), ("tj", "c"), ("nj", "ny"), ("sj", "sy"), ("ch", "kh"))


def _alt(words: tuple[str, ...]) -> str:
    return "|".join(sorted(set(words), key=lambda w: (-len(w), w)))


_TITLE_RE = rf"\b({_alt(tuple(t for t in TITLES if t != 'st'))})\b"
_MUHAMMAD_RE = rf"\b({_alt(MUHAMMAD)})\b"
_AHMAD_RE = rf"\b({_alt(AHMAD)})\b"


def _python_steps() -> list[tuple[re.Pattern[str], str]]:
    """(pattern, replacement), applied in order on a lower-case ASCII string. After the third step only
    [a-z ] remain, so ``\\b`` means the same to both regex engines; no lookaround, no group references."""
    trim = [(re.compile(r"\s+"), " "), (re.compile(r"^ +| +$"), "")]
    steps = [
        (re.compile(r","), " "),
        (re.compile(r"[.'`]"), ""),  # "S.Pd." -> "spd", "Ma'ruf" -> "maruf"
        (re.compile(r"[^a-z ]+"), " "),
        *trim,
        (re.compile(rf"(^| )({_alt(PATRONYM)})( .*)?$"), ""),  # "Ahmad bin Yusuf" -> "ahmad"
        *((re.compile(old), new) for old, new in OLD_SPELLING),  # before titles: "ch" -> "kh" is a title
        (re.compile(_TITLE_RE), " "),  # titles anywhere (but "st", see below)
        *trim,
        (re.compile(r"^(r( |$))+"), ""),  # a leading "R." (Raden) is a title
        (re.compile(r"^st( |$)"), "siti "),  # a leading "St." is Siti ...
        (re.compile(r"\bst\b"), " "),  # ... anywhere else it is a title (S.T.)
        (re.compile(r"^m( |$)"), "muhammad "),  # a leading "M." is Muhammad; elsewhere an initial
        (re.compile(_MUHAMMAD_RE), "muhammad"),
        (re.compile(_AHMAD_RE), "ahmad"),
    ]
    return steps + trim


_PY_STEPS = _python_steps()

# Identifies the normalisation rules: stored normal forms (the hub's replica) made under other rules are
# recomputed. Derived from the rules themselves, so changing a rule changes it.
VERSION = hashlib.sha256(repr([(p.pattern, r) for p, r in _PY_STEPS]).encode()).hexdigest()[:16]


def _ascii_lower(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


@lru_cache(maxsize=500_000)
def normalise(name: str | None) -> str:
    """Canonical form for comparison. Titles dropped, variants unified, ``bin/binti ...`` dropped."""
    if not name:
        return ""
    text = _ascii_lower(name)
    for pattern, replacement in _PY_STEPS:
        text = pattern.sub(replacement, text)
    return text


def normalise_expr(column: str | pl.Expr) -> pl.Expr:
    """``normalise`` as a polars expression (vectorised). Non-ASCII letters are dropped rather than folded
    (``é`` -> nothing); use :func:`normalise_series` when a column may hold them."""
    e = column if isinstance(column, pl.Expr) else pl.col(column)
    e = e.fill_null("").str.to_lowercase()
    for pattern, replacement in _PY_STEPS:
        e = e.str.replace_all(pattern.pattern, replacement.replace("$", "$$"))
    return e


def normalise_series(values: pl.Series) -> pl.Series:
    """Normalise a column of names: each distinct name once (names repeat: a mother's name over siblings, common
    names everywhere), vectorised for ASCII, folded one by one otherwise; null becomes ``""``."""
    v = values.cast(pl.String).fill_null("")
    if v.len() <= 1_000:
        return _normalise_distinct(v).rename(values.name)
    distinct = v.unique()
    mapping = pl.DataFrame({"v": distinct, "n": _normalise_distinct(distinct)})
    return pl.DataFrame({"v": v}).join(mapping, on="v", how="left", maintain_order="left")["n"].rename(values.name)


def _normalise_distinct(v: pl.Series) -> pl.Series:
    frame = pl.DataFrame({"v": v})
    out = frame.select(normalise_expr("v").alias("n"), pl.col("v").str.contains(r"^[\x00-\x7f]*$").alias("a"))
    if out["a"].all():
        return out["n"]
    odd = frame.filter(~out["a"])["v"].unique()
    mapping = pl.DataFrame({"v": odd, "m": [normalise(x) for x in odd.to_list()]})
    fixed = frame.join(mapping, on="v", how="left", maintain_order="left")["m"]
    return pl.select(pl.when(out["a"]).then(out["n"]).otherwise(fixed)).to_series()


def similarity(a: str | None, b: str | None) -> float:
    """0..1 agreement of two names after normalising: the better of Jaro-Winkler on the whole string
    and a token-sort ratio (word order differs between systems)."""
    na, nb = normalise(a), normalise(b)
    return normalised_similarity(na, nb)


def normalised_similarity(na: str, nb: str) -> float:
    """``similarity`` of two names already normalised."""
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return max(JaroWinkler.normalized_similarity(na, nb), fuzz.token_sort_ratio(na, nb) / 100.0)


def sort_tokens(normalised: str) -> str:
    """Tokens in alphabetical order: ``"aminah siti"`` for ``"siti aminah"`` (word order varies)."""
    return " ".join(sorted(normalised.split()))
