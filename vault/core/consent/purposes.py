"""The purposes the vault processes for, as configured: each with its legal
basis, the categories it may use, the systems that process for it and the
purposes it is compatible with (GDPR art. 6(4)).

A record names one purpose; the vault refuses a purpose nobody configured and
a legal basis that contradicts the purpose's (`Purposes.check_record`), so
"why do we hold this" always has an answer a person can read.

The catalogue is built from a mapping, the parsed form of a TOML file
(vault.purposes_file reads it; the school's ships as the default): the core
reads no files. Every mistake in it is one PurposesError naming the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vault.core import rules
from vault.core.errors import InvalidArgument
from vault.core.model import LegalBasis

# GDPR art. 9(2): the conditions under which special categories of personal
# data (health, say) may be processed, by the letter of the paragraph.
SPECIAL_CATEGORY_CONDITIONS: dict[str, str] = {
    "a": "explicit consent",
    "b": "employment and social security law",
    "c": "vital interests of a person unable to consent",
    "d": "a not-for-profit body's members",
    "e": "made public by the person",
    "f": "legal claims",
    "g": "substantial public interest",
    "h": "health or social care",
    "i": "public health",
    "j": "archiving, research or statistics",
}

# How each art. 6(1) basis reads, with its letter, in a register or an export.
BASIS_WORDS: dict[LegalBasis, str] = {
    LegalBasis.CONSENT: "consent (GDPR art. 6(1)(a))",
    LegalBasis.CONTRACT: "contract (GDPR art. 6(1)(b))",
    LegalBasis.LEGAL_OBLIGATION: "legal obligation (GDPR art. 6(1)(c))",
    LegalBasis.VITAL_INTERESTS: "vital interests (GDPR art. 6(1)(d))",
    LegalBasis.PUBLIC_TASK: "public task (GDPR art. 6(1)(e))",
    LegalBasis.LEGITIMATE_INTEREST: "legitimate interest (GDPR art. 6(1)(f))",
}

_KEYS = frozenset(
    {
        "description",
        "legal_basis",
        "special_category_condition",
        "categories",
        "systems",
        "compatible_with",
        "material_changes",
        "direct_marketing",
    }
)


class PurposesError(Exception):
    """The purposes' configuration cannot be used; the message names the key."""


@dataclass(frozen=True)
class Purpose:
    """One configured purpose.

    `description` is by language tag ("sv", "en"); `material_changes` says
    whether a change to the purpose is material (a consent given before it no
    longer covers what is done): a policy version that lists the purpose as
    changed changes it materially when this is true, and a version may name a
    purpose as materially changed whatever this says.
    """

    name: str
    description: Mapping[str, str]
    legal_basis: LegalBasis
    categories: tuple[str, ...]
    systems: tuple[str, ...]
    compatible_with: tuple[str, ...] = ()
    special_category_condition: str = ""
    material_changes: bool = True
    # Marketing addressed to the person: their objection to it is absolute
    # (art. 21(3)), whatever the basis.
    direct_marketing: bool = False

    @property
    def rests_on_consent(self) -> bool:
        return self.legal_basis is LegalBasis.CONSENT

    @property
    def open_to_objection(self) -> bool:
        """May the person object to it (art. 21)? To direct marketing always;
        otherwise where it rests on legitimate interest or a public task."""
        return self.direct_marketing or self.legal_basis in (
            LegalBasis.LEGITIMATE_INTEREST,
            LegalBasis.PUBLIC_TASK,
        )

    def described(self, language: str = "en") -> str:
        """The description in `language`, or in English, or in any language given."""
        return (
            self.description.get(language)
            or self.description.get("en")
            or next(iter(self.description.values()), self.name)
        )


