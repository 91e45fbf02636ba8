"""API tokens: issued for a role, shown once, kept only as a keyed hash,
revocable, with an expiry and a last use.

A token reads `cvt_<id>_<secret>`: the id names it in lists and logs (so a
leaked token can be found and revoked), the secret is 32 random bytes. The
vault stores HMAC-SHA256(token key, whole token), where the token key is a
vault key wrapped under the keyring's KEK (vault.core.keys.vault_key): a copy
of the database without the keyring cannot even test a guess, and rotation
re-wraps the key like any other, so tokens outlive key versions.

Verifying is on every call, so a verified token is remembered for
`VERIFIED_FOR` by the vault's clock (a revocation reaches the other servers
within that time; this one forgets at once). Verifying never writes: a last
use due (at most once a `LAST_USE_EVERY`) is kept until `note_uses` writes it,
which the server does off its event loop, since a committed write waits on
the disk or the network.

Issuing, listing and revoking each commit an audit event, naming the token by
its id (never its secret). A token's row is not written in a record-store
transaction, so a change's event commits just before it: no event, no change.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, replace

from vault.core.actor import TOKEN_ROLES, Actor, Role
from vault.core.audit.events import Operation
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock
from vault.core.consent.grounds import RIGHTS_REQUESTS
from vault.core.consent.purposes import Purposes
from vault.core.errors import (
    InvalidArgument,
    TokenExpired,
    TokenMalformed,
    TokenNotFound,
    TokenRevoked,
    TokenRoleNotAllowed,
    TokenUnknown,
)
from vault.core.keys import KeyManager
from vault.storage.base import RecordStore, TokenRow

PREFIX = "cvt_"
TOKEN_KEY = "api-tokens"
VERIFIED_FOR = dt.timedelta(seconds=5)
LAST_USE_EVERY = dt.timedelta(minutes=1)
LONGEST = dt.timedelta(days=36_500)
MAX_NAME = 200
_ID = re.compile(r"[a-z2-7]{12}")
# A token's resource name in form, whatever its id: one that is not an id
# the vault issues names no token, which is NOT_FOUND, not a wrong form.
_NAME = re.compile(r"tokens/[^/\s]+")
_SHAPE = re.compile(r"cvt_([a-z2-7]{12})_([A-Za-z0-9_-]{43})")
# Which roles' tokens each caller may issue (vault.core.tokens.check_issuer).
ISSUES: dict[Role, frozenset[Role]] = {
    Role.OPERATOR: frozenset(TOKEN_ROLES),
    Role.ADMIN: frozenset({Role.INTEGRATOR, Role.AUDITOR, Role.ADMIN}),
}
# A source system's name as the connector registry accepts it.
_SYSTEM = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Token:
    """A token as listed: everything but its secret."""

    token_id: str
    name: str
    role: Role
    system: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    # An integrator's purpose for the reads that name none ("": they must).
    default_purpose: str = ""

    @property
    def resource_name(self) -> str:
        return f"tokens/{self.token_id}"

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def actor(self, purposes: frozenset[str] = frozenset()) -> Actor:
        """The caller this token makes: named by its label and id, an
        integrator with its system's configured `purposes`."""
        who = f"{self.name} ({self.resource_name})" if self.name else self.resource_name
        return Actor(
            who,
            self.role,
            self.system,
            purposes if self.system else frozenset(),
            self.default_purpose,
        )


@dataclass(frozen=True)
class IssuedToken:
    token: Token
    secret: str  # the whole `cvt_...` string, shown once


def check_issuer(actor: Actor, role: Role) -> None:
    """May `actor` issue a token of `role`? An admin issues every token that
    reaches no personal data; a privacy officer's does, and an admin never
    may, so only the local operator makes one, whoever holds the vault's data
    directory and keyring (`consent-vault tokens create` on its machine)."""
    if role in ISSUES.get(actor.role, frozenset()):
        return
    if role is Role.PRIVACY_OFFICER:
        raise TokenRoleNotAllowed(
            actor.role.value,
            role.value,
            f"the role {actor.role.value} may not issue a privacy officer's token, which "
            "reaches personal data: make it on the vault's machine with "
            "`consent-vault tokens create --role privacy_officer`",
        )
    raise TokenRoleNotAllowed(
        actor.role.value, role.value, f"the role {actor.role.value} may not issue tokens"
    )


def token_id_of(name: str, field: str = "name") -> str:
    """The id in `tokens/{id}` (or a bare id), or InvalidArgument."""
    token_id = name.removeprefix("tokens/")
    if not _ID.fullmatch(token_id):
        raise InvalidArgument(field, "must be tokens/ID, as `tokens list` shows it")
    return token_id


