"""At start-up each enabled connector's holdings are checked against the
vault's purposes: a category held for a purpose nobody configured, or on
another basis than the purpose's, refuses start-up in one line naming the
connector, the category and the purpose. A withdrawal reaches a system
through the purposes its holdings name, so they must be the vault's."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault import __version__, purposes_file
from vault.connectors import Connector, HeldCategory, Holdings, LegalBasis
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager

HELD = {
    "newsletter": ("marketing_email", LegalBasis.CONSENT),
    "unknown": ("no_such_purpose", LegalBasis.CONSENT),
    "contradicting": ("bookkeeping", LegalBasis.CONTRACT),
}


class Newsletter(Connector):
    """Holds one category, as its `category` setting names it."""

    name = "newsletter"

    def holdings(self) -> Holdings:
        category = str(self.settings.get("category"))
        purpose, basis = HELD[category]
        return Holdings(
            self.name,
            "A newsletter tool",
            "SE",
            (HeldCategory(category, "Subscriptions", purpose, basis, "while subscribed"),),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def export(self, identities, references=None):  # type: ignore[no-untyped-def]
        return iter(())

    def erase(self, identities, today, references=None):  # type: ignore[no-untyped-def]
        return []


class Plugin:
    @hookimpl
    def vault_register_connectors(self, host: VaultHost) -> list[type[Connector]]:
        return [Newsletter]


def load(category: str, tmp_path: Path, checked: bool = True) -> ConnectorRegistry:
    return ConnectorRegistry.load(
        {"newsletter": {"category": category}},
        make_plugin_manager([Plugin()], load_installed=False),
        VaultHost(__version__),
        tmp_path,
        {},
        purposes=purposes_file.school() if checked else None,
    )


def test_holdings_for_configured_purposes_on_their_basis_start(tmp_path: Path) -> None:
    installed = load("newsletter", tmp_path).get("newsletter")
    assert installed is not None and installed.enabled


def test_a_category_held_for_an_unconfigured_purpose_refuses_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load("unknown", tmp_path)
    message = str(refused.value)
    assert "'newsletter'" in message and "category unknown" in message
    assert "no_such_purpose, which is not configured" in message and "\n" not in message
    # Without the vault's purposes (a registry read on its own) nothing is compared.
    assert load("unknown", tmp_path, checked=False).get("newsletter") is not None


def test_a_category_on_another_basis_than_its_purposes_refuses_start_up(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"on contract \(GDPR art\. 6\(1\)\(b\)\), but the "
        r"purpose rests on legal obligation",
    ):
        load("contradicting", tmp_path)
