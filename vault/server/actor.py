"""Who is calling: the one place the edge turns a call into the core's actor."""

from __future__ import annotations

from vault.core.actor import LOCAL, Actor
from vault.server.registration import CallContext


def actor_of(context: CallContext) -> Actor:
    """The caller of this call, for the core.

    Every call is the local operator's until access control comes: it
    authenticates the caller here (a verified token or client certificate,
    and the role it holds) and returns that actor instead. Every servicer
    asks this function, so no signature changes when it does.
    """
    return LOCAL