class Tokens:
    def __init__(
        self,
        store: RecordStore,
        keys: KeyManager,
        clock: Clock,
        audit: AuditTrail,
        purposes: Purposes,
    ) -> None:
        self.store = store.tokens
        self.purposes = purposes
        self.keys = keys
        self.clock = clock
        self.audit = audit
        self._hash_key: bytes | None = None
        # By keyed hash: when each was verified, and the token as it was then.
        self._verified: dict[bytes, tuple[dt.datetime, Token]] = {}
        # By token id: the last uses verified but not yet written.
        self._uses_due: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------- issuing
    def create(
        self,
        actor: Actor,
        role: Role,
        *,
        system: str = "",
        expires_in: dt.timedelta | None = None,
        name: str = "",
        default_purpose: str = "",
    ) -> IssuedToken:
        """Issue a token for `role`; its secret is in the answer only."""
        if role not in TOKEN_ROLES:
            raise InvalidArgument("role", f"must be one of {', '.join(TOKEN_ROLES)}")
        if role is Role.INTEGRATOR and not _SYSTEM.fullmatch(system):
            raise InvalidArgument(
                "system", "an integrator's token names its source system, such as lms"
            )
        if role is not Role.INTEGRATOR and system:
            raise InvalidArgument("system", "only an integrator's token names a system")
        if default_purpose:
            if role is not Role.INTEGRATOR:
                raise InvalidArgument(
                    "default_purpose", "only an integrator's token has a default purpose"
                )
            # Configured; whether the system may read for it is the read's
            # check (PURPOSE_NOT_ALLOWED), as [systems] may change meanwhile.
            if default_purpose == RIGHTS_REQUESTS:
                raise InvalidArgument(
                    "default_purpose",
                    f"{RIGHTS_REQUESTS} is the vault's own purpose of answering data-subject "
                    "requests, which no integrator reads for",
                )
            self.purposes.named(default_purpose, "default_purpose")
        check_issuer(actor, role)
        if expires_in is not None and not dt.timedelta(0) < expires_in <= LONGEST:
            raise InvalidArgument("expires", "must be more than 0 and at most 36500 days")
        if len(name) > MAX_NAME or not name.isprintable():
            raise InvalidArgument("name", f"must be printable, at most {MAX_NAME} characters")
        token_id = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()[:12]
        secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = self.clock.now()
        row = TokenRow(
            token_id=token_id,
            secret_hash=self._hash(secret),
            role=role.value,
            system=system,
            name=name,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
            default_purpose=default_purpose,
        )
        token = _token(row)
        detail = (
            f"{token.resource_name}, role {role.value}"
            + (f", system {system}" if system else "")
            + (f", default purpose {default_purpose}" if default_purpose else "")
        )
        self.audit.commit(self.audit.event(actor, Operation.CREATE_TOKEN, detail=detail))
        self.store.insert_token(row)
        return IssuedToken(token, secret)

    def list(self, actor: Actor, show_inactive: bool = False) -> list[Token]:
        now = self.clock.now()
        listed = [_token(row) for row in self.store.tokens()]
        shown = listed if show_inactive else [t for t in listed if t.active(now)]
        detail = f"{len(shown):,} token{'' if len(shown) == 1 else 's'}" + (
            ", revoked and expired ones included" if show_inactive else ""
        )
        self.audit.commit(self.audit.event(actor, Operation.LIST_TOKENS, detail=detail))
        return shown

    def revoke(self, actor: Actor, name: str) -> Token:
        """Revoke a token (again: answered the same); refused on this server
        at once, on the others within `VERIFIED_FOR`."""
        if _NAME.fullmatch(name) and not _ID.fullmatch(name.removeprefix("tokens/")):
            raise TokenNotFound(f"no token {name}", name=name)
        token_id = token_id_of(name)
        # Looked up first: the event tells only of a token that exists.
        if self.store.token(token_id) is None:
            raise TokenNotFound(f"no token tokens/{token_id}", name=f"tokens/{token_id}")
        self.audit.commit(
            self.audit.event(actor, Operation.REVOKE_TOKEN, detail=f"tokens/{token_id}")
        )
        row = self.store.revoke_token(token_id, self.clock.now())
        if row is None:
            raise TokenNotFound(f"no token tokens/{token_id}", name=f"tokens/{token_id}")
        with self._lock:
            self._verified = {
                k: v for k, v in self._verified.items() if v[1].token_id != row.token_id
            }
        return _token(row)

    # ----------------------------------------------------------- verifying
    def verify(self, presented: str) -> Token:
        """The token `presented` is, if it may be used now; else
        TokenMalformed, TokenUnknown, TokenRevoked or TokenExpired. Reads, never
        writes: a last use due waits for `note_uses`."""
        shape = _SHAPE.fullmatch(presented)
        if shape is None:
            raise TokenMalformed("not a token this vault issues (cvt_...)")
        digest = self._hash(presented)
        now = self.clock.now()
        with self._lock:
            seen = self._verified.get(digest)
        # A clock set back does not stretch the time a verification is trusted.
        if seen is not None and dt.timedelta(0) <= now - seen[0] < VERIFIED_FOR:
            token = seen[1]
            if token.active(now) and not _use_to_note(token, now):
                return token
        row = self.store.token(shape[1])
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            raise TokenUnknown()
        token = _token(row)
        if token.revoked_at is not None:
            raise TokenRevoked(token.resource_name)
        if token.expires_at is not None and now >= token.expires_at:
            raise TokenExpired(token.resource_name)
        with self._lock:
            if _use_to_note(token, now):
                self._uses_due[token.token_id] = now
                token = replace(token, last_used_at=now)
            self._verified[digest] = (now, token)
        return token

    @property
    def uses_due(self) -> bool:
        """Are there last uses `verify` found due that `note_uses` has not written?"""
        return bool(self._uses_due)

    def note_uses(self) -> None:
        """Write the last uses due, a committed write each: slow, so not on a
        path that waits for it (the server runs it on its blocking pool)."""
        with self._lock:
            due, self._uses_due = self._uses_due, {}
        for token_id, used_at in due.items():
            self.store.touch_token(token_id, used_at)

    def _hash(self, presented: str) -> bytes:
        if self._hash_key is None:
            self._hash_key = self.keys.vault_key(TOKEN_KEY)
        return hmac.new(self._hash_key, presented.encode("ascii"), hashlib.sha256).digest()


def _use_to_note(token: Token, now: dt.datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= LAST_USE_EVERY


def _token(row: TokenRow) -> Token:
    return Token(
        token_id=row.token_id,
        name=row.name,
        role=Role(row.role),
        system=row.system,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        default_purpose=row.default_purpose,
    )
