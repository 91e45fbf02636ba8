"""Who is calling: the actor every core operation is given.

The caller travels as a parameter, not in a thread-local or context variable:
a call hops from the event loop to a pool thread to the store's writer, and
a durable step runs long after the call that asked for it. Access control
fills the actor in at the edge (an authenticated identity and its role), and
the audit trail names it in each event; neither has to change a signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What the caller may do. Today only the roles that exist: access control
    adds the privacy officer, the integrator, the auditor and the admin."""

    # The person who runs the vault on this machine, through the CLI, the
    # demo or an unauthenticated server call.
    OPERATOR = "operator"
    # The vault acting on its own: the steps of an erasure, maintenance.
    VAULT = "vault"


@dataclass(frozen=True)
class Actor:
    """The caller of a core operation.

    `who` names the caller (an operator, a token's name, a certificate's
    subject), `role` is what it may do, and `system` the source system an
    integrator writes for (empty for everyone else).
    """

    who: str
    role: Role
    system: str = ""


# Every call until access control authenticates callers.
LOCAL = Actor("local", Role.OPERATOR)
# The vault's own background work, whoever asked for it in the first place.
THE_VAULT = Actor("vault", Role.VAULT)
