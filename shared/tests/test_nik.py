"""Every NIK rule, normaliser and suspicion, by example and by property (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.nik import (
    NikRule,
    NikSuspicion,
    Sex,
    check,
    encode,
    flip_sex,
    mask,
    normalise,
    placeholder_pattern,
    suspicions,
)
from shared.regions import current_kecamatan, historical_prefixes

TODAY = date(2026, 7, 15)
VALID = encode("320101", Sex.L, date(2012, 3, 4), 17)  # Kab. Bogor, Nanggung: 3201010403120017
PREFIXES = sorted(current_kecamatan())


# ---- normalise ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "3201 0104 0312 0017", "3201.0104.0312.0017", "3201-0104-0312-0017", " 3201010403120017\n",
    "'3201010403120017", "３２０１０１０４０３１２００１７", "3201/0104/0312/0017", "3201\u00a001040312_0017",
    "٣٢٠١٠١٠٤٠٣١٢٠٠١٧",  # Arabic-Indic digits
])
def test_normalise_strips_separators_and_maps_unicode_digits(raw: str) -> None:
    assert normalise(raw) == VALID
    assert check(raw, TODAY).valid


def test_normalise_of_nothing_is_empty() -> None:
    assert normalise(None) == "" and normalise("  ") == ""


# ---- each rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "rule"), [
    (None, NikRule.EMPTY),
    ("", NikRule.EMPTY),
    (" - ", NikRule.EMPTY),
    ("320101040312001", NikRule.LENGTH),
    ("32010104031200171", NikRule.LENGTH),
    ("3201010403I20017", NikRule.CHARACTERS),
    ("NIK 3201010403120017", NikRule.CHARACTERS),
    ("1234567890123456", NikRule.PLACEHOLDER),
    ("1111111111111111", NikRule.PLACEHOLDER),
    ("0000000000000000", NikRule.PLACEHOLDER),
    ("1111222233334444", NikRule.PLACEHOLDER),
    ("1212121212121212", NikRule.PLACEHOLDER),
    ("3201010000000000", NikRule.PLACEHOLDER),  # zero padding (Dapodik strips 0000000)
    ("3201000000000017", NikRule.PLACEHOLDER),
    ("2345678901234567", NikRule.PLACEHOLDER),
    ("2001010403120017", NikRule.PROVINCE),  # no province 20
    ("9701010403120017", NikRule.PROVINCE),
    ("3269010403120017", NikRule.KABUPATEN),  # Jawa Barat has no kabupaten 69
    ("3201990403120017", NikRule.KECAMATAN),
    ("3201013202120017", NikRule.BIRTH_DATE),  # day 32
    ("3201017202120017", NikRule.BIRTH_DATE),  # day 72 (32 for a woman)
    ("3201010013120017", NikRule.BIRTH_DATE),  # month 13
    ("3201013002120017", NikRule.BIRTH_DATE),  # 30 February
    ("3201010000120017", NikRule.BIRTH_DATE),  # day 00, month 00
    ("3201010403120000", NikRule.SERIAL),
])
def test_each_rule_is_named(raw: str | None, rule: NikRule) -> None:
    result = check(raw, TODAY)
    assert result.rule is rule and not result.valid and result.parsed is None


def test_new_provinces_are_valid() -> None:
    """Kalimantan Utara (65) and the Papua provinces 92-96 (2022-2025) are real; python-stdnum rejects them."""
    for province in ("65", "92", "93", "94", "95", "96"):
        prefix = next(p for p in PREFIXES if p.startswith(province))
        assert check(encode(prefix, Sex.P, date(1990, 1, 2), 1), TODAY).valid, province


def test_historical_prefix_is_valid() -> None:
    """A NIK keeps the prefix of first issuance: codes retired by re-districting stay valid."""
    retired = sorted(historical_prefixes() - set(current_kecamatan()))
    assert retired
    assert check(encode(retired[0], Sex.L, date(1980, 5, 6), 3), TODAY).valid


def test_parse_reads_sex_birth_date_and_century() -> None:
    woman = check(encode("320101", Sex.P, date(1985, 12, 31), 9), TODAY).parsed
    assert woman is not None and woman.sex is Sex.P and woman.birth_date == date(1985, 12, 31)
    assert woman.prefix == "320101" and woman.serial == "0009"
    child = check(encode("320101", Sex.L, date(2000, 2, 29), 1), TODAY).parsed
    assert child is not None and child.birth_date == date(2000, 2, 29)
    assert child.birth_dates == (date(2000, 2, 29),)  # 1900 was no leap year
    born_1926 = check(encode("320101", Sex.L, date(1926, 7, 1), 1), TODAY).parsed
    assert born_1926 is not None and born_1926.birth_date == date(2026, 7, 1)  # ambiguous: 20YY first
    assert date(1926, 7, 1) in born_1926.birth_dates
    future = check(encode("320101", Sex.L, date(1999, 1, 1), 1), TODAY).parsed
    assert future is not None and future.birth_date == date(1999, 1, 1)  # 2099 is in the future


@pytest.mark.parametrize(("nik", "pattern"), [
    ("1234567890123456", "known placeholder"), ("3201010000000017", "zero padding"),
    ("7777777777777777", "repeated digits"), ("1231231231231231", "repeated digits"),
    ("1111222233334444", "repeated blocks"), ("8765432109876543", "digit sequence"), (VALID, None),
])
def test_placeholder_patterns(nik: str, pattern: str | None) -> None:
    assert placeholder_pattern(nik) == pattern


# ---- suspicions --------------------------------------------------------------------------------

def test_suspicions_each() -> None:
    born = date(2012, 3, 4)
    assert suspicions(VALID, sex="L", birth_date=born, today=TODAY) == ()
    assert suspicions(VALID, no_kk="3201-0104-0312-0017", today=TODAY) == (NikSuspicion.SAME_AS_NO_KK,)
    assert suspicions(VALID, family_niks=[None, VALID], today=TODAY) == (NikSuspicion.SHARED_IN_FAMILY,)
    assert suspicions(VALID, sex="P", today=TODAY) == (NikSuspicion.SEX_DIGIT,)
    assert suspicions(VALID, birth_date=date(2013, 3, 4), today=TODAY) == (NikSuspicion.BIRTH_DATE_FAR,)
    assert suspicions(VALID, birth_date=born + timedelta(days=20), today=TODAY) == ()
    assert suspicions(VALID, birth_date=date(2012, 4, 3), today=TODAY) == ()  # day/month swapped: near
    assert suspicions(VALID, birth_date=date(1912, 3, 4), today=TODAY) == ()  # the other century
    assert suspicions("1234567890123456", no_kk="1234567890123456") == ()  # invalid: check names the rule
    both = suspicions(VALID, no_kk=VALID, sex="P", birth_date=date(2000, 1, 1), family_niks=[VALID], today=TODAY)
    assert set(both) == set(NikSuspicion)


def test_flip_sex_moves_the_day_by_forty() -> None:
    woman = flip_sex(VALID)
    assert woman[6:8] == "44" and flip_sex(woman) == VALID
    parsed = check(woman, TODAY).parsed
    assert parsed is not None and parsed.sex is Sex.P


def test_mask() -> None:
    assert mask(VALID) == "320101******0017"
    assert mask("") == "" and mask(None) == "" and mask("12345") == "*****"


# ---- properties --------------------------------------------------------------------------------

dates = st.dates(min_value=date(1927, 1, 1), max_value=date(2026, 7, 15))
sexes = st.sampled_from(list(Sex))


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), sex=sexes, born=dates, serial=st.integers(1, 9999))
def test_encode_then_check_round_trips(prefix: str, sex: Sex, born: date, serial: int) -> None:
    nik = encode(prefix, sex, born, serial)
    result = check(nik, TODAY)
    assert result.valid or result.rule is NikRule.PLACEHOLDER, (nik, result.rule)
    if result.parsed:
        assert result.parsed.sex is sex and born in result.parsed.birth_dates
        assert result.parsed.prefix == prefix and int(result.parsed.serial) == serial
        assert suspicions(nik, sex=sex.value, birth_date=born, today=TODAY) == ()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_check_never_raises_and_is_idempotent(raw: str) -> None:
    result = check(raw, TODAY)
    assert (result.rule is None) == (result.parsed is not None)
    assert check(result.normalised, TODAY) == result  # normalising twice changes nothing
    if result.valid:
        assert len(result.normalised) == 16 and result.normalised.isdigit()


@settings(max_examples=200, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), sex=sexes, born=dates, serial=st.integers(1, 9999),
       seps=st.lists(st.sampled_from([" ", ".", "-", "  ", "\t"]), min_size=15, max_size=15), wide=st.booleans())
def test_separators_and_width_do_not_change_the_verdict(prefix: str, sex: Sex, born: date, serial: int,
                                                        seps: list[str], wide: bool) -> None:
    nik = encode(prefix, sex, born, serial)
    typed = "".join(d + s for d, s in zip(nik, [*seps, ""], strict=True))
    if wide:
        typed = typed.translate({ord(str(i)): chr(0xFF10 + i) for i in range(10)})
    assert normalise(typed) == nik
    assert check(typed, TODAY) == check(nik, TODAY)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"^\d{16}$", fullmatch=True))
def test_any_sixteen_digits_get_a_verdict_consistent_with_the_layout(nik: str) -> None:
    result = check(nik, TODAY)
    if result.valid:
        assert result.parsed is not None
        day = int(nik[6:8])
        assert (result.parsed.sex is Sex.P) == (day > 40)
        assert result.parsed.birth_date.month == int(nik[8:10]) and nik[12:] != "0000"
        assert placeholder_pattern(nik) is None


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=20))
def test_mask_hides_the_middle(value: str) -> None:
    masked = mask(value)
    assert len(masked) == len(value) and masked[:6] == value[:6] and masked[-4:] == value[-4:]
    assert set(masked[6:-4]) == {"*"}


# ---- the vectorised rules agree with check() ---------------------------------------------------

nik_like = st.one_of(
    st.from_regex(r"^\d{16}$", fullmatch=True),
    st.builds(lambda p, s, b, n: encode(p, s, b, n), st.sampled_from(PREFIXES), sexes, dates, st.integers(1, 9999)),
    st.builds(lambda p, d: p + d, st.sampled_from(PREFIXES), st.from_regex(r"^\d{10}$", fullmatch=True)),
    st.text(alphabet="0123456789 .-x", max_size=20),
    st.sampled_from(["1234567890123456", "1111222233334444", "3201010000000017", "", "3201013002120017"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(nik_like, min_size=1, max_size=30))
def test_check_frame_names_the_same_rule_as_check(raws: list[str]) -> None:
    import polars as pl

    from shared.nik import check_frame

    frame = check_frame(pl.Series(raws, dtype=pl.String), TODAY)
    for raw, nik, rule in zip(raws, frame["nik"].to_list(), frame["rule"].to_list(), strict=True):
        expected = check(raw, TODAY)
        assert rule == (expected.rule.value if expected.rule else None), raw
        assert (nik or "") == expected.normalised
