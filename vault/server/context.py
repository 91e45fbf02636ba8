"""What the servicers work with: the vault, the connectors and the erasure coordinator."""

from __future__ import annotations

from dataclasses import dataclass, field

from vault.connectors.base import Connector, Holdings
from vault.connectors.registry import ConnectorRegistry
from vault.core.erasure import ErasureCoordinator, ErasureSettings
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

    @classmethod
    def build(
        cls,
        vault: Vault,
        registry: ConnectorRegistry | None = None,
        erasure: ErasureSettings | None = None,
        export_timeout_seconds: float = 30.0,
        controller: Controller | None = None,
    ) -> VaultServices:
        registry = registry or ConnectorRegistry()
        coordinator = ErasureCoordinator(vault, _connectors(registry), _holdings(registry), erasure)
        return cls(vault, registry, coordinator, export_timeout_seconds, controller or Controller())

    @property
    def connectors(self) -> dict[str, Connector]:
        return _connectors(self.registry)

    @property
    def holdings(self) -> dict[str, Holdings]:
        return _holdings(self.registry)


def _connectors(registry: ConnectorRegistry) -> dict[str, Connector]:
    return {c.name: c for c in registry.enabled}


def _holdings(registry: ConnectorRegistry) -> dict[str, Holdings]:
    return {n: i.holdings for n, i in registry.installed.items() if i.holdings is not None}
