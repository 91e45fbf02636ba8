"""Who is calling: the actor every core operation is given.

The caller travels as a parameter, not in a thread-local or context variable:
a call hops from the event loop to a pool thread to the store's writer, and
a durable step runs long after the call that asked for it. The edge fills the
actor in (vault.server.access: a verified token and the role it grants), the
core checks the rules that need the data itself (an integrator's own system,
a protected identity: vault.core.access), and the audit trail names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What the caller may do. Which calls each role may make is one table at
    the edge (vault.server.permissions); what a role may see of the data is
    the core's (vault.core.access)."""

    # One source system: its own records, for the purposes configured for it.
    INTEGRATOR = "integrator"
    # Answers rights requests: exports, erasures, protected identities.
    PRIVACY_OFFICER = "privacy_officer"
    # Reads what was done; changes nothing.
    AUDITOR = "auditor"
    # Connectors, tokens, configuration; never personal data.
    ADMIN = "admin"
    # The person who runs the vault on this machine, through the CLI's
    # offline commands (import into a stopped vault, key rotation, tokens).
    OPERATOR = "operator"
    # The vault acting on its own: the steps of an erasure, maintenance.
    VAULT = "vault"


# The roles a token can grant; the operator and the vault are never a caller
# over the network.
TOKEN_ROLES = (Role.INTEGRATOR, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class Actor:
    """The caller of a core operation.

    `who` names the caller (a token's name and id, a client certificate's
    subject), `role` is what it may do; an integrator also has the source
    `system` it writes for, the `purposes` that system is configured for and,
    when its token names one, the `default_purpose` of its reads that name none.
    """

    who: str
    role: Role
    system: str = ""
    purposes: frozenset[str] = field(default=frozenset())
    default_purpose: str = ""

    @property
    def sees_protected(self) -> bool:
        """May see who a protected identity is (every read is still marked
        sensitive)."""
        return self.role in (Role.PRIVACY_OFFICER, Role.OPERATOR, Role.VAULT)


# The local operator: the CLI's offline commands, and tests of the core.
LOCAL = Actor("local", Role.OPERATOR)
# The vault's own background work, whoever asked for it in the first place.
THE_VAULT = Actor("vault", Role.VAULT)
