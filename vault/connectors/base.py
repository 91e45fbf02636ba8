"""Connector base class and the values connectors exchange with the vault."""

from __future__ import annotations

import abc
import datetime as dt
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vault.core import rules
from vault.core.errors import InvalidArgument
from vault.core.identities import Identity, IdentityKind, canonical_identity
from vault.core.model import LegalBasis
from vault.plugins.hookspecs import Capability

# Where processing may happen without a transfer outside the EU/EEA (GDPR ch. V).
EEA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)


class ConnectorError(Exception):
    """A connector failed for a reason that a later attempt may not repeat."""


class ConnectorUnavailable(ConnectorError):
    """The system could not be reached; the vault retries with backoff."""


class NeedsAttention(ConnectorError):
    """Retrying will not help (refused credentials, an unexpected answer): a person must look."""


class InvalidHoldings(ValueError):
    """A connector's declared holdings break a rule; refused at start-up."""


class SettingsError(ValueError):
    """A connector's configuration is missing something or names a secret that is not there."""


@dataclass(frozen=True)
class HeldCategory:
    """One kind of personal data a system holds, and why."""

    category: str
    description: str
    purpose: str
    legal_basis: LegalBasis
    retention: str
    erasable: bool = True
    # Required when not erasable: the law that obliges keeping it.
    legal_reason: str = ""


@dataclass(frozen=True)
class Holdings:
    """What a system holds, where it is hosted (ISO 3166 country code) and why.

    `identified_by` names the identity kinds the system finds a person by, so a
    report that nobody was found can say which kinds were tried; empty means
    the connector does not say.
    """

    system: str
    description: str
    location: str
    categories: tuple[HeldCategory, ...]
    identified_by: tuple[IdentityKind, ...] = ()

    def category(self, name: str) -> HeldCategory | None:
        return next((c for c in self.categories if c.category == name), None)


def validate_holdings(holdings: Holdings) -> None:
    """Raise InvalidHoldings naming the first rule the declaration breaks."""
    try:
        rules.system(holdings.system, "system")
        for index, held in enumerate(holdings.categories):
            rules.category(held.category, f"categories[{index}].category")
            rules.purpose(held.purpose, f"categories[{index}].purpose")
    except InvalidArgument as error:
        raise InvalidHoldings(f"{holdings.system or '?'}: {error.message}") from None
    if not holdings.description.strip():
        raise InvalidHoldings(f"{holdings.system}: description must not be empty")
    if holdings.location.upper() not in EEA_COUNTRIES:
        raise InvalidHoldings(
            f"{holdings.system}: hosted in {holdings.location!r}, outside the EU/EEA; "
            "the controller's policy allows no transfers outside the EU/EEA"
        )
    if not holdings.categories:
        raise InvalidHoldings(f"{holdings.system}: declares no categories")
    names = [c.category for c in holdings.categories]
    if len(set(names)) != len(names):
        raise InvalidHoldings(f"{holdings.system}: a category is declared twice")
    for held in holdings.categories:
        if not isinstance(held.legal_basis, LegalBasis):
            raise InvalidHoldings(f"{holdings.system}: {held.category} has no legal basis")
        if not held.retention.strip() or not held.description.strip():
            raise InvalidHoldings(
                f"{holdings.system}: {held.category} needs a description and a retention rule"
            )
        if not held.erasable and not held.legal_reason.strip():
            raise InvalidHoldings(
                f"{holdings.system}: {held.category} is kept under a legal obligation but names no legal reason"
            )


@dataclass(frozen=True)
class Match:
    """One record in the system that the person's identities lead to.

    `reference` is the system's own reference to the record, as `find()`
    returns it. `matched_by` are the person's identities that found it, and
    `holds` the identities the record itself carries (its personnummer, the
    system's own user id, e-mail, phone; pass them through `normal_form`).
    From these the vault sees a record that belongs to someone else: a
    personnummer or user id that differs from the person's, or two of the
    person's identities that lead to different records.
    """

    reference: str
    matched_by: tuple[Identity, ...]
    holds: tuple[Identity, ...] = ()


def normal_form(kind: IdentityKind, value: str, system: str = "") -> Identity | None:
    """An identity as a system stores it, in the vault's canonical form, or None
    when it is not a valid identity of that kind (an empty column, a typo).

    Compare a system's stored values with the person's identities in this form:
    `+44 7700 000998` and `+447700000998` are one phone, `Eva@Example.se` and
    `eva@example.se` one e-mail, `811218-9876` and `198112189876` one personnummer.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return canonical_identity(kind, value, system, today=dt.date.today(), field="value")
    except InvalidArgument:
        return None


@dataclass(frozen=True)
class ExportFile:
    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class ExportItem:
    """One item of a person's data in a system, in a declared category."""

    category: str
    data: Mapping[str, Any]
    files: tuple[ExportFile, ...] = ()


@dataclass(frozen=True)
class Removed:
    """Erased from the system. Descriptions name kinds and counts, never personal data."""

    category: str
    description: str


@dataclass(frozen=True)
class Retained:
    """Kept, because the law requires it, until the given date."""

    category: str
    description: str
    legal_reason: str
    until: dt.date


@dataclass(frozen=True)
class ManualAction:
    """A person must act in the system (no API for it); `instructions` say how."""

    category: str
    description: str
    instructions: str


Outcome = Removed | Retained | ManualAction


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    detail: str = ""


