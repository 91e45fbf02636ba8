"""Moments as the SQLite stores keep them: UTC ISO 8601 text with
microseconds, which sorts, and compares, as the moments do. None stays None
(a NULL column: a time not set)."""

from __future__ import annotations

import datetime as dt
from typing import overload


@overload
def as_text(moment: dt.datetime) -> str: ...
@overload
def as_text(moment: dt.datetime | None) -> str | None: ...
def as_text(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@overload
def as_moment(text: str) -> dt.datetime: ...
@overload
def as_moment(text: str | None) -> dt.datetime | None: ...
def as_moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None
