"""The gate every vault call passes before its servicer runs and before
anything is looked up: who is calling (an API token, and with mutual TLS the
client certificate), whether the token's role may make this call (the one
table, vault.server.permissions), and whether the caller is within its rate
and its address within its refused authentications. What passes is the core's
actor; what does not is `Refused`: the error that says why, and who was
calling as far as the gate got to know, for the refusal's audit event.

Health and reflection are not registered through the gate (load balancers
and schema tools ask them without credentials); every vault service is
(vault.server.registration), so a new RPC is closed until the table opens it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc

from vault.core.actor import Actor
from vault.core.errors import (
    RateLimited,
    RoleNotAllowed,
    TokenExpired,
    TokenMalformed,
    TokenMissing,
    TokenRevoked,
    TokenUnknown,
    VaultError,
)
from vault.core.tokens import Token, Tokens
from vault.server.permissions import allowed
from vault.settings import AccessSettings

log = logging.getLogger("vault.server")

AUTHORIZATION = "authorization"
BEARER = "bearer"
# Who a refused call came from when no token of this vault says: none was
# sent, or one it did not issue.
ANONYMOUS = "anonymous"


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who made a refused call, as far as the gate knew: a token's actor (its
    role and system too) once it verified, a token's name alone if it was
    revoked or expired, else `anonymous`; with mutual TLS the certificate."""

    who: str
    role: str = ""
    system: str = ""


class Refused(Exception):
    """The gate refused a call: `error` is what the caller is answered with,
    `caller` who they were as far as known."""

    def __init__(self, error: VaultError, caller: Caller) -> None:
        super().__init__(error.message)
        self.error = error
        self.caller = caller


class RateLimits:
    """A token bucket per caller: `burst` calls at once, refilled at
    `per_second`. Used on the event loop only, so it needs no lock."""

    # Past this many callers, the buckets refilled to the full are forgotten
    # (a full bucket is what a caller not seen yet gets), so callers that come
    # and go, client addresses above all, do not grow the table forever.
    KEPT = 10_000

    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        # caller: (calls left in its bucket, when that was counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str) -> float:
        """Take one call from `caller`'s bucket: 0 if there was one, else the
        seconds until there will be."""
        now = self.clock()
        left = self._left(caller, now)
        if caller not in self._buckets and len(self._buckets) >= self.KEPT:
            self._forget_full(now)
        if left >= 1:
            self._buckets[caller] = (left - 1, now)
            return 0.0
        self._buckets[caller] = (left, now)
        return (1 - left) / self.per_second

    def wait(self, caller: str) -> float:
        """The seconds until `caller`'s bucket has a call (0: it has one now),
        taking none."""
        left = self._left(caller, self.clock())
        return 0.0 if left >= 1 else (1 - left) / self.per_second

    def _left(self, caller: str, now: float) -> float:
        left, then = self._buckets.get(caller, (float(self.burst), now))
        return min(float(self.burst), left + (now - then) * self.per_second)

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            caller: bucket
            for caller, bucket in self._buckets.items()
            if self._left(caller, now) < self.burst
        }


def peer_address(context: grpc.aio.ServicerContext) -> str:
    """The client's address without its port (`ipv4:203.0.113.7`,
    `ipv6:[2001:db8::1]`): one bucket of refused authentications for every
    connection it opens. A Unix socket's peer is kept whole."""
    peer = context.peer() or ""
    if peer.startswith(("ipv4:", "ipv6:")):
        return peer.rpartition(":")[0]
    return peer


def presented_token(metadata: Iterable[tuple[str, Any]]) -> str:
    """The token in the call's `authorization: Bearer <token>`, or TokenMissing
    / TokenMalformed."""
    values = [value for key, value in metadata if key == AUTHORIZATION]
    if not values:
        raise TokenMissing()
    if len(values) > 1:
        raise TokenMalformed("sent more than once; send one `Bearer <token>`")
    value = values[0]
    if not isinstance(value, str):
        raise TokenMalformed("must be text: `Bearer <token>`")
    scheme, _, token = value.partition(" ")
    # The scheme is case-insensitive (RFC 9110); the token is one word.
    if scheme.lower() != BEARER or not token or " " in token.strip():
        raise TokenMalformed("must read `Bearer <token>`")
    return token.strip()


