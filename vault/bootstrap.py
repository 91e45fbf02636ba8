"""Opens the stores from a URL, and a vault over them: the one place that
names a storage engine (SQLite today, `sqlite:///DIRECTORY`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vault import crypto
from vault.core.clock import Clock
from vault.core.vault import Vault
from vault.storage.base import KeyStore, RecordStore
from vault.storage.sqlite import SQLiteRecordStore
from vault.storage.sqlite_keys import SQLiteKeyStore

SQLITE = "sqlite:///"


class UnknownStorage(ValueError):
    """The storage URL names no engine the vault has."""


@dataclass
class Stores:
    """The two databases, by their contracts: nothing past `open_stores` knows the engine."""

    records: RecordStore
    keys: KeyStore

    def close(self) -> None:
        self.records.close()
        self.keys.close()


def open_stores(url: str) -> Stores:
    """The record and key stores at `url`, created on first use. For SQLite the
    URL names a directory; its two databases are kept apart so that a backup
    of the records alone cannot be read."""
    if not url.startswith(SQLITE) or url == SQLITE:
        raise UnknownStorage(f"storage {url!r}: only {SQLITE}DIRECTORY is supported")
    directory = Path(url.removeprefix(SQLITE))
    directory.mkdir(parents=True, exist_ok=True)
    records = SQLiteRecordStore(directory / "records.db")
    try:
        return Stores(records, SQLiteKeyStore(directory / "keys.db"))
    except BaseException:
        records.close()
        raise


def vault_over(stores: Stores, keyring: crypto.Keyring, clock: Clock | None = None) -> Vault:
    """The vault over `stores`, with any erasure a crash interrupted finished."""
    vault = Vault(stores.records, stores.keys, keyring, clock)
    vault.recover()
    return vault


def open_vault(
    directory: Path, keyring_file: Path | None = None, clock: Clock | None = None
) -> Vault:
    """Open (creating on first run) the vault in data directory `directory`,
    its keyring beside the databases unless named: for tools and tests."""
    directory.mkdir(parents=True, exist_ok=True)
    keyring = crypto.load_or_create_keyring(keyring_file or directory / "keyring.json")
    return vault_over(open_stores(f"{SQLITE}{directory.absolute()}"), keyring, clock)


def close_vault(vault: Vault) -> None:
    vault.records.close()
    vault.keys.store.close()