class Purposes:
    """The catalogue: every configured purpose by name."""

    def __init__(self, purposes: Mapping[str, Purpose]) -> None:
        self._by_name = dict(sorted(purposes.items()))

    def __iter__(self) -> Iterator[Purpose]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Purpose | None:
        return self._by_name.get(name)

    def named(self, name: str, field: str = "purpose") -> Purpose:
        """The purpose called `name`, or InvalidArgument naming `field`."""
        rules.purpose(name, field)
        found = self._by_name.get(name)
        if found is None:
            raise InvalidArgument(
                field,
                f"{name} is not a configured purpose (`consent-vault purposes list` shows them)",
            )
        return found

    def check_record(self, purpose: str, legal_basis: LegalBasis, field: str = "record") -> Purpose:
        """A record's purpose must be configured and its legal basis the
        purpose's; the error names the field that is wrong."""
        found = self.named(purpose, f"{field}.purpose")
        if legal_basis is not found.legal_basis:
            raise InvalidArgument(
                f"{field}.legal_basis",
                f"purpose {purpose} rests on {BASIS_WORDS[found.legal_basis]}, "
                f"not {BASIS_WORDS[legal_basis]}",
            )
        return found

    def consent_based(self) -> list[Purpose]:
        """The purposes that rest on consent, by name."""
        return [p for p in self if p.rests_on_consent]

    def compatible(self, held_for: str, used_for: str) -> bool:
        """May a record held for `held_for` be used for `used_for` (art. 6(4))?"""
        if held_for == used_for:
            return True
        held = self._by_name.get(held_for)
        return held is not None and used_for in held.compatible_with

    def for_system(self, system: str) -> frozenset[str]:
        """The purposes `system` processes for."""
        return frozenset(p.name for p in self if system in p.systems)

    def systems(self) -> dict[str, frozenset[str]]:
        """Every system named, with the purposes it processes for."""
        named = sorted({system for p in self for system in p.systems})
        return {system: self.for_system(system) for system in named}

    # ------------------------------------------------------------ building
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "purposes") -> Purposes:
        """The catalogue from a parsed TOML document: one `[purposes.NAME]`
        table per purpose. Raises PurposesError naming the first bad key."""
        tables = data.get("purposes")
        if not isinstance(tables, Mapping) or not tables:
            raise PurposesError(f"{where}: no [purposes.NAME] tables; configure at least one")
        purposes = {
            name: _purpose(name, table, f"{where}: [purposes.{name}]")
            for name, table in tables.items()
        }
        for purpose in purposes.values():
            for other in purpose.compatible_with:
                if other not in purposes:
                    raise PurposesError(
                        f"{where}: [purposes.{purpose.name}] compatible_with names "
                        f"{other}, which is not configured"
                    )
        return cls(purposes)


def _purpose(name: str, table: Any, where: str) -> Purpose:
    try:
        rules.purpose(name, "name")
    except InvalidArgument as error:
        raise PurposesError(f"{where}: the name {error.rule}") from None
    if not isinstance(table, Mapping):
        raise PurposesError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise PurposesError(
            f"{where}: unknown key {unknown[0]} (known: {', '.join(sorted(_KEYS))})"
        )
    description = table.get("description")
    if not isinstance(description, Mapping) or not description:
        raise PurposesError(
            f'{where}: description must be a table by language, such as {{ en = "..." }}'
        )
    for language, text in description.items():
        if not isinstance(text, str) or not text.strip():
            raise PurposesError(f"{where}: description.{language} must be text")
    basis_word = table.get("legal_basis")
    try:
        basis = LegalBasis(basis_word)
    except ValueError:
        known = ", ".join(b.value for b in LegalBasis)
        raise PurposesError(f"{where}: legal_basis must be one of {known}") from None
    condition = table.get("special_category_condition", "")
    if condition and condition not in SPECIAL_CATEGORY_CONDITIONS:
        raise PurposesError(
            f"{where}: special_category_condition must be a letter of GDPR art. 9(2), a to j"
        )
    material = table.get("material_changes", True)
    if not isinstance(material, bool):
        raise PurposesError(f"{where}: material_changes must be true or false")
    marketing = table.get("direct_marketing", False)
    if not isinstance(marketing, bool):
        raise PurposesError(f"{where}: direct_marketing must be true or false")
    return Purpose(
        name=name,
        description=dict(description),
        legal_basis=basis,
        categories=_words(table, "categories", where, rules.category),
        systems=_words(table, "systems", where, rules.system),
        compatible_with=_words(table, "compatible_with", where, rules.purpose, required=False),
        special_category_condition=condition,
        material_changes=material,
        direct_marketing=marketing,
    )


def _words(
    table: Mapping[str, Any], key: str, where: str, rule: Any, required: bool = True
) -> tuple[str, ...]:
    listed = table.get(key, [])
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise PurposesError(f'{where}: {key} must be a list of names in quotes, such as ["lms"]')
    if required and not listed:
        raise PurposesError(f"{where}: {key} must name at least one")
    for item in listed:
        try:
            rule(item, key)
        except InvalidArgument as error:
            raise PurposesError(f"{where}: {key}: {item!r} {error.rule}") from None
    return tuple(dict.fromkeys(listed))
