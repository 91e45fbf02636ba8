"""The connectors an admin enabled: found through the plugin hooks, configured from TOML,
checked at start-up (holdings valid, hosted inside the EU/EEA, secrets present,
each declared capability backed by its method, and with the vault's purposes
given, each category held for a configured purpose on that purpose's basis)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from vault.connectors.base import (
    Connector,
    ConnectorSettings,
    HealthReport,
    Holdings,
    InvalidHoldings,
    SettingsError,
    validate_holdings,
)
from vault.core.consent.purposes import BASIS_WORDS, Purposes
from vault.plugins.hookspecs import Capability
from vault.plugins.host import VaultHost

log = logging.getLogger("vault.connectors")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the problem."""


@dataclass
class InstalledConnector:
    name: str
    version: str
    enabled: bool
    connector: Connector | None = None
    holdings: Holdings | None = None
    # What its class declares it can do, enabled or not.
    capabilities: frozenset[Capability] = frozenset()


@dataclass
class ConnectorRegistry:
    installed: dict[str, InstalledConnector] = field(default_factory=dict)

    @property
    def enabled(self) -> list[Connector]:
        return [i.connector for i in self.installed.values() if i.connector is not None]

    def get(self, name: str) -> InstalledConnector | None:
        return self.installed.get(name)

    def health(self, name: str) -> HealthReport:
        item = self.installed[name]
        if item.connector is None:
            return HealthReport(False, "not enabled")
        try:
            return item.connector.health()
        except Exception as error:  # a connector's failure is its health, not ours
            return HealthReport(False, f"health check failed: {type(error).__name__}")

    def close(self) -> None:
        for connector in self.enabled:
            try:
                connector.close()
            except Exception:
                log.exception("closing connector %s failed", connector.name)

    @classmethod
    def load(
        cls,
        sections: Mapping[str, Any],
        manager: pluggy.PluginManager,
        host: VaultHost,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
        *,
        time_zone: str = "Europe/Stockholm",
        purposes: Purposes | None = None,
    ) -> ConnectorRegistry:
        """Instantiate every connector enabled in `sections` (the `[connectors]` table).

        `time_zone` is the controller's (a zoneinfo name); each connector gets it
        in its settings, so the dates it reports are dates there. `purposes`,
        the vault's catalogue, is what each category's purpose and basis must
        agree with: a withdrawal reaches a system through the purposes its
        holdings name, and the register tells why each system holds what."""
        try:
            _ = ConnectorSettings("", {}, base_dir, {}, time_zone).zone
        except SettingsError:
            raise ConfigError(
                f"time zone {time_zone!r} is not a known zoneinfo name (such as Europe/Stockholm)"
            ) from None
        classes: dict[str, type[Connector]] = {}
        for provided in manager.hook.vault_register_connectors(host=host):
            for connector_class in provided or []:
                name = getattr(connector_class, "name", None)
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"plugin connector {connector_class!r} has no name")
                if name in classes and classes[name] is not connector_class:
                    raise ConfigError(
                        f"two installed plugins both provide a connector named {name!r}"
                    )
                classes[name] = connector_class
        registry = cls(
            {
                n: InstalledConnector(
                    n, getattr(c, "version", "0"), False, capabilities=_capabilities(c)
                )
                for n, c in classes.items()
            }
        )
        for name, section in sections.items():
            if not isinstance(section, Mapping):
                raise ConfigError(f"[connectors.{name}] must be a table")
            kind = _connector_type(name, section, classes)
            item = registry.installed.setdefault(
                name,
                InstalledConnector(
                    name,
                    getattr(classes[kind], "version", "0"),
                    False,
                    capabilities=_capabilities(classes[kind]),
                ),
            )
            if not section.get("enabled", True):
                continue
            values = {k: v for k, v in section.items() if k != "type"}
            settings = ConnectorSettings(
                name, values, base_dir, environ if environ is not None else os.environ, time_zone
            )
            _check_capabilities(name, classes[kind])
            try:
                connector = classes[kind](settings)
                holdings = connector.holdings()
                validate_holdings(holdings)
            except (SettingsError, InvalidHoldings) as error:
                raise ConfigError(f"connector {name!r} refused: {error}") from None
            if holdings.system != name or connector.name != name:
                raise ConfigError(
                    f"connector {name!r} declares holdings for system {holdings.system!r}"
                )
            if purposes is not None:
                _check_purposes(name, holdings, purposes)
            item.enabled, item.connector, item.holdings = True, connector, holdings
        return registry