@dataclass
class ConnectorSettings:
    """A connector's section of the configuration file, with secrets resolved on demand.

    A secret `token` is configured as `token_env = "NAME"` (an environment
    variable) or `token_file = "path"`; its value is never logged or exported.

    `time_zone` is the controller's (a zoneinfo name): the vault's `today` is a
    date there, so a connector turns the system's timestamps into dates in
    `zone` before comparing them with it.
    """

    name: str
    values: Mapping[str, Any]
    base_dir: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    time_zone: str = "Europe/Stockholm"

    @property
    def zone(self) -> ZoneInfo:
        """The controller's time zone; SettingsError if `time_zone` names none."""
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise SettingsError(
                f"connector {self.name}: time zone {self.time_zone!r} is not a known "
                "zoneinfo name (such as Europe/Stockholm)"
            ) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def require(self, key: str) -> Any:
        if key not in self.values:
            raise SettingsError(f"connector {self.name}: setting {key!r} is missing")
        return self.values[key]

    def path(self, key: str) -> Path:
        return (self.base_dir / str(self.require(key))).resolve()

    def secret(self, key: str) -> str:
        env_name = self.values.get(f"{key}_env")
        file_name = self.values.get(f"{key}_file")
        if env_name:
            value = self.environ.get(str(env_name))
            if not value:
                raise SettingsError(
                    f"connector {self.name}: secret {key!r} comes from environment variable "
                    f"{env_name}, which is not set"
                )
            return value
        if file_name:
            path = (self.base_dir / str(file_name)).resolve()
            try:
                return path.read_text().strip()
            except OSError:
                raise SettingsError(
                    f"connector {self.name}: secret {key!r} comes from file {path}, which cannot be read"
                ) from None
        raise SettingsError(f"connector {self.name}: secret {key!r} needs {key}_env or {key}_file")


class Connector(abc.ABC):
    """Covers one system. Subclasses set `name` and `version` and implement the methods.

    The class's `name` is the connector's type. An instance covers the system
    its configuration section names: the same name, unless the admin runs one
    type for several systems (`[connectors.student_register] type = "salon"`),
    so an instance reads its system's name from `self.name`.

    The vault calls these from worker threads, each call under its own
    deadline; a connector must be safe to call from several threads.
    """

    name: str
    version: ClassVar[str] = "0"
    # What it can do beyond find, export and erase (vault.plugins.hookspecs.
    # Capability); each one declared is a method it overrides.
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        self.name = settings.name

    @abc.abstractmethod
    def holdings(self) -> Holdings:
        """What the system holds, where, why and for how long. Checked at start-up."""

    @abc.abstractmethod
    def find(self, identities: list[Identity]) -> list[str]:
        """The system's own references to the person (user ids, customer numbers,
        row keys), or an empty list if the system does not know them. The
        references stay inside the vault's job and are never exported."""

    def match(self, identities: list[Identity]) -> list[Match]:
        """The records the identities lead to, each with the identities that found it
        and those it holds, so the vault can refuse a record that belongs to someone
        else. The default is built from `find()`: it cannot tell which identity found
        what, so conflicting matches go unnoticed for a connector that keeps it."""
        return [Match(reference, tuple(identities)) for reference in self.find(identities)]

    @abc.abstractmethod
    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        """Everything the system holds about the person with these identities, in
        declared categories; nothing if the system does not know them.

        `references` are what `find()` or `match()` returned when the vault
        examined the records for ones that may be someone else's: export exactly
        those records (and what hangs off them), without searching the system a
        second time, so the export holds what was examined; `[]` exports
        nothing. `None` means search by the identities. A connector written
        before this parameter existed may leave it out of its signature; the
        vault then calls it with identities only.
        """

    @abc.abstractmethod
    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        """Erase the person, reporting each item's outcome. Must be idempotent: a
        person already gone is success, with the items still retained reported again.

        `today` is the controller's date (in its time zone); a retained item's
        `until` is the last day it is kept. `references` are what `find()` or
        `match()` returned on the job's first attempt, kept sealed in the job:
        on a re-run the identifiers the system was searched by may already be
        blanked, and the references still reach the records that are kept. A
        connector written before this parameter existed may leave it out of its
        signature; the vault then calls it with identities and today only.
        """

    def withdraw_consent(
        self,
        identities: list[Identity],
        purpose: str,
        categories: list[str],
        today: dt.date,
        references: list[str] | None = None,
    ) -> list[Outcome]:
        """The person withdrew their consent for `purpose`: erase what the system
        holds about them in `categories` (those of its holdings that rest on
        that purpose) and nothing else, reporting each item's outcome as
        `erase` does. The person stays; what is held for other purposes stays.
        Must be idempotent, as `erase`.

        Called only for a connector that declares
        `Capability.WITHDRAW_CONSENT` in `capabilities`; one that does not
        keeps this default, and the vault asks a person to act in the system
        instead. `today` and `references` are as for `erase`.
        """
        raise NotImplementedError(f"connector {self.name} does not declare withdraw_consent")

    def health(self) -> HealthReport:
        """Whether the system answers; the default says nothing is known."""
        return HealthReport(True, "no health check")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections; called at shutdown."""


def takes_references(method: Callable[..., Any]) -> bool:
    """Whether a connector's `erase` or `export` takes `references`: one written
    before the parameter existed does not, and the vault calls it without them."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "references" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )
