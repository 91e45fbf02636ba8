"""The Facebook group connector: a re-run still asks for the member's removal from
the group, and matches say what each register entry holds."""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing

import pytest

from vault.connectors import Connector, ManualAction, Match, Removed
from vault.connectors.registry import ConnectorRegistry
from vault.core.identities import Identity, IdentityKind
from vault_standins import demo as standins

PROFILE = "https://www.facebook.com/example.cecilia"
# The vault knows Cecilia by e-mail only: her profile page is in the register alone.
CECILIA = [Identity(IdentityKind.EMAIL, "cecilia@example.org")]
TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def connector(registry: ConnectorRegistry) -> Connector:
    connector = registry.get("facebook_group").connector  # type: ignore[union-attr]
    assert connector is not None
    return connector


def test_a_re_run_after_the_register_entry_went_still_asks_for_the_removal(
    connector: Connector,
) -> None:
    references = connector.find(CECILIA)
    first = connector.erase(CECILIA, TODAY, references=references)
    assert [o.category for o in first if isinstance(o, Removed)] == ["moderation"]
    second = connector.erase(CECILIA, TODAY, references=references)
    assert not [o for o in second if isinstance(o, Removed)]
    actions = [o for o in second if isinstance(o, ManualAction)]
    assert actions == [o for o in first if isinstance(o, ManualAction)]
    assert PROFILE in actions[0].instructions


def test_a_register_entry_holds_the_profile_page_and_the_e_mail(connector: Connector) -> None:
    assert connector.match(CECILIA) == [
        Match(
            f"blocked_member:{PROFILE}",
            (CECILIA[0],),
            (
                Identity(IdentityKind.EXTERNAL_ID, PROFILE, "facebook"),
                Identity(IdentityKind.EXTERNAL_ID, PROFILE, "facebook_group"),
                Identity(IdentityKind.EMAIL, "cecilia@example.org"),
            ),
        )
    ]
    assert connector.holdings().identified_by == (IdentityKind.EMAIL, IdentityKind.EXTERNAL_ID)


def block(systems: standins.DemoSystems, profile: str, email: str) -> None:
    with closing(sqlite3.connect(systems.register)) as conn, conn:
        conn.execute(
            "INSERT INTO blocked_members (profile_url, name, email, blocked_at, reason)"
            " VALUES (?, 'Someone', ?, '2026-11-01', 'spam in the group')",
            (profile, email),
        )


@pytest.mark.parametrize("system", ["facebook", "facebook_group"])
def test_the_register_is_searched_by_the_kinds_it_declares(
    connector: Connector, system: str
) -> None:
    # E-mail, and the profile page as Facebook's or this system's user id:
    # those, and nothing else, find a register entry.
    assert connector.holdings().identified_by == (IdentityKind.EMAIL, IdentityKind.EXTERNAL_ID)
    assert connector.find([Identity(IdentityKind.EXTERNAL_ID, PROFILE, system)]) == [
        f"blocked_member:{PROFILE}"
    ]
    assert connector.find([Identity(IdentityKind.EXTERNAL_ID, PROFILE, "lms")]) == []


def test_an_email_with_a_capital_outside_ascii_finds_the_entry(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    block(systems, "https://www.facebook.com/example.asa", "Åsa@Example.se")
    asa = [Identity(IdentityKind.EMAIL, "åsa@example.se")]
    assert connector.find(asa) == ["blocked_member:https://www.facebook.com/example.asa"]
    assert [m.matched_by for m in connector.match(asa)] == [tuple(asa)]


def test_export_with_references_reads_the_examined_entries_only(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    references = connector.find(CECILIA)
    # An entry written since, for the same e-mail: the vault never examined it.
    block(systems, "https://www.facebook.com/someone.else", "cecilia@example.org")
    exported = list(connector.export(CECILIA, references=references))
    assert [item.data["profile_page"] for item in exported] == [PROFILE]
    assert len(list(connector.export(CECILIA))) == 2
    outcomes = connector.erase(CECILIA, TODAY, references=references)
    assert [o.description for o in outcomes if isinstance(o, Removed)] == [
        "1 entry in the register of blocked members"
    ]
    assert len(connector.find(CECILIA)) == 1
