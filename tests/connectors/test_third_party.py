"""A third-party connector from a separate package is found through the entry-point
group, configured like a built-in, and passes the same contract suite."""

from __future__ import annotations

import datetime as dt
import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vault import __version__
from vault.connectors import Connector
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.connectors.testing import ConnectorContract, erase_as_the_vault_does, takes_references
from vault.core.identities import Identity, IdentityKind
from vault.plugins import ENTRY_POINT_GROUP
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager

PACKAGE = Path(__file__).resolve().parent.parent / "thirdparty" / "consent_vault_example"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Lay the package out as `pip install` does: the module, and a dist-info
    whose entry_points.txt names it in the vault's group."""
    site = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, site / "consent_vault_example")
    info = site / "consent_vault_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: consent-vault-example\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nnewsletter = consent_vault_example\n"
    )
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    sys.modules.pop("consent_vault_example", None)


def load(sections: dict, tmp_path: Path) -> ConnectorRegistry:
    return ConnectorRegistry.load(
        sections, make_plugin_manager(), VaultHost(__version__), tmp_path, {}
    )


def test_the_installed_package_is_found_beside_the_built_ins(
    installed_example: Path, tmp_path: Path
) -> None:
    registry = load({"newsletter": {"subscribers": ["a@example.se"]}}, tmp_path)
    assert {"newsletter", "lms", "salon", "accounting", "facebook_group"} <= set(registry.installed)
    assert registry.get("newsletter").enabled  # type: ignore[union-attr]
    assert not registry.get("lms").enabled  # type: ignore[union-attr]


def test_without_the_package_the_connector_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'newsletter' is configured but not installed"):
        load({"newsletter": {}}, tmp_path)


class TestThirdPartyContract(ConnectorContract):
    @pytest.fixture
    def connector(self, installed_example: Path, tmp_path: Path) -> Connector:
        registry = load(
            {"newsletter": {"subscribers": ["anna@example.se", "bo@example.se"]}}, tmp_path
        )
        return registry.get("newsletter").connector  # type: ignore[union-attr,return-value]

    @pytest.fixture
    def known_identities(self) -> list[Identity]:
        return [Identity(IdentityKind.EMAIL, "anna@example.se")]

    @pytest.fixture
    def unknown_identities(self) -> list[Identity]:
        return [Identity(IdentityKind.EMAIL, "eve@example.se")]


def test_the_example_is_a_connector_written_before_erase_took_references(
    installed_example: Path, tmp_path: Path
) -> None:
    # So the contract above runs it as the vault runs an old connector: without them.
    registry = load({"newsletter": {"subscribers": ["anna@example.se"]}}, tmp_path)
    connector = registry.get("newsletter").connector  # type: ignore[union-attr]
    assert connector is not None and not takes_references(connector.erase)
    outcomes = erase_as_the_vault_does(
        connector, [Identity(IdentityKind.EMAIL, "anna@example.se")], dt.date.today(), ["x"]
    )
    assert [o.category for o in outcomes] == ["marketing"]
