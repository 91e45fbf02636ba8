"""Identities: the ways a person is recognised, each read into one canonical form.

The canonical form is what the blind index is computed over, so every written
form of the same identity finds the same subject.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from vault.core import personnummer
from vault.core.errors import InvalidArgument

MAX_IDENTITY_LENGTH = 254
_SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,39}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class IdentityKind(enum.Enum):
    PERSONNUMMER = "personnummer"
    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL_ID = "external_id"


@dataclass(frozen=True)
class Identity:
    """An identity in canonical form; build one with `canonical_identity`."""

    kind: IdentityKind
    value: str
    system: str = ""

    @property
    def index_text(self) -> str:
        """The text the blind index is computed over: kind, system and value."""
        return f"{self.kind.value}\x1f{self.system}\x1f{self.value}"


def canonical_identity(
    kind: IdentityKind, value: str, system: str, *, today: dt.date, field: str
) -> Identity:
    """Validate an identity as written and return its canonical form.

    `field` names the request field in errors, for instance `identities[1].value`.
    """
    if not value or not value.strip():
        raise InvalidArgument(f"{field}.value", "must not be empty")
    if len(value) > MAX_IDENTITY_LENGTH:
        raise InvalidArgument(f"{field}.value", f"must be at most {MAX_IDENTITY_LENGTH} characters")
    if _CONTROL.search(value):
        raise InvalidArgument(f"{field}.value", "must not contain control characters or NUL")
    if kind is not IdentityKind.EXTERNAL_ID and system:
        raise InvalidArgument(f"{field}.system", "is only used with IDENTITY_KIND_EXTERNAL_ID")

    if kind is IdentityKind.PERSONNUMMER:
        try:
            return Identity(kind, personnummer.parse(value, today).canonical)
        except personnummer.InvalidPersonnummer as exc:
            raise InvalidArgument(f"{field}.value", f"not a personnummer: {exc.rule}") from None
    if kind is IdentityKind.EMAIL:
        return Identity(kind, _canonical_email(value, field))
    if kind is IdentityKind.PHONE:
        return Identity(kind, _canonical_phone(value, field))
    if not system:
        raise InvalidArgument(f"{field}.system", "must name the system for an external id")
    if not _SYSTEM_NAME.fullmatch(system):
        raise InvalidArgument(
            f"{field}.system", "must be 1-40 lower-case ASCII letters, digits, '_', '.' or '-'"
        )
    return Identity(kind, value.strip(), system)


def _canonical_email(value: str, field: str) -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InvalidArgument(f"{field}.value", "not a valid e-mail address") from None
    # The whole address is folded: in practice no mail system treats
    # Anna@ and anna@ as two people, and the issue asks for any letter case.
    return checked.normalized.lower()


def _canonical_phone(value: str, field: str) -> str:
    try:
        number = phonenumbers.parse(value, "SE")
    except phonenumbers.NumberParseException:
        raise InvalidArgument(f"{field}.value", "not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidArgument(f"{field}.value", "not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