def _check_purposes(name: str, holdings: Holdings, purposes: Purposes) -> None:
    """Each held category's purpose is configured, and rests on the basis the
    connector declares for it; the first that does not refuses start-up."""
    for held in holdings.categories:
        purpose = purposes.get(held.purpose)
        if purpose is None:
            raise ConfigError(
                f"connector {name!r} refused: category {held.category} is held for purpose "
                f"{held.purpose}, which is not configured; add [purposes.{held.purpose}] "
                "to the purposes file, or correct the connector's category"
            )
        if purpose.legal_basis is not held.legal_basis:
            raise ConfigError(
                f"connector {name!r} refused: category {held.category} is held for "
                f"{held.purpose} on {BASIS_WORDS[held.legal_basis]}, but the purpose rests "
                f"on {BASIS_WORDS[purpose.legal_basis]}"
            )


# Each capability and the method that carries it out.
_METHODS = {Capability.WITHDRAW_CONSENT: "withdraw_consent"}


def _capabilities(connector_class: type[Connector]) -> frozenset[Capability]:
    """The capabilities a class declares that the vault knows, as the vocabulary's own."""
    declared: frozenset[str] = getattr(connector_class, "capabilities", frozenset())
    return frozenset(Capability(c) for c in declared if c in _METHODS)


def _check_capabilities(name: str, connector_class: type[Connector]) -> None:
    """A declared capability the class does not carry out is refused: the vault
    decides from the declaration alone and would call a method that only says
    it is not there. A method carried out but not declared is never called
    (the vault asks a person instead), which is safe, so it is only logged."""
    declared: frozenset[Capability] = getattr(connector_class, "capabilities", frozenset())
    for capability in declared:
        if capability not in _METHODS:
            known = ", ".join(sorted(_METHODS))
            raise ConfigError(
                f"connector {name!r} declares capability {capability!r}, which the vault "
                f"does not know (known: {known})"
            )
    for capability, method in _METHODS.items():
        overridden = getattr(connector_class, method) is not getattr(Connector, method)
        if capability in declared and not overridden:
            raise ConfigError(
                f"connector {name!r} declares capability {capability.value} "
                f"but does not implement {method}()"
            )
        if overridden and capability not in declared:
            log.warning(
                "connector %s implements %s() but does not declare capability %s: "
                "the vault will not call it, and asks for a manual action instead",
                name,
                method,
                capability.value,
            )


# A system's name shows in erasure reports and exports, and is typed by admins.
_SYSTEM_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _connector_type(
    name: str, section: Mapping[str, Any], classes: Mapping[str, type[Connector]]
) -> str:
    """The installed connector type a `[connectors.NAME]` section runs: its
    `type`, or the type of the same name."""
    known = ", ".join(sorted(classes)) or "none"
    kind = section.get("type", name)
    if kind == name:
        if name not in classes:
            raise ConfigError(
                f"connector {name!r} is configured but not installed (installed: {known}); "
                'to run an installed type under this name, set type = "..."'
            )
        return name
    if not isinstance(kind, str) or kind not in classes:
        raise ConfigError(
            f"[connectors.{name}] type {kind!r} is not installed (installed: {known})"
        )
    if name in classes:
        raise ConfigError(
            f"[connectors.{name}] is the installed connector {name!r}; it cannot run type {kind!r}"
        )
    if not _SYSTEM_NAME.fullmatch(name):
        raise ConfigError(
            f"[connectors.{name}]: a system name must be lower-case letters, digits and '_', "
            "starting with a letter, at most 64 characters"
        )
    return kind
