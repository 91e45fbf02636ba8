"""Connector for the school's Facebook group (the model bank).

The school collects nothing about group members, but records the profile page
of a member it blocks, in its own register (a SQLite database). That register
is exported and erased. Removing the person from the group itself has no API:
the erasure asks for a manual action, with instructions, which the vault tracks
until an admin confirms it.

It declares no capabilities: when a member withdraws their consent to the
model bank (the purpose group membership rests on), there is nothing the
connector could do, and the vault asks a person to remove them from the
group instead, with instructions, tracked until confirmed.

A blocked member is referred to by their profile page (`blocked_member:URL`),
the key of both the register and the group: a re-run that finds the register
entries already deleted still knows whom to remove from the group.

Configuration:

    [connectors.facebook_group]
    register = "facebook-register.db"
    group_name = "Leep modellbank"
    group_url = "https://www.facebook.com/groups/example"
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vault.connectors import (
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    LegalBasis,
    ManualAction,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    normal_form,
)
from vault.plugins import hookimpl

__version__ = "1.0.0"

# A blocked member's profile page is their Facebook user id: an external id of this system.
PROFILE_SYSTEM = "facebook"


class FacebookGroupConnector(Connector):
    name = "facebook_group"
    version = __version__
    # No withdraw_consent: the group has no API (a manual action is asked for).
    capabilities = frozenset()

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.register: Path = settings.path("register")
        self.group_name = str(settings.get("group_name", "the school's Facebook group"))
        self.group_url = str(settings.get("group_url", ""))

    def holdings(self) -> Holdings:
        return Holdings(
            system=self.name,
            description=f"Facebook group {self.group_name}: the school's register of blocked members",
            # The register is the school's own and kept in Sweden; the group itself is run by
            # Meta's EU entity, and the school collects nothing from it.
            location=str(self.settings.get("location", "SE")),
            # The register is searched by e-mail and by profile page, an
            # external id of system "facebook" (or of this system's name).
            identified_by=(IdentityKind.EMAIL, IdentityKind.EXTERNAL_ID),
            categories=(
                HeldCategory(
                    "moderation",
                    "Profile page of a member the school blocked, when and why",
                    "group_moderation",
                    LegalBasis.LEGITIMATE_INTEREST,
                    "as long as the block stands",
                ),
                HeldCategory(
                    "group_membership",
                    "Membership of the group (held by Facebook; removed by hand)",
                    "model_bank",
                    LegalBasis.CONSENT,
                    "as long as the consent stands",
                ),
            ),
        )

    def _connect(self) -> sqlite3.Connection:
        if not self.register.exists():
            raise ConnectorUnavailable("the register of blocked members is not there")
        return sqlite3.connect(self.register, timeout=10)

    def _is_profile(self, identity: Identity) -> bool:
        """A profile page: Facebook's own user id, or this system's id for the member
        (the register's key), so an id the vault counts as this system's is searched."""
        return identity.kind is IdentityKind.EXTERNAL_ID and identity.system in (
            PROFILE_SYSTEM,
            self.name,
        )

    def _profiles(self, identities: list[Identity]) -> set[str]:
        return {i.value for i in identities if self._is_profile(i)}

    def _entries(
        self, conn: sqlite3.Connection, identities: list[Identity]
    ) -> list[tuple[Any, ...]]:
        emails = {i.value for i in identities if i.kind is IdentityKind.EMAIL}
        profiles = self._profiles(identities)
        if not emails and not profiles:
            return []
        # SQLite folds ASCII letters only, so the e-mails are compared in
        # canonical form here (a stored Åsa@Example.se is åsa@example.se);
        # the register of blocked members is short, and read whole.
        return [
            row
            for row in conn.execute(
                "SELECT id, profile_url, blocked_at, reason, email FROM blocked_members"
            ).fetchall()
            if row[1] in profiles or _email(row[4]) in emails
        ]

    def _referenced(self, conn: sqlite3.Connection, profiles: list[str]) -> list[tuple[Any, ...]]:
        if not profiles:
            return []
        return conn.execute(
            "SELECT id, profile_url, blocked_at, reason, email FROM blocked_members "
            f"WHERE profile_url IN ({', '.join('?' * len(profiles))})",
            profiles,
        ).fetchall()

    def match(self, identities: list[Identity]) -> list[Match]:
        conn = self._connect()
        try:
            entries = self._entries(conn, identities)
        finally:
            conn.close()
        found: dict[str, tuple[list[Identity], list[Identity]]] = {}
        for _, profile, _, _, email in entries:
            found_by, holds = found.setdefault(profile, ([], []))
            for identity in identities:
                if identity in found_by:
                    continue
                if (identity.kind is IdentityKind.EMAIL and identity.value == _email(email)) or (
                    self._is_profile(identity) and identity.value == profile
                ):
                    found_by.append(identity)
            for held in (
                normal_form(IdentityKind.EXTERNAL_ID, profile, PROFILE_SYSTEM),
                normal_form(IdentityKind.EXTERNAL_ID, profile, self.name),
                normal_form(IdentityKind.EMAIL, email or ""),
            ):
                if held is not None and held not in holds:
                    holds.append(held)
        return [
            Match(_reference(profile), tuple(found_by), tuple(holds))
            for profile, (found_by, holds) in found.items()
        ]

    def find(self, identities: list[Identity]) -> list[str]:
        return [match.reference for match in self.match(identities)]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        # With references, the entries the vault examined, and no new search.
        named = None if references is None else [_profile(r) for r in references]
        conn = self._connect()
        try:
            if named is None:
                entries = self._entries(conn, identities)
            else:
                entries = self._referenced(conn, named)
            for _, profile, blocked_at, reason, _ in entries:
                yield ExportItem(
                    "moderation",
                    {"profile_page": profile, "blocked_at": blocked_at, "reason": reason},
                )
        finally:
            conn.close()

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        named = [] if references is None else [_profile(reference) for reference in references]
        conn = self._connect()
        try:
            with conn:
                if references is None:
                    entries = self._entries(conn, identities)
                else:
                    entries = self._referenced(conn, named)
                conn.executemany(
                    "DELETE FROM blocked_members WHERE id = ?", [(row[0],) for row in entries]
                )
        finally:
            conn.close()
        outcomes: list[Outcome] = []
        if entries:
            outcomes.append(
                Removed(
                    "moderation",
                    f"{_count(len(entries), 'entry', 'entries')} in the register of blocked members",
                )
            )
        profiles = sorted(self._profiles(identities) | set(named) | {row[1] for row in entries})
        if profiles:
            where = f" ({self.group_url})" if self.group_url else ""
            outcomes.append(
                ManualAction(
                    "group_membership",
                    "membership of the Facebook group",
                    f"Facebook has no API for this. In the group {self.group_name}{where}: open Members, search "
                    f"for the profile {', '.join(profiles)}, choose Remove member (and, if the person was blocked, "
                    "unblock them only if they asked). Then confirm this action in the vault.",
                )
            )
        return outcomes

    def health(self) -> HealthReport:
        try:
            conn = self._connect()
            conn.execute("SELECT count(*) FROM blocked_members").fetchone()
            conn.close()
        except (ConnectorUnavailable, sqlite3.Error) as error:
            return HealthReport(False, f"register unreadable: {type(error).__name__}")
        return HealthReport(True, "register readable")


def _email(stored: Any) -> str:
    """A stored e-mail in the vault's canonical form; empty when there is none."""
    held = normal_form(IdentityKind.EMAIL, stored or "")
    return held.value if held is not None else ""


def _reference(profile: str) -> str:
    return f"blocked_member:{profile}"


def _profile(reference: str) -> str:
    kind, _, profile = reference.partition(":")
    if kind != "blocked_member" or not profile:
        raise NeedsAttention("a reference kept in the job is not a blocked member's profile page")
    return profile


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [FacebookGroupConnector]