def certificate_subject(context: grpc.aio.ServicerContext) -> str:
    """The subject of the client's verified certificate (mutual TLS), or ""."""
    auth = context.auth_context()
    for key in ("x509_subject", "x509_common_name"):
        for value in auth.get(key, ()):
            return bytes(value).decode("utf-8", "replace")
    return ""


class Gate:
    """Turns a call into its actor, or refuses it.

    `verify_on`: where a token is verified. A cache miss reads the token store:
    over a network database (PostgreSQL) that waits on the network, so it runs
    on that pool rather than stalling every call on the event loop; over
    embedded stores (None) it is a short local read, done on the loop.
    `writes_on`: where a token's last use is written, a committed write on any
    engine, so never on the loop; the call does not wait for it.
    """

    def __init__(
        self,
        tokens: Tokens,
        access: AccessSettings,
        writes_on: futures.Executor,
        verify_on: futures.Executor | None = None,
    ) -> None:
        self.tokens = tokens
        self.purposes = access.purposes
        self.rates = RateLimits(access.calls_per_second, access.burst)
        # Refused authentications by client address: a well-formed token costs
        # a keyed hash and a store read before it is refused, so guessing is
        # slowed where it comes from (no token names the guesser).
        self.refusals = RateLimits(access.refused_per_second, access.refused_burst)
        self.writes_on = writes_on
        self.verify_on = verify_on

    async def admit(self, method: str, context: grpc.aio.ServicerContext) -> Actor:
        """The actor making `method` (`/package.Service/Method`); raises
        Refused, with an Unauthenticated, PermissionDenied or RateLimited error."""
        certificate = certificate_subject(context)
        try:
            token = await self._authenticated(context)
        except (TokenRevoked, TokenExpired) as error:
            raise Refused(error, _with(Caller(error.metadata["token"]), certificate)) from error
        except VaultError as error:
            raise Refused(error, _with(Caller(ANONYMOUS), certificate)) from error
        actor = token.actor(self.purposes.get(token.system, frozenset()))
        if certificate:
            actor = dataclasses.replace(actor, who=f"{actor.who}, certificate {certificate}")
        wait = self.rates.take(token.token_id)
        if wait:
            refused: VaultError = RateLimited(self.rates.per_second, wait)
        elif not allowed(method, token.role):
            refused = RoleNotAllowed(token.role.value, method)
        else:
            return actor
        raise Refused(refused, Caller(actor.who, actor.role.value, actor.system))

    async def _authenticated(self, context: grpc.aio.ServicerContext) -> Token:
        """The call's verified token, unless its address is past its refused
        authentications."""
        presented = presented_token(context.invocation_metadata() or ())
        address = peer_address(context)
        wait = self.refusals.wait(address)
        if wait:
            raise RateLimited(self.refusals.per_second, wait, "refused authentications")
        try:
            token = await self._verify(presented)
        except (TokenUnknown, TokenRevoked, TokenExpired):
            self.refusals.take(address)
            raise
        if self.tokens.uses_due:
            self.writes_on.submit(self._note_uses)
        return token

    def _note_uses(self) -> None:
        # A last use is bookkeeping: failing to write it never fails a call.
        try:
            self.tokens.note_uses()
        except Exception:
            log.warning("could not note the last use of API tokens", exc_info=True)

    async def _verify(self, presented: str) -> Token:
        if self.verify_on is None:
            return self.tokens.verify(presented)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.verify_on, self.tokens.verify, presented)


def _with(caller: Caller, certificate: str) -> Caller:
    return (
        dataclasses.replace(caller, who=f"{caller.who}, certificate {certificate}")
        if certificate
        else caller
    )
