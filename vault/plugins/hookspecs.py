"""Hook specifications: the whole contract between the vault and its plugins.

Signatures evolve only by adding parameters; an implementation may take fewer.
Every hook receives the host, so new capabilities never change a signature.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import pluggy

from vault.plugins import PROJECT_NAME

if TYPE_CHECKING:
    from vault.connectors import Connector
    from vault.plugins.host import VaultHost

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


class Capability(StrEnum):
    """What a connector can do beyond finding, exporting and erasing a person,
    declared in its class's `capabilities`. The vault decides from the
    declaration alone: it never calls a method to see whether it works.
    A connector that declares a capability overrides its method (checked at
    start-up); one that does not gets the vault's fallback instead.
    """

    # `Connector.withdraw_consent`: told when a person withdraws consent for
    # a purpose its holdings rest on, it erases what it holds for that
    # purpose alone. Without it, a person is asked to do it (a manual action).
    WITHDRAW_CONSENT = "withdraw_consent"


@hookspec
def vault_register_connectors(host: VaultHost) -> list[type[Connector]] | None:
    """Return the connector classes this plugin provides.

    Called once at start-up, before the configuration is read. Each class
    needs a unique `name`; the configuration file's `[connectors.NAME]`
    section enables it and is passed to its constructor. Return None or an
    empty list to provide none.
    """
