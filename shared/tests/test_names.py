"""Name normalisation (one name and a polars column agree) and similarity."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.names import normalise, normalise_expr, normalise_series, similarity, sort_tokens


@pytest.mark.parametrize(("raw", "expected"), [
    ("MUHAMMAD RIZKI", "muhammad rizki"),
    ("Moch. Rizki", "muhammad rizki"),
    ("M. Rizki", "muhammad rizki"),
    ("Mhd Rizki", "muhammad rizki"),
    ("Muhamad Rizki", "muhammad rizki"),
    ("Siti N. Aminah", "siti n aminah"),  # an initial in the middle stays
    ("Rizki M.", "rizki m"),  # "M." is Muhammad only when it leads
    ("St. Aminah", "siti aminah"),
    ("Ir. Budi, S.T.", "budi"),  # "S.T." at the end is a title
    ("H. Ahmad Dahlan, S.Pd.I", "ahmad dahlan"),
    ("Hj. Siti Maryam", "siti maryam"),
    ("DRS. H. SOEDJONO", "sujono"),
    ("Djoko Tjahjono", "joko cahjono"),
    ("Soekarno", "sukarno"),
    ("Chairul Sjahrir", "khairul syahrir"),
    ("Achmad Njoto", "ahmad nyoto"),
    ("Akhmad", "ahmad"),
    ("Ahmad bin Yusuf", "ahmad"),
    ("Nur Aini binti Abdullah", "nur aini"),
    ("R. Ajeng Kartini", "ajeng kartini"),
    ("Ma'ruf Amin", "maruf amin"),
    ("  siti   AMINAH ", "siti aminah"),
    ("José", "jose"),
    ("", ""),
    (None, ""),
])
def test_normalise(raw: str | None, expected: str) -> None:
    assert normalise(raw) == expected


def test_column_version_agrees_on_examples() -> None:
    raw = ["Moch. Rizki", "St. Aminah", "Ir. Budi, S.T.", "DRS. H. SOEDJONO", None, "Ahmad bin Yusuf", "Zoë Ängel"]
    assert normalise_series(pl.Series("n", raw)).to_list() == [normalise(r) for r in raw]


name_text = st.text(alphabet=st.sampled_from(list("abcdeghijkmnorstuyABCDHJMNOST .,'-`é")), max_size=30)
tokens = st.sampled_from(["muhammad", "moch", "m", "st", "h", "hj", "bin", "binti", "siti", "ir", "s.pd", "r",
                          "djoko", "soekarno", "aminah", "nur", "chairul", "achmad", "drs.", ",", "s.t."])


@settings(max_examples=300, deadline=None)
@given(st.one_of(name_text, st.lists(tokens, max_size=6).map(" ".join)))
def test_python_and_polars_normalisers_agree(raw: str) -> None:
    """The two normalisers apply one list of regular expressions; any difference is a bug in one of them."""
    assert pl.select(normalise_expr(pl.lit(raw))).item() == normalise(raw) or not raw.isascii()
    assert normalise_series(pl.Series([raw])).item() == normalise(raw)


@settings(max_examples=300, deadline=None)
@given(st.one_of(name_text, st.lists(tokens, max_size=6).map(" ".join)))
def test_normalise_is_idempotent_and_clean(raw: str) -> None:
    once = normalise(raw)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once and set(once) <= set("abcdefghijklmnopqrstuvwxyz ")


@settings(max_examples=200, deadline=None)
@given(name_text, name_text)
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = similarity(a, b)
    assert 0.0 <= s <= 1.0 and s == pytest.approx(similarity(b, a))
    if normalise(a):
        assert similarity(a, a) == 1.0
    else:
        assert s == 0.0


def test_similarity_of_variants_and_strangers() -> None:
    assert similarity("MUHAMMAD RIZKI", "Moch. Rizky") > 0.9
    assert similarity("Siti Aminah", "Aminah Siti") == 1.0  # word order
    assert similarity("Soekarno", "SUKARNO") == 1.0
    assert similarity("Agus Santoso", "Dewi Lestari") < 0.7


def test_sort_tokens() -> None:
    assert sort_tokens("siti aminah") == "aminah siti" and sort_tokens("") == ""
