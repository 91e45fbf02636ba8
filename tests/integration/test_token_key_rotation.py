"""API tokens across key rotation, on both engines: the tokens' hashing key
is a vault key wrapped under the KEK, so a rotation re-wraps it, a retirement
of the old version leaves every token verifying, and a keyring that cannot
open it is refused at start-up even when no one is in the vault yet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.helpers import backdate
from vault import bootstrap
from vault.core.actor import LOCAL, Role
from vault.core.clock import FixedClock
from vault.core.tokens import TOKEN_KEY
from vault.core.vault import Vault
from vault.crypto import KeyringError
from vault.keyring import Keyring

DAY = dt.timedelta(days=1)


def test_a_token_verifies_after_its_key_is_rotated_and_the_old_version_retired(
    vault: Vault, data_dir: Path, clock: FixedClock, engine: str | None
) -> None:
    issued = vault.tokens.create(LOCAL, Role.ADMIN, name="ops")
    store = vault.keys.store
    assert store.vault_key(TOKEN_KEY).kek_version == 1  # type: ignore[union-attr]
    assert store.kek_versions() == {1: 1}  # the tokens' key alone: no one is in the vault
    backdate(vault, 40)

    rotation = vault.rotate_keys(LOCAL)
    assert rotation.version == 2
    assert rotation.rewrapped.vault_keys == 1 and rotation.rewrapped.count == 1
    assert store.vault_key(TOKEN_KEY).kek_version == 2  # type: ignore[union-attr]
    retirement = vault.retire_keys(LOCAL, 30 * DAY)
    assert retirement.retired == [1]
    assert not vault.keyring.has(1)
    assert store.kek_versions() == {2: 1}

    assert vault.tokens.verify(issued.secret).token_id == issued.token.token_id
    # A process started afresh, with only the retired keyring's successor,
    # unwraps the re-wrapped key and verifies the same secret.
    again = bootstrap.open_vault(data_dir, clock=clock, database=engine)
    try:
        verified = again.tokens.verify(issued.secret)
        assert verified.role is Role.ADMIN and verified.name == "ops"
    finally:
        bootstrap.close_vault(again)


def test_a_rotation_counts_the_tokens_key_among_what_is_left_behind(
    vault: Vault,
) -> None:
    # What keeps a retirement from dropping a version the tokens' key needs:
    # the key store counts vault keys under each version.
    vault.tokens.create(LOCAL, Role.AUDITOR)
    backdate(vault, 40)
    left, _ = vault.rotation.left_behind(vault.keyring.with_new_version())
    assert left == 1


def test_a_keyring_that_cannot_open_the_tokens_key_is_refused_with_no_one_in_the_vault(
    vault: Vault,
) -> None:
    assert not bootstrap.holds_keys(vault.keys.store)
    vault.tokens.create(LOCAL, Role.ADMIN)
    # A key database holding only the tokens' key is no new vault: no fresh
    # keyring may be made beside it, and another vault's keyring is refused.
    assert bootstrap.holds_keys(vault.keys.store)
    bootstrap.check_keyring(vault.keys.store, vault.keyring)
    with pytest.raises(KeyringError, match="not the keyring this vault was written with"):
        bootstrap.check_keyring(vault.keys.store, Keyring.generate())
