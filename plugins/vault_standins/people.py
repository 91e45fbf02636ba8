"""The people the stand-ins hold: the school's demo people, and generated ones for benchmarks."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from vault.core.personnummer import luhn_check_digit


@dataclass
class Person:
    key: str
    first: str
    last: str
    email: str
    phone: str
    personnummer: str  # 12 digits
    address: str = "Kalendegatan 1, 211 35 Malmö"
    lms: bool = True
    salon_customer: bool = False
    salon_student: bool = False
    accounting: bool = True
    blocked_in_group: bool = False
    facebook_profile: str = ""
    grade_dates: list[dt.date] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


DEMO_PEOPLE = [
    Person(
        "anna",
        "Anna",
        "Andersson",
        "anna.andersson@example.se",
        "+46701234567",
        "198112189876",
        salon_student=True,
        grade_dates=[dt.date(2026, 6, 10), dt.date(2025, 12, 1)],
    ),
    Person(
        "bo",
        "Bo",
        "Berg",
        "bo.berg@example.com",
        "+4640123456",
        "199001010017",
        lms=False,
        salon_customer=True,
    ),
    Person(
        "cecilia",
        "Cecilia",
        "Lind",
        "cecilia@example.org",
        "+46731112233",
        "197010632391",
        lms=False,
        accounting=False,
        blocked_in_group=True,
        facebook_profile="https://www.facebook.com/example.cecilia",
    ),
]


def generated_people(count: int, seed: int = 7, start: int = 0) -> list[Person]:
    """Deterministic, valid-looking people for load and benchmarks."""
    rng = random.Random(seed)
    people = []
    for n in range(start, start + count):
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(16000))
        nine = f"{born:%y%m%d}{n % 1000:03d}"
        pnr = f"{born.year}{nine[2:]}{luhn_check_digit(nine)}"
        people.append(
            Person(
                f"p{n}",
                f"Person{n}",
                "Test",
                f"person{n}@example.com",
                f"+46701{n:06d}",
                pnr,
                salon_customer=True,
                salon_student=n % 5 == 0,
                grade_dates=[dt.date(2024, 1, 15) + dt.timedelta(days=n % 900)],
            )
        )
    return people
