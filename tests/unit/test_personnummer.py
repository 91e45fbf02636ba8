"""Personnummer and samordningsnummer: published vectors, rule-by-rule rejections, properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core import personnummer
from vault.core.personnummer import InvalidPersonnummer, parse

TODAY = dt.date(2026, 11, 24)


def independent_luhn_ok(ten_digits: str) -> bool:
    """Textbook Luhn from the right, written differently from the code under test."""
    total = 0
    for position, char in enumerate(reversed(ten_digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        # Skatteverket's own examples
        ("19121212-1212", "191212121212"),
        ("121212-1212", "201212121212"),  # under 100 in 2026: born 2012
        ("121212+1212", "191212121212"),  # '+': 100 or older
        ("811218-9876", "198112189876"),
        ("8112189876", "198112189876"),
        ("198112189876", "198112189876"),
        ("19811218-9876", "198112189876"),
        # samordningsnummer: day + 60
        ("701063-2391", "197010632391"),
        ("19701063-2391", "197010632391"),
        # surrounding blanks are forgiven
        ("  811218-9876 ", "198112189876"),
    ],
)
def test_published_numbers_read_to_one_canonical_form(written: str, canonical: str) -> None:
    assert parse(written, TODAY).canonical == canonical


def test_samordningsnummer_is_flagged_and_has_the_real_birth_date() -> None:
    number = parse("701063-2391", TODAY)
    assert number.is_coordination_number
    assert number.birth_date == dt.date(1970, 10, 3)


def test_century_follows_the_birthday_not_just_the_year() -> None:
    # 2026-11-24: someone born 25 Nov '26 with '-' cannot be born tomorrow,
    # so they were born in 1926 and are 99.
    check = personnummer.luhn_check_digit("261125123")
    assert parse(f"261125-123{check}", TODAY).canonical.startswith("1926")
    check = personnummer.luhn_check_digit("261124123")
    assert parse(f"261124-123{check}", TODAY).canonical.startswith("2026")


def _with_check(nine: str, sep: str = "-") -> str:
    return f"{nine[:6]}{sep}{nine[6:]}{personnummer.luhn_check_digit(nine)}"


@pytest.mark.parametrize(
    ("written", "rule"),
    [
        ("811218-9877", "Luhn"),
        ("19811218-9875", "Luhn"),
        ("", "10 or 12"),
        ("811218", "10 or 12"),
        ("81121898761", "10 or 12"),
        ("811218_9876", "10 or 12"),
        ("811218 9876", "10 or 12"),
        ("811218-987a", "10 or 12"),
        (
            "".join(chr(0x0660 + int(c)) for c in "8112189876"),
            "10 or 12",
        ),  # Arabic-Indic digits pass str.isdigit, not us
        ("".join(chr(0xFF10 + int(c)) for c in "8112189876"), "10 or 12"),  # full-width digits
        ("811218-9876\x00", "10 or 12"),
        ("19811218+9876", "only used in the 10-digit form"),
        (_with_check("811318987"), "month"),
        (_with_check("810018987"), "month"),
        (_with_check("811200987"), "day"),
        (_with_check("810230987"), "calendar date"),
        (_with_check("810229987"), "calendar date"),  # 1981 is no leap year
        (_with_check("701092239"), "calendar date"),  # samordningsnummer day 32
    ],
)
def test_invalid_numbers_are_refused_with_the_rule(written: str, rule: str) -> None:
    with pytest.raises(InvalidPersonnummer, match=rule):
        parse(written, TODAY)


def test_a_birth_date_in_the_future_is_refused() -> None:
    nine = "270101011"
    written = f"20{nine[:6]}{nine[6:]}{personnummer.luhn_check_digit(nine)}"
    with pytest.raises(InvalidPersonnummer, match="future"):
        parse(written, TODAY)


def test_leap_day_in_a_leap_year_is_accepted() -> None:
    assert parse(_with_check("000229123"), TODAY).birth_date == dt.date(2000, 2, 29)


births = st.dates(min_value=dt.date(1827, 1, 1), max_value=TODAY)


@st.composite
def numbers(draw: st.DrawFn) -> tuple[dt.date, str, bool]:
    born = draw(births)
    serial = f"{draw(st.integers(0, 999)):03d}"
    coordination = draw(st.booleans())
    day = born.day + (60 if coordination else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial}"
    canonical = f"{born.year:04d}{nine[2:]}{personnummer.luhn_check_digit(nine)}"
    return born, canonical, coordination


@given(numbers())
def test_every_written_form_reads_back_to_the_canonical_form(
    case: tuple[dt.date, str, bool],
) -> None:
    born, canonical, coordination = case
    assert independent_luhn_ok(canonical[2:])
    forms = [canonical, f"{canonical[:8]}-{canonical[8:]}"]
    age_at_least_100 = born <= TODAY.replace(year=TODAY.year - 100)
    short = canonical[2:]
    if age_at_least_100:
        if born > TODAY.replace(year=TODAY.year - 200):
            forms.append(f"{short[:6]}+{short[6:]}")
    else:
        forms += [f"{short[:6]}-{short[6:]}", short]
    for form in forms:
        number = parse(form, TODAY)
        assert number.canonical == canonical, form
        assert number.birth_date == born
        assert number.is_coordination_number is coordination


@given(numbers(), st.integers(1, 9))
def test_any_single_wrong_check_digit_is_caught(
    case: tuple[dt.date, str, bool], delta: int
) -> None:
    _, canonical, _ = case
    wrong = canonical[:-1] + str((int(canonical[-1]) + delta) % 10)
    assert not independent_luhn_ok(wrong[2:])
    with pytest.raises(InvalidPersonnummer, match="Luhn"):
        parse(wrong, TODAY)


@given(st.text(max_size=20))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        number = parse(text, TODAY)
    except InvalidPersonnummer:
        return
    assert number.canonical.isascii() and len(number.canonical) == 12
