"""Who is calling: the one place a servicer asks for the core's actor."""

from __future__ import annotations

from vault.core.actor import Actor
from vault.server.registration import CallContext


def actor_of(context: CallContext) -> Actor:
    """The caller of this call, for the core: the actor the access gate
    (vault.server.access) made of its verified token, and with mutual TLS its
    client certificate. Every servicer asks this function, so none reads
    credentials itself."""
    return context.actor
