"""What the servicers work with: the vault, the connectors and the erasure
coordinator (built by `vault.runtime.build_services`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vault.connectors.base import Connector, Holdings
from vault.connectors.registry import ConnectorRegistry
from vault.core.erasure import ErasureCoordinator
from vault.core.model import Controller
from vault.core.vault import Vault


@dataclass
class VaultServices:
    vault: Vault
    registry: ConnectorRegistry
    coordinator: ErasureCoordinator
    export_timeout_seconds: float = 30.0
    # Who "we" are on an export's page: the organisation and where to ask.
    controller: Controller = field(default_factory=Controller)
    # Both stores are files of this machine (SQLite): a read costs no network
    # round trip, so short reads and the put's checks may run on the event loop.
    # Over a network database (PostgreSQL) they leave it (vault.server.registration).
    stores_embedded: bool = True

    @property
    def connectors(self) -> dict[str, Connector]:
        return enabled_connectors(self.registry)

    @property
    def holdings(self) -> dict[str, Holdings]:
        return installed_holdings(self.registry)


def enabled_connectors(registry: ConnectorRegistry) -> dict[str, Connector]:
    return {c.name: c for c in registry.enabled}


def installed_holdings(registry: ConnectorRegistry) -> dict[str, Holdings]:
    return {n: i.holdings for n, i in registry.installed.items() if i.holdings is not None}
