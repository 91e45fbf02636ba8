"""The vault's codes in the words a person reads, shared by the export page and
the terminal: counts, legal bases, identity kinds, states, names of things."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Keyed by the codes (LegalBasis and IdentityKind values), not the enums: the
# CLI imports these words, and the core's identities module is slow to load.


def count(number: int, thing: str) -> str:
    """ "1 entry", "2 entries", "1 row", "0 rows", "20,000 rows"."""
    if number == 1:
        return f"1 {thing}"
    plural = (
        thing[:-1] + "ies" if thing.endswith("y") and thing[-2:-1] not in "aeiou" else thing + "s"
    )
    return f"{number:,} {plural}"


def people(number: int) -> str:
    return "1 person" if number == 1 else f"{number:,} people"


_LEGAL_BASIS_WORDS = {
    "consent": "your consent (GDPR art. 6(1)(a)); you may withdraw it at any time",
    "contract": "needed for a contract with you (GDPR art. 6(1)(b))",
    "legal_obligation": "required by law (GDPR art. 6(1)(c))",
    "vital_interests": "needed to protect your life or someone else's (GDPR art. 6(1)(d))",
    "public_task": "needed for a task in the public interest or as a public authority "
    "(GDPR art. 6(1)(e))",
    "legitimate_interest": "our legitimate interest, weighed against your rights "
    "(GDPR art. 6(1)(f)); you may object to it",
}


def basis(code: str) -> str:
    """A legal basis as an operator names it: "legal obligation", not its code."""
    return code.replace("_", " ")


def legal_basis(code: str) -> str:
    """A legal basis (a LegalBasis value) in words the person the data is about
    can read, with its article."""
    return _LEGAL_BASIS_WORDS[code]


# In place of what a protected identity's masking leaves empty (an identity's
# value, the roles, a record's fields), so a blank never reads as no data.
HIDDEN = "(hidden: protected identity)"

# Identity kinds (IdentityKind values) as a person names them.
KIND_WORDS = {
    "personnummer": "personnummer",
    "email": "e-mail",
    "phone": "phone",
    "external_id": "user ID",
}

# What a person reads in the erasure report; --json keeps the codes.
OUTCOME_WORDS = {
    "removed": "removed",
    "retained": "kept",
    "manual_action": "by hand",
    "no_match": "nobody found",
    "already_removed": "already gone",
}
# States in the same words wherever they are shown: `requests list`, the live
# table during an erasure, and the report.
REQUEST_WORDS = {
    "pending": "waiting to start",
    "in_progress": "in progress",
    "partially_completed": "partially completed: needs attention",
    "awaiting_manual_action": "awaiting manual action",
    "completed": "completed",
}
STEP_WORDS = {
    "pending": "waiting to start",
    "running": "running",
    "retrying": "failed, will be retried",
    "succeeded": "done",
    "needs_attention": "needs attention",
    "not_applicable": "not applicable",
}


def words(name: str) -> str:
    """A code such as student.grading_basis as words: Student: grading basis."""
    text = ": ".join(part.replace("_", " ") for part in name.split("."))
    return text[:1].upper() + text[1:]


# Well-known abbreviations a field's name spells in lower case (last_ip, amount_sek).
_ABBREVIATIONS = {
    "id": "ID",
    "ip": "IP",
    "url": "URL",
    "uri": "URI",
    "sek": "SEK",
    "eur": "EUR",
    "vat": "VAT",
    "sms": "SMS",
    "lms": "LMS",
    "iban": "IBAN",
    "bic": "BIC",
}
# Where a name's words meet: documentNumber, DocumentNumber, HTTPStatus.
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PERSONNUMMER = re.compile(r"(\d{8})(\d{4})")


@functools.lru_cache(maxsize=4096)
def label(key: str) -> str:
    """A field's name as words, by one rule for every system: camelCase and
    snake_case split, a trailing number dropped (phone1, Address1), sentence
    case, well-known abbreviations in capitals. DocumentNumber: Document number;
    last_ip: Last IP. The JSON keeps the name as the system gave it."""
    parts = _WORD_BREAK.sub(" ", key).replace("_", " ").replace("-", " ").split()
    if parts and len(parts[-1]) > 1:
        parts[-1] = parts[-1].rstrip("0123456789") or parts[-1]
    parts = [_ABBREVIATIONS.get(part.lower(), part.lower()) for part in parts if part]
    if not parts:
        return key
    parts[0] = parts[0][:1].upper() + parts[0][1:]
    return " ".join(parts)


def role(name: str) -> str:
    """A role such as lms_user as words: LMS user."""
    return " ".join(_ABBREVIATIONS.get(part, part) for part in name.split("_"))


def personnummer(value: str) -> str:
    """The vault's canonical 198112189876 as people write it: 19811218-9876."""
    found = _PERSONNUMMER.fullmatch(value)
    return f"{found[1]}-{found[2]}" if found else value


def sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def listed(items: Iterable[str], conjunction: str) -> str:
    """Distinct items as a list in words: "e-mail, phone or personnummer"."""
    distinct = list(dict.fromkeys(items))
    if len(distinct) <= 1:
        return "".join(distinct)
    return f"{', '.join(distinct[:-1])} {conjunction} {distinct[-1]}"


def country(code: str) -> str:
    name = _COUNTRIES.get(code.upper())
    return f"{name} ({code.upper()})" if name else code


def as_text(value: object) -> str:
    """A value JSON has no type for (connectors' values come from other systems'
    databases: decimals, bytes, timestamps), as text."""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


# The countries the controller's policy allows systems in (EEA_COUNTRIES).
_COUNTRIES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "HR": "Croatia",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "FR": "France",
    "DE": "Germany",
    "GR": "Greece",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LV": "Latvia",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "MT": "Malta",
    "NL": "the Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SK": "Slovakia",
    "SI": "Slovenia",
    "ES": "Spain",
    "SE": "Sweden",
    "IS": "Iceland",
    "LI": "Liechtenstein",
    "NO": "Norway",
}
