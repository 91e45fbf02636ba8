"""Validation rules for what clients send, each failing with the field and the rule."""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from typing import Any

from vault.core.errors import InvalidArgument

MAX_ROLES = 20
MAX_FIELDS_BYTES = 1 << 20
MAX_CONTENT_BYTES = 8 << 20
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
RESERVED_CATEGORY_PREFIX = "vault."

_CATEGORY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*", re.ASCII)
_WORD = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_SYSTEM = re.compile(r"[a-z][a-z0-9_.-]*", re.ASCII)
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*", re.ASCII)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", re.ASCII)
_RESOURCE_ID = re.compile(r"[a-z0-9][a-z0-9-]*", re.ASCII)


# Made once: json.dumps with any option builds a new encoder on every call.
_FIELDS_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _pattern(value: str, pattern: re.Pattern[str], limit: int, field: str, described: str) -> str:
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if not _fits(value, pattern, limit):
        raise InvalidArgument(field, f"must be {described}, at most {limit} characters")
    return value


@functools.lru_cache(maxsize=4096)
def _fits(value: str, pattern: re.Pattern[str], limit: int) -> bool:
    # Cached: a bulk import repeats the same few categories and purposes.
    return len(value) <= limit and pattern.fullmatch(value) is not None


def category(value: str, field: str = "category") -> str:
    _pattern(
        value, _CATEGORY, 64, field, "lower-case ASCII words joined by '.', like student.grading"
    )
    if value.startswith(RESERVED_CATEGORY_PREFIX):
        raise InvalidArgument(field, f"the prefix '{RESERVED_CATEGORY_PREFIX}' is reserved")
    return value


def purpose(value: str, field: str = "purpose") -> str:
    return _pattern(value, _WORD, 64, field, "a lower-case ASCII word like course_delivery")


def role(value: str, field: str) -> str:
    return _pattern(value, _WORD, 40, field, "a lower-case ASCII word like student")


def roles(values: list[str], field: str = "roles") -> tuple[str, ...]:
    if len(values) > MAX_ROLES:
        raise InvalidArgument(field, f"at most {MAX_ROLES} roles")
    checked = [role(value, f"{field}[{i}]") for i, value in enumerate(values)]
    if len(set(checked)) != len(checked):
        raise InvalidArgument(field, "must not repeat a role")
    return tuple(checked)


def system(value: str, field: str) -> str:
    return _pattern(value, _SYSTEM, 40, field, "a lower-case ASCII name like lms")


def request_id(value: str) -> str:
    return _pattern(
        value, _REQUEST_ID, 64, "request_id", "ASCII letters, digits, '.', '_', ':' or '-'"
    )


def resource_id(value: str, field: str) -> str:
    return _pattern(value, _RESOURCE_ID, 64, field, "lower-case ASCII letters, digits and '-'")


def media_type(value: str, field: str) -> str:
    return _pattern(value.lower(), _MEDIA_TYPE, 127, field, "a media type like image/jpeg")


def filename(value: str, field: str) -> str:
    if len(value) > 255:
        raise InvalidArgument(field, "must be at most 255 characters")
    if any(ch in value for ch in "/\\\x00") or value in (".", "..") or _has_control(value):
        raise InvalidArgument(
            field, "must be a plain file name without '/', '\\' or control characters"
        )
    return value


def content_data(value: bytes, field: str) -> bytes:
    if len(value) > MAX_CONTENT_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_CONTENT_BYTES} bytes")
    return value


def fields_json(value: dict[str, Any], field: str = "fields") -> str:
    """Structured fields as compact JSON, which must hold no NUL characters and
    no non-finite numbers. Serializing is the check; the slower walk that names
    the offending field runs only when serializing finds something wrong."""
    try:
        text = _FIELDS_JSON.encode(value)
    except (ValueError, TypeError):
        _check_json(value, field)
        raise InvalidArgument(field, "must be JSON") from None
    if "\\u0000" in text:  # JSON escapes NUL; a literal backslash-u0000 is a false alarm
        _check_json(value, field)
    if len(text) > MAX_FIELDS_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_FIELDS_BYTES} bytes as JSON")
    return text


def person_named(value: str, field: str) -> str:
    """Who did something (confirmed, decided), as a report will print it: no
    control, format or separator characters (a right-to-left override would
    turn the report's text around)."""
    if (
        not value.strip()
        or len(value) > 200
        or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)
    ):
        raise InvalidArgument(field, "must name who did it in at most 200 printable characters")
    return value.strip()


def one_line(value: str, field: str, most: int = 500, *, required: bool = False) -> str:
    """A short text a person wrote (a consent's evidence, a restriction's
    reason), stripped, as a report prints it: one line of at most `most`
    printable characters, so no control, format or separator character
    breaks the line or turns the report's text around."""
    text = value.strip()
    if required and not text:
        raise InvalidArgument(field, f"is required: one line of at most {most} characters")
    if len(text) > most or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise InvalidArgument(field, f"must be at most {most} printable characters on one line")
    return text


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    if value > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be at most {MAX_PAGE_SIZE}")
    return value or DEFAULT_PAGE_SIZE


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def _check_json(value: Any, field: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidArgument(field, "keys must be strings without NUL")
            _check_json(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{field}[{index}]")
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidArgument(field, "must not contain NUL characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(field, "must be a finite number")
    elif not (value is None or isinstance(value, bool | int)):
        raise InvalidArgument(field, "must be JSON: object, array, string, number, boolean or null")
