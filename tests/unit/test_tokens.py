"""API tokens in the core (vault.core.tokens), on both engines, with a fixed
clock: issued for a role and shown once, kept only as a keyed hash, verified
until revoked or expired, their last use noted at most once a minute."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re

import pytest

from vault.core import tokens as core_tokens
from vault.core.actor import LOCAL, Actor, Role
from vault.core.clock import FixedClock
from vault.core.errors import (
    InvalidArgument,
    TokenExpired,
    TokenMalformed,
    TokenNotFound,
    TokenRevoked,
    TokenRoleNotAllowed,
    TokenUnknown,
)
from vault.core.tokens import LAST_USE_EVERY, VERIFIED_FOR, IssuedToken, Tokens, token_id_of
from vault.core.vault import Vault

SHAPE = re.compile(r"cvt_[a-z2-7]{12}_[A-Za-z0-9_-]{43}")
DAY = dt.timedelta(days=1)


def another_process(vault: Vault) -> Tokens:
    """The tokens as another server on the same databases sees them (a cache of its own)."""
    return Tokens(vault.records, vault.keys, vault.clock, vault.audit, vault.purposes)


def admin(vault: Vault, **options: object) -> IssuedToken:
    return vault.tokens.create(LOCAL, Role.ADMIN, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- issuing
def test_a_token_is_issued_for_a_role_and_its_secret_is_kept_only_as_a_hash(
    vault: Vault, clock: FixedClock
) -> None:
    issued = vault.tokens.create(
        LOCAL, Role.INTEGRATOR, system="lms", expires_in=90 * DAY, name="LMS nightly sync"
    )
    assert SHAPE.fullmatch(issued.secret)
    token = issued.token
    assert issued.secret.startswith(f"cvt_{token.token_id}_")
    assert token.resource_name == f"tokens/{token.token_id}"
    assert (token.role, token.system, token.name) == (Role.INTEGRATOR, "lms", "LMS nightly sync")
    assert token.created_at == clock.now() and token.expires_at == clock.now() + 90 * DAY
    assert token.revoked_at is None and token.last_used_at is None
    assert not hasattr(token, "secret")
    row = vault.records.tokens.token(token.token_id)
    assert row is not None
    secret = issued.secret.encode()
    assert len(row.secret_hash) == 32 and row.secret_hash != secret
    # The random part by position: it may itself hold "_", so splitting on it
    # could leave a byte or two, which a 32-byte hash holds by chance.
    random_part = secret[len(f"cvt_{token.token_id}_") :]
    assert len(random_part) == 43 and random_part not in row.secret_hash
    # Two tokens never share an id or a secret.
    other = admin(vault)
    assert other.token.token_id != token.token_id and other.secret != issued.secret


def test_the_hash_is_keyed_so_the_same_secret_under_another_key_does_not_match(
    vault: Vault,
) -> None:
    issued = admin(vault)
    row = vault.records.tokens.token(issued.token.token_id)
    assert row is not None
    assert row.secret_hash != hashlib.sha256(issued.secret.encode()).digest()


@pytest.mark.parametrize(
    ("role", "options", "field"),
    [
        (Role.OPERATOR, {}, "role"),
        (Role.VAULT, {}, "role"),
        (Role.INTEGRATOR, {}, "system"),
        (Role.INTEGRATOR, {"system": "LMS"}, "system"),
        (Role.INTEGRATOR, {"system": "lms sync"}, "system"),
        (Role.INTEGRATOR, {"system": "a" * 65}, "system"),
        (Role.ADMIN, {"system": "lms"}, "system"),
        (Role.AUDITOR, {"expires_in": dt.timedelta(0)}, "expires"),
        (Role.AUDITOR, {"expires_in": -DAY}, "expires"),
        (Role.AUDITOR, {"expires_in": 36_501 * DAY}, "expires"),
        (Role.AUDITOR, {"name": "x" * 201}, "name"),
        (Role.AUDITOR, {"name": "two\nlines"}, "name"),
    ],
)
def test_a_token_that_breaks_a_rule_is_refused_and_none_is_stored(
    vault: Vault, role: Role, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        vault.tokens.create(LOCAL, role, **options)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert vault.records.tokens.tokens() == []


def test_a_privacy_officers_token_is_issued_only_by_the_local_operator(vault: Vault) -> None:
    admin_actor = Actor("tokens/abc", Role.ADMIN)
    for role in (Role.INTEGRATOR, Role.AUDITOR, Role.ADMIN):
        system = "lms" if role is Role.INTEGRATOR else ""
        assert vault.tokens.create(admin_actor, role, system=system).token.role is role
    kept = vault.records.tokens.tokens()
    officer = Actor("dpo", Role.PRIVACY_OFFICER)
    for actor, role in (
        (admin_actor, Role.PRIVACY_OFFICER),
        (officer, Role.PRIVACY_OFFICER),
        (officer, Role.AUDITOR),
    ):
        with pytest.raises(TokenRoleNotAllowed) as refused:
            vault.tokens.create(actor, role)
        assert refused.value.metadata == {
            "field": "role",
            "role": actor.role.value,
            "token_role": role.value,
        }
    assert vault.records.tokens.tokens() == kept
    assert vault.tokens.create(LOCAL, Role.PRIVACY_OFFICER).token.role is Role.PRIVACY_OFFICER


def test_a_system_name_the_connector_registry_accepts_gets_an_integrator_token(
    vault: Vault,
) -> None:
    longest = "s" + "y" * 63  # 64 characters, as many as a connector's name may have
    issued = vault.tokens.create(LOCAL, Role.INTEGRATOR, system=longest)
    assert issued.token.system == longest
    longest_name = admin(vault, name="n" * 200, expires_in=36_500 * DAY)
    assert len(longest_name.token.name) == 200


# -------------------------------------------------------------- verifying
def test_a_token_verifies_here_and_in_another_process(vault: Vault) -> None:
    issued = vault.tokens.create(LOCAL, Role.INTEGRATOR, system="lms", name="sync")
    for tokens in (vault.tokens, another_process(vault)):
        verified = tokens.verify(issued.secret)
        assert verified.token_id == issued.token.token_id
        assert (verified.role, verified.system) == (Role.INTEGRATOR, "lms")


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "Bearer cvt_aaaaaaaaaaaa_" + "A" * 43,
        "cvt_aaaaaaaaaaaa_" + "A" * 42,
        "cvt_aaaaaaaaaaaa_" + "A" * 44,
        "cvt_AAAAAAAAAAAA_" + "A" * 43,
        "cvt_aaaaaaaaaaa1_" + "A" * 43,
        "cvt_aaaaaaaaaaaa_" + "A" * 42 + "=",
        " cvt_aaaaaaaaaaaa_" + "A" * 43,
        "cvt_aaaaaaaaaaaa_" + "A" * 42 + "é",
        "xyz_aaaaaaaaaaaa_" + "A" * 43,
    ],
)
def test_a_malformed_token_is_told_apart_from_an_unknown_one(vault: Vault, presented: str) -> None:
    with pytest.raises(TokenMalformed):
        vault.tokens.verify(presented)


def test_a_well_formed_token_the_vault_never_issued_is_unknown(vault: Vault) -> None:
    issued = admin(vault)
    with pytest.raises(TokenUnknown):
        vault.tokens.verify("cvt_aaaaaaaaaaaa_" + "A" * 43)
    # An issued token's id with another secret: unknown too, never "revoked"
    # or "expired", which would tell a prober the id is real.
    forged = f"cvt_{issued.token.token_id}_" + "B" * 43
    with pytest.raises(TokenUnknown):
        vault.tokens.verify(forged)
    vault.tokens.revoke(LOCAL, issued.token.resource_name)
    with pytest.raises(TokenUnknown):
        vault.tokens.verify(forged)


def test_a_revoked_token_is_refused_at_once_here_and_within_moments_elsewhere(
    vault: Vault, clock: FixedClock
) -> None:
    issued = admin(vault)
    elsewhere = another_process(vault)
    vault.tokens.verify(issued.secret)
    elsewhere.verify(issued.secret)
    revoked = vault.tokens.revoke(LOCAL, issued.token.resource_name)
    assert revoked.revoked_at == clock.now()
    with pytest.raises(TokenRevoked) as refused:
        vault.tokens.verify(issued.secret)
    assert refused.value.metadata == {"token": issued.token.resource_name}
    # Another server trusts what it verified for a moment, and no longer.
    elsewhere.verify(issued.secret)
    clock.advance(seconds=VERIFIED_FOR.total_seconds())
    with pytest.raises(TokenRevoked):
        elsewhere.verify(issued.secret)
    with pytest.raises(TokenRevoked):
        another_process(vault).verify(issued.secret)


def test_a_token_expires_at_its_time_even_while_it_is_remembered(
    vault: Vault, clock: FixedClock
) -> None:
    issued = admin(vault, expires_in=DAY)
    clock.advance(days=1, microseconds=-1)
    vault.tokens.verify(issued.secret)
    clock.advance(microseconds=1)
    with pytest.raises(TokenExpired) as refused:
        vault.tokens.verify(issued.secret)
    assert refused.value.metadata == {"token": issued.token.resource_name}
    with pytest.raises(TokenExpired):
        another_process(vault).verify(issued.secret)


def test_a_token_without_an_expiry_never_expires(vault: Vault, clock: FixedClock) -> None:
    issued = admin(vault)
    assert issued.token.expires_at is None
    clock.advance(days=36_600)
    assert vault.tokens.verify(issued.secret).token_id == issued.token.token_id


def test_a_clock_set_back_does_not_stretch_how_long_a_verification_is_trusted(
    vault: Vault, clock: FixedClock
) -> None:
    issued = admin(vault)
    elsewhere = another_process(vault)
    elsewhere.verify(issued.secret)
    vault.tokens.revoke(LOCAL, issued.token.resource_name)
    clock.advance(seconds=-1)
    with pytest.raises(TokenRevoked):
        elsewhere.verify(issued.secret)


def test_the_last_use_is_noted_at_most_once_a_minute_and_written_only_when_asked(
    vault: Vault, clock: FixedClock
) -> None:
    issued = admin(vault)
    token_id = issued.token.token_id

    def last_used() -> dt.datetime | None:
        row = vault.records.tokens.token(token_id)
        assert row is not None
        return row.last_used_at

    first = clock.now()
    assert vault.tokens.verify(issued.secret).last_used_at == first
    # Verifying wrote nothing: the use waits for note_uses (the server runs it off its loop).
    assert last_used() is None and vault.tokens.uses_due
    vault.tokens.note_uses()
    assert last_used() == first and not vault.tokens.uses_due
    clock.advance(seconds=LAST_USE_EVERY.total_seconds() - 1)
    vault.tokens.verify(issued.secret)
    elsewhere = another_process(vault)
    elsewhere.verify(issued.secret)
    assert not vault.tokens.uses_due and not elsewhere.uses_due
    clock.advance(seconds=1)
    assert vault.tokens.verify(issued.secret).last_used_at == clock.now()
    assert last_used() == first
    vault.tokens.note_uses()
    assert last_used() == clock.now()
    listed = vault.tokens.list(LOCAL)
    assert [t.last_used_at for t in listed] == [clock.now()]


# ---------------------------------------------------------------- listing
def test_tokens_are_listed_newest_first_and_inactive_ones_only_when_asked(
    vault: Vault, clock: FixedClock
) -> None:
    kept = admin(vault, name="kept")
    clock.advance(seconds=1)
    revoked = admin(vault, name="revoked")
    clock.advance(seconds=1)
    expiring = admin(vault, name="expiring", expires_in=dt.timedelta(hours=1))
    clock.advance(seconds=1)
    newest = vault.tokens.create(LOCAL, Role.AUDITOR, name="newest")
    vault.tokens.revoke(LOCAL, revoked.token.resource_name)
    assert [t.name for t in vault.tokens.list(LOCAL)] == ["newest", "expiring", "kept"]
    clock.advance(hours=1)
    assert [t.name for t in vault.tokens.list(LOCAL)] == ["newest", "kept"]
    everything = vault.tokens.list(LOCAL, show_inactive=True)
    assert [t.token_id for t in everything] == [
        newest.token.token_id,
        expiring.token.token_id,
        revoked.token.token_id,
        kept.token.token_id,
    ]
    assert everything[2].revoked_at is not None


# --------------------------------------------------------------- revoking
def test_revoking_twice_answers_the_same_and_keeps_the_first_time(
    vault: Vault, clock: FixedClock
) -> None:
    issued = admin(vault)
    first = vault.tokens.revoke(LOCAL, issued.token.resource_name)
    clock.advance(minutes=5)
    again = vault.tokens.revoke(LOCAL, issued.token.token_id)  # a bare id is taken too
    assert again == first
    assert first == dataclasses.replace(issued.token, revoked_at=first.revoked_at)


def test_revoking_a_token_that_is_not_there_or_not_a_name_is_refused(vault: Vault) -> None:
    with pytest.raises(TokenNotFound) as missing:
        vault.tokens.revoke(LOCAL, "tokens/aaaaaaaaaaaa")
    assert missing.value.metadata == {"name": "tokens/aaaaaaaaaaaa"}
    # A token's name in form, but no id the vault issues: no such token.
    with pytest.raises(TokenNotFound) as missing:
        vault.tokens.revoke(LOCAL, "tokens/AAAAAAAAAAAA")
    assert missing.value.metadata == {"name": "tokens/AAAAAAAAAAAA"}
    for name in ("", "tokens/", "tokens/a/b", "subjects/aaaaaaaaaaaa", "aaaa"):
        with pytest.raises(InvalidArgument):
            vault.tokens.revoke(LOCAL, name)


def test_token_id_of_takes_a_resource_name_or_a_bare_id() -> None:
    assert token_id_of("tokens/abcdefgh2345") == "abcdefgh2345"
    assert token_id_of("abcdefgh2345") == "abcdefgh2345"
    with pytest.raises(InvalidArgument) as refused:
        token_id_of("tokens/abc", field="token")
    assert refused.value.field == "token"


# ------------------------------------------------------------------ actor
def test_a_token_makes_an_actor_named_by_its_label_and_id(vault: Vault) -> None:
    integrator = vault.tokens.create(LOCAL, Role.INTEGRATOR, system="lms", name="LMS sync")
    actor = integrator.token.actor(frozenset({"teaching"}))
    assert actor == Actor(
        f"LMS sync (tokens/{integrator.token.token_id})",
        Role.INTEGRATOR,
        "lms",
        frozenset({"teaching"}),
    )
    unnamed = admin(vault)
    # Only an integrator has a system, and purposes with it.
    assert unnamed.token.actor(frozenset({"teaching"})) == Actor(
        unnamed.token.resource_name, Role.ADMIN
    )
    assert not actor.sees_protected


def test_every_role_a_token_can_grant_is_one_the_core_knows() -> None:
    assert set(core_tokens.TOKEN_ROLES) == {
        Role.INTEGRATOR,
        Role.PRIVACY_OFFICER,
        Role.AUDITOR,
        Role.ADMIN,
    }
