"""The file `consent-vault import` reads: JSON Lines, one person a line, as
the client's NewSubject. The shape is checked here, line by line; the values
(a personnummer's checksum, a category's form) are the vault's to judge.

    {"identities": [{"kind": "email", "value": "eva@example.se"}],
     "roles": ["student"], "protected": false,
     "records": [{"category": "contact", "purpose": "course_delivery",
                  "legal_basis": "contract", "source_system": "lms",
                  "fields": {"city": "Malmö"}}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vault.v1 import vault_pb2 as pb
from vault_client import Identity, NewSubject, Record

# The API's identity kinds and legal bases, as the client names them.
KINDS = [
    v.name.removeprefix("IDENTITY_KIND_").lower()
    for v in pb.IdentityKind.DESCRIPTOR.values
    if v.number
]
LEGAL_BASES = [
    v.name.removeprefix("LEGAL_BASIS_").lower() for v in pb.LegalBasis.DESCRIPTOR.values if v.number
]
_PERSON_KEYS = {"identities", "roles", "protected", "records"}
_IDENTITY_KEYS = {"kind", "value", "system"}
_RECORD_KEYS = {"category", "purpose", "legal_basis", "source_system", "fields"}


class BadLine(ValueError):
    """A line that is not a person in the file's form."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def check(path: Path) -> tuple[list[int], list[BadLine]]:
    """The line numbers of the file's people, and every line that is not one."""
    lines: list[int] = []
    bad: list[BadLine] = []
    for number, line in _lines(path):
        try:
            person(line)
        except ValueError as problem:
            bad.append(BadLine(number, str(problem)))
        else:
            lines.append(number)
    return lines, bad


def read_people(path: Path) -> Iterator[NewSubject]:
    """The file's people in order; BadLine at the first line that is not one."""
    for number, line in _lines(path):
        try:
            yield person(line)
        except ValueError as problem:
            raise BadLine(number, str(problem)) from None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line that is not blank, with its number, as bytes: a line that is
    not UTF-8 is named by its number too."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line


def person(line: bytes) -> NewSubject:
    """One line's person; ValueError saying what is wrong, in the file's words."""
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        data = json.loads(text.strip())
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    _object(data, _PERSON_KEYS, "the line")
    identities = _list(data, "identities", required=True)
    if not identities:
        raise ValueError("identities: must hold at least one identity")
    roles = _list(data, "roles")
    if not all(isinstance(role, str) for role in roles):
        raise ValueError('roles: must be a list of strings, such as ["student"]')
    protected = data.get("protected", False)
    if not isinstance(protected, bool):
        raise ValueError("protected: must be true or false")
    return NewSubject(
        identities=[_identity(item, f"identities[{i}]") for i, item in enumerate(identities)],
        roles=roles,
        protected_identity=protected,
        records=[_record(item, f"records[{i}]") for i, item in enumerate(_list(data, "records"))],
    )


def _identity(data: Any, where: str) -> Identity:
    _object(data, _IDENTITY_KEYS, where)
    kind = _text(data, "kind", where)
    if kind not in KINDS:
        raise ValueError(f"{where}.kind: must be one of {', '.join(KINDS)}")
    system = _text(data, "system", where) if "system" in data else ""
    return Identity(kind, _text(data, "value", where), system)


def _record(data: Any, where: str) -> Record:
    _object(data, _RECORD_KEYS, where)
    basis = _text(data, "legal_basis", where)
    if basis not in LEGAL_BASES:
        raise ValueError(f"{where}.legal_basis: must be one of {', '.join(LEGAL_BASES)}")
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise ValueError(f"{where}.fields: must be an object of field names and values")
    return Record(
        name="",
        category=_text(data, "category", where),
        purpose=_text(data, "purpose", where),
        legal_basis=basis,
        source_system=_text(data, "source_system", where),
        fields=fields,
    )


def _object(data: Any, keys: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be a JSON object")
    unknown = sorted(set(data) - keys)
    if unknown:
        prefix = "" if where == "the line" else f"{where}."
        raise ValueError(
            f"{prefix}{unknown[0]}: not a key of the file's form (use {', '.join(sorted(keys))})"
        )


def _list(data: dict[str, Any], key: str, *, required: bool = False) -> list[Any]:
    if key not in data:
        if required:
            raise ValueError(f"{key}: missing")
        return []
    value = data[key]
    if not isinstance(value, list):
        raise ValueError(f"{key}: must be a list")
    return value


def _text(data: dict[str, Any], key: str, where: str) -> str:
    if key not in data:
        raise ValueError(f"{where}.{key}: missing")
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{where}.{key}: must be a string")
    return value
