"""The README's own example registers someone new: no identity it uses is held
by a demo person, in the vault's demo or in any stand-in system. Otherwise
exporting or erasing the example's person would reach that person's data."""

from __future__ import annotations

import re
from pathlib import Path

from vault import demo
from vault.connectors.base import normal_form
from vault.core.identities import Identity, IdentityKind
from vault_standins.people import DEMO_PEOPLE

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
KINDS = {
    "pnr": IdentityKind.PERSONNUMMER,
    "personnummer": IdentityKind.PERSONNUMMER,
    "email": IdentityKind.EMAIL,
    "phone": IdentityKind.PHONE,
}


def _example_identities() -> list[tuple[IdentityKind, str]]:
    """Every identity the README registers: `subject create` options, and the
    Python client's `create_subject([Identity(...)])`."""
    found = []
    for line in README.splitlines():
        if "subject create" in line:
            found += [(KINDS[k], v) for k, v in re.findall(r"--(pnr|email|phone) (\S+)", line)]
        if "create_subject(" in line:
            found += [
                (KINDS[k], v)
                for k, v in re.findall(r'Identity\("(personnummer|email|phone)", "([^"]+)"\)', line)
            ]
    return found


def _held_by_demo_people() -> set[Identity]:
    held = set()
    for person in DEMO_PEOPLE:
        for kind, value in (
            (IdentityKind.PERSONNUMMER, person.personnummer),
            (IdentityKind.EMAIL, person.email),
            (IdentityKind.PHONE, person.phone),
        ):
            held.add(normal_form(kind, value))
    for vault_person in demo.PEOPLE:
        for identity in vault_person.identities:
            held.add(normal_form(identity.kind, identity.value, identity.system))
    held.discard(None)
    return held  # type: ignore[return-value]


def test_the_readme_registers_someone_with_valid_identities() -> None:
    example = _example_identities()
    assert {kind for kind, _ in example} >= {IdentityKind.PERSONNUMMER, IdentityKind.EMAIL}
    invalid = [value for kind, value in example if normal_form(kind, value) is None]
    assert invalid == []


def test_the_readme_example_is_no_demo_person() -> None:
    held = _held_by_demo_people()
    assert len(held) > 10, "the demo people's identities were read"
    clashes = [value for kind, value in _example_identities() if normal_form(kind, value) in held]
    assert clashes == []
