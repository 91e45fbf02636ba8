"""Opens the stores from URLs, and a vault over them: the one place that
names a storage engine (`sqlite:///DIRECTORY`, the embedded default, or
`postgresql://HOST:PORT/DATABASE`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from vault import crypto, purposes_file
from vault.core.clock import DEFAULT_TIME_ZONE, Clock
from vault.core.consent.purposes import Purposes
from vault.core.keycache import DEFAULT_CACHE_ENTRIES
from vault.core.replay import DEFAULT_REMEMBER_FOR
from vault.core.vault import Vault
from vault.keyring import Keyring, KeyringSource, load_or_create_keyring
from vault.storage import postgres
from vault.storage.base import KeyStore, RecordStore
from vault.storage.postgres import PostgresKeyStore, PostgresRecordStore, redacted
from vault.storage.schema import SchemaError
from vault.storage.sqlite import SQLiteKeyStore, SQLiteRecordStore

SQLITE = "sqlite:///"
POSTGRESQL = "postgresql://"

# What opening the stores may raise, each with a one-line message for the operator.
STORAGE_ERRORS = (postgres.DatabaseUnavailable, SchemaError)


class UnknownStorage(ValueError):
    """The storage URL names no engine the vault has."""


def check_url(url: str, option: str = "--database") -> None:
    """Raises UnknownStorage unless `url` names an engine the vault has."""
    if (url.startswith(SQLITE) and url != SQLITE) or postgres.is_postgres(url):
        return
    raise UnknownStorage(
        f"{option} {redacted(url)!r}: give {SQLITE}DIRECTORY (the embedded default) "
        f"or {POSTGRESQL}HOST:PORT/DATABASE"
    )


@dataclass
class Stores:
    """The two databases, by their contracts: nothing past `open_stores` knows the engine."""

    records: RecordStore
    keys: KeyStore
    # Both in files of this machine (SQLite), so a read costs no network round
    # trip and may run on the server's event loop.
    embedded: bool = False

    def close(self) -> None:
        self.records.close()
        self.keys.close()


def open_stores(url: str, key_url: str | None = None, *, upgrade: bool = False) -> Stores:
    """The record store at `url` and the key store at `key_url` (by default the
    same place), created on first use. For SQLite a URL names a directory and
    its two databases are files apart, so that a backup of the records alone
    cannot be read; on PostgreSQL the key store may be a database of its own.
    `upgrade` applies the migrations a database lacks (`consent-vault migrate`);
    without it a database that is behind is refused. Raises UnknownStorage, or
    one of STORAGE_ERRORS."""
    key_url = key_url or url
    check_url(url)
    check_url(key_url, "--key-database")
    records = _record_store(url, upgrade)
    try:
        keys = _key_store(key_url, upgrade)
        embedded = not (postgres.is_postgres(url) or postgres.is_postgres(key_url))
        return Stores(records, keys, embedded)
    except BaseException:
        records.close()
        raise


def migrate(url: str, key_url: str | None = None) -> list[tuple[str, list[str]]]:
    """Bring both databases to this version's schema; for each, what was applied
    (nothing when it was up to date, so running it twice is harmless)."""
    key_url = key_url or url
    check_url(url)
    check_url(key_url, "--key-database")
    records = _record_store(url, upgrade=True)
    applied = [(f"record database ({redacted(url)})", records.migrations_applied)]
    records.close()
    keys = _key_store(key_url, upgrade=True)
    applied.append((f"key database ({redacted(key_url)})", keys.migrations_applied))
    keys.close()
    return applied


def _record_store(url: str, upgrade: bool) -> SQLiteRecordStore | PostgresRecordStore:
    if postgres.is_postgres(url):
        return PostgresRecordStore(url, upgrade=upgrade)
    directory = Path(url.removeprefix(SQLITE))
    directory.mkdir(parents=True, exist_ok=True)
    return SQLiteRecordStore(directory / "records.db", upgrade=upgrade)


def _key_store(url: str, upgrade: bool) -> SQLiteKeyStore | PostgresKeyStore:
    if postgres.is_postgres(url):
        return PostgresKeyStore(url, upgrade=upgrade)
    directory = Path(url.removeprefix(SQLITE))
    directory.mkdir(parents=True, exist_ok=True)
    return SQLiteKeyStore(directory / "keys.db", upgrade=upgrade)


def vault_over(
    stores: Stores,
    keyring: Keyring | KeyringSource,
    clock: Clock | None = None,
    *,
    key_cache_entries: int = DEFAULT_CACHE_ENTRIES,
    remember_requests_for: dt.timedelta = DEFAULT_REMEMBER_FOR,
    purposes: Purposes | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> Vault:
    """The vault over `stores`, its key cache holding at most `key_cache_entries`
    keys ([keys] cache_entries), request ids remembered for
    `remember_requests_for` ([requests] remember_for), processing for
    `purposes` (the school's unless given, [purposes] file) in the
    controller's `time_zone` ([controller] time_zone), upgraded where a
    schema migration needed the keys (`Vault.upgrade`), and with any erasure a
    crash interrupted finished."""
    check_keyring(stores.keys, KeyringSource.of(keyring).current())
    vault = Vault(
        stores.records,
        stores.keys,
        keyring,
        clock,
        purposes=purposes or purposes_file.school(),
        time_zone=time_zone,
    )
    vault.keys.resize(key_cache_entries)
    vault.replay.remember_for = remember_requests_for
    vault.upgrade()
    vault.recover()
    return vault


def holds_keys(keys: KeyStore) -> bool:
    """Whether the key database holds any subject's key or a vault key (the API
    tokens', made by `tokens create` before anyone is in the vault): two page
    reads, at most."""
    return any(
        next(iter(walk()), None) is not None
        for walk in (keys.wrapped_subject_keys, keys.wrapped_vault_keys)
    )


def may_hold_keys(key_url: str) -> bool:
    """False when the key database at `key_url` surely holds no key, told
    without opening (and so creating) it: an SQLite directory without its key
    file. A PostgreSQL database must be opened to tell (`holds_keys`)."""
    if postgres.is_postgres(key_url):
        return True
    return (Path(key_url.removeprefix(SQLITE)) / "keys.db").exists()


def check_keyring(keys: KeyStore, keyring: Keyring) -> None:
    """Refuse a keyring that cannot open the key database's keys, before any
    call is served: a process with another keyring (a second machine given a
    fresh one by mistake) would find no one and register people again, and its
    reads would look like tampering. One subject key is tried (a vault key,
    when no one is in the vault yet)."""
    versions = keys.kek_versions()
    for version in sorted(versions):
        if version in keyring.retired:
            # A key database restored from before a retirement: what it holds
            # under the retired version nobody can unwrap, by design.
            count = versions[version]
            raise crypto.KeyringError(
                f"the key database holds {count:,} key{'' if count == 1 else 's'} wrapped "
                f"under key-encryption key version {version}, which the keyring "
                f"({keyring.source}) retired on {keyring.retired[version]:%Y-%m-%d}: either "
                "the key database is a copy from before that retirement (nobody can unwrap "
                "it, by design) or the keyring is another vault's; give the keyring this "
                "vault was written with"
            )
        if not keyring.has(version):
            raise crypto.KeyringError(
                f"the keyring ({keyring.source}) lacks key-encryption key version {version}, "
                "which the key database uses: give this server the keyring file the others "
                "use (a copy of its own cannot follow a rotation)"
            )
    kind, sample = "subject-key", next(iter(keys.wrapped_subject_keys()), None)
    if sample is None:
        kind, sample = "vault-key", next(iter(keys.wrapped_vault_keys()), None)
    if sample is None:
        return
    key_for, (version, wrapped) = sample
    try:
        crypto.unseal(
            keyring.kek(version),
            wrapped,
            crypto.associated_data(kind, version, key_for),
        )
    except crypto.KeyringError:
        raise crypto.KeyringError(
            f"the keyring ({keyring.source}) lacks key-encryption key version {version}, "
            "which the key database uses: give this server the keyring the others use"
        ) from None
    except crypto.TamperedError:
        raise crypto.KeyringError(
            f"the keyring ({keyring.source}) does not open the key database's keys: it is "
            "not the keyring this vault was written with; give this server the keyring "
            "the others use"
        ) from None


def open_vault(
    directory: Path,
    keyring_file: Path | None = None,
    clock: Clock | None = None,
    *,
    database: str | None = None,
) -> Vault:
    """Open (creating on first run) the vault in data directory `directory`, or
    on `database` if given, its keyring beside the databases unless named: for
    tools and tests."""
    directory.mkdir(parents=True, exist_ok=True)
    path = keyring_file or directory / "keyring.json"
    keyring = KeyringSource(load_or_create_keyring(path), path)
    url = database or f"{SQLITE}{directory.absolute()}"
    return vault_over(open_stores(url), keyring, clock)


def close_vault(vault: Vault) -> None:
    vault.records.close()
    vault.keys.store.close()
