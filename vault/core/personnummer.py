"""Swedish personnummer and samordningsnummer: validation and one canonical form.

Written by hand on purpose: the published libraries disagree with the tax
agency (Skatteverket) on century rules and samordningsnummer, so they serve at
most as test oracles. Only ASCII digits are accepted; Unicode digits that
`str.isdigit` would let through are not numbers in the population register.

Forms read (the separator `-` or `+` is optional in the 10-digit form):
  YYYYMMDDNNNN, YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDDNNNN, YYMMDD+NNNN (age 100+)
The canonical form is always the 12 digits YYYYMMDDNNNN.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_FORM = re.compile(
    r"(?P<century>[0-9]{2})?(?P<yymmdd>[0-9]{6})(?P<sep>[-+]?)(?P<serial>[0-9]{3})(?P<check>[0-9])",
    re.ASCII,
)

# Samordningsnummer add 60 to the day of birth.
COORDINATION_DAY_OFFSET = 60


class InvalidPersonnummer(ValueError):
    """The text is not a valid personnummer or samordningsnummer; `rule` says why."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@dataclass(frozen=True)
class Personnummer:
    canonical: str
    birth_date: dt.date
    is_coordination_number: bool


def luhn_check_digit(nine_digits: str) -> int:
    """The check digit for YYMMDDNNN, weights 2,1,2,1,... from the left."""
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def parse(text: str, today: dt.date) -> Personnummer:
    """Validate `text` and return its canonical form; `today` decides the century
    of a 10-digit number."""
    candidate = text.strip()
    match = _FORM.fullmatch(candidate)
    if match is None:
        raise InvalidPersonnummer(
            "must be 10 or 12 ASCII digits, as YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN "
            "or YYMMDD+NNNN"
        )
    century, yymmdd, sep = match["century"], match["yymmdd"], match["sep"]
    serial, check = match["serial"], int(match["check"])
    if century is not None and sep == "+":
        raise InvalidPersonnummer("'+' marks age 100 or more and is only used in the 10-digit form")

    if luhn_check_digit(yymmdd + serial) != check:
        raise InvalidPersonnummer("check digit (Luhn) does not match")

    month, raw_day = int(yymmdd[2:4]), int(yymmdd[4:6])
    is_coordination = raw_day > COORDINATION_DAY_OFFSET
    day = raw_day - COORDINATION_DAY_OFFSET if is_coordination else raw_day
    if not 1 <= month <= 12:
        raise InvalidPersonnummer("month must be 01 to 12")
    if day < 1:
        raise InvalidPersonnummer("day must be 01 to 31, or 61 to 91 for a samordningsnummer")

    yy = int(yymmdd[0:2])
    if century is not None:
        year = int(century) * 100 + yy
    else:
        year = _year_from_short_form(yy, month, day, plus=(sep == "+"), today=today)

    try:
        birth_date = dt.date(year, month, day)
    except ValueError:
        raise InvalidPersonnummer(
            f"{year:04d}-{month:02d}-{day:02d} is not a calendar date"
        ) from None
    if birth_date > today:
        raise InvalidPersonnummer("date of birth is in the future")
    return Personnummer(
        canonical=f"{year:04d}{yymmdd[2:]}{serial}{check}",
        birth_date=birth_date,
        is_coordination_number=is_coordination,
    )


def _year_from_short_form(yy: int, month: int, day: int, *, plus: bool, today: dt.date) -> int:
    """The latest year ending in `yy` whose birthday (month, day) is not after
    today; a `+` means the person has turned 100, so a century earlier."""
    year = today.year - (today.year - yy) % 100
    if (month, day) > (today.month, today.day) and year == today.year:
        year -= 100
    return year - 100 if plus else year
