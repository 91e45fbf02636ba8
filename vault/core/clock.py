"""Time as a dependency, so domain tests can control it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

# The controller's time zone unless configured ([controller] time_zone): the
# school's. Its days are the ones a policy version takes effect on and a
# retained item is kept through.
DEFAULT_TIME_ZONE = "Europe/Stockholm"


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


def utc_now(clock: Clock) -> dt.datetime:
    """The clock's time in UTC, as the stores give times back."""
    return clock.now().astimezone(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """A time as the vault writes it into a remembered answer: UTC, to the microsecond."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")
