"""The public API for connector authors.

A connector is a plugin that covers one system holding personal data. It
declares its holdings, finds a person from their identities, exports what the
system holds about them and erases it, reporting per item what was removed,
what must be kept (and until when) and what needs a person to act. What it
can do beyond that it declares as `capabilities` (`Capability`).

    from vault.connectors import Connector, Holdings, HeldCategory, Removed
    from vault.plugins import hookimpl

    class MyConnector(Connector):
        name = "crm"
        version = "1.0"
        ...

    @hookimpl
    def vault_register_connectors(host):
        return [MyConnector]
"""

from vault.connectors.base import (
    EEA_COUNTRIES,
    Connector,
    ConnectorError,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportFile,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    InvalidHoldings,
    LegalBasis,
    ManualAction,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    SettingsError,
    normal_form,
    takes_references,
    validate_holdings,
)
from vault.plugins.hookspecs import Capability

__all__ = [
    "EEA_COUNTRIES",
    "Capability",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "ConnectorUnavailable",
    "ExportFile",
    "ExportItem",
    "HealthReport",
    "HeldCategory",
    "Holdings",
    "Identity",
    "IdentityKind",
    "InvalidHoldings",
    "LegalBasis",
    "ManualAction",
    "Match",
    "NeedsAttention",
    "Outcome",
    "Removed",
    "Retained",
    "SettingsError",
    "normal_form",
    "takes_references",
    "validate_holdings",
]
