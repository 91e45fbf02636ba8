"""Opens a vault from a data directory: keyring, key store, record store, recovery."""

from __future__ import annotations

import os
from pathlib import Path

from vault import crypto
from vault.core.clock import Clock
from vault.core.vault import Vault
from vault.storage.sqlite import SQLiteKeyStore, SQLiteRecordStore

DATA_DIR_ENV = "CONSENT_VAULT_DATA"
KEYRING_FILE_ENV = "CONSENT_VAULT_KEYRING_FILE"
DEFAULT_DATA_DIR = Path("vault-data")


def data_dir(explicit: str | None = None) -> Path:
    # Absolute from here on: paths derived from it end up in connector
    # settings (a demo system's DSN, say), read later by code that must not
    # depend on the directory the server was started from.
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).absolute()


def keyring_path(directory: Path, explicit: str | None = None) -> Path:
    """The KEK file: separate from both databases, so no database backup holds it."""
    return Path(explicit or os.environ.get(KEYRING_FILE_ENV) or directory / "keyring.json")


def open_vault(
    directory: Path, keyring_file: Path | None = None, clock: Clock | None = None
) -> Vault:
    """Open (creating on first run) the vault in `directory` and finish any
    erasure a crash interrupted."""
    directory.mkdir(parents=True, exist_ok=True)
    keyring = crypto.load_or_create_keyring(keyring_file or keyring_path(directory))
    vault = Vault(
        SQLiteRecordStore(directory / "records.db"),
        SQLiteKeyStore(directory / "keys.db"),
        keyring,
        clock,
    )
    vault.recover()
    return vault


def close_vault(vault: Vault) -> None:
    vault.records.close()
    vault.keys.store.close()
