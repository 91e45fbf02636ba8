"""The Facebook group connector: a re-run still asks for the member's removal from
the group, and matches say what each register entry holds."""

from __future__ import annotations

import datetime as dt

import pytest

from vault.connectors import Connector, ManualAction, Match, Removed
from vault.connectors.registry import ConnectorRegistry
from vault.core.identities import Identity, IdentityKind

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
                Identity(IdentityKind.EMAIL, "cecilia@example.org"),
            ),
        )
    ]
    assert connector.holdings().identified_by == (IdentityKind.EMAIL, IdentityKind.EXTERNAL_ID)
