"""A record database in the format before roles were sealed and request ids
hashed (SQLite 0011_sealed_roles_hashed_requests, PostgreSQL
0004_sealed_roles_hashed_requests), opened by this release: its roles are
sealed, its request ids hashed and dated, everything stays readable, a retry of
an earlier request still answers the same, and after the scrub neither a role
nor a request id is left in the files or rows; on both engines, the upgrade
finished after a crash part-way and run by two processes at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlite_utils import Database as SQLiteDatabase

from tests.conftest import START
from tests.postgres import fresh_schema
from tests.residue import found, places
from vault import bootstrap, purposes_file
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.identities import Identity, IdentityKind, canonical_identity
from vault.core.keys import KeyManager
from vault.core.sealing import Sealing
from vault.core.upgrades import sealed_roles
from vault.core.vault import IdentityInput, Vault
from vault.keyring import Keyring, KeyringSource, write_keyring
from vault.storage.base import KeyStore
from vault.storage.postgres import PostgresKeyStore
from vault.storage.postgres import migrations as postgres_migrations
from vault.storage.postgres.database import Database, MigrationSet
from vault.storage.sqlite import SQLiteKeyStore
from vault.storage.sqlite import migrations as sqlite_migrations

ROLE = "model_xyz_marker"
CREATE_ID = "create-anna-marker"
ERASE_ID = "erase-anna-marker"
STAMP = "2026-11-24T08:00:00.000000+00:00"
PEOPLE = 30  # with roles; one more without, and one erased


@dataclass
class Legacy:
    """A vault as the earlier release left it: where it is, and who is in it."""

    data_dir: Path
    database: str | None
    anna: str
    roleless: str
    erased: str
    others: list[str]

    def open(self, clock: FixedClock) -> Vault:
        url = self.database or f"sqlite:///{self.data_dir}"
        bootstrap.migrate(url)  # as `consent-vault migrate` would, once
        return bootstrap.open_vault(self.data_dir, clock=clock, database=self.database)

    def raw(self) -> Vault:
        """A vault over the stores, not yet upgraded (a process about to run it)."""
        url = self.database or f"sqlite:///{self.data_dir}"
        stores = bootstrap.open_stores(url)
        path = self.data_dir / "keyring.json"
        keyring = KeyringSource(Keyring.from_json(path.read_text(), str(path)), path)
        return Vault(
            stores.records, stores.keys, keyring, FixedClock(START), purposes=purposes_file.school()
        )


def _fingerprint(ring: Keyring, *parts: Any) -> str:
    # What the earlier release's Replay.fingerprint stored.
    text = json.dumps(parts, sort_keys=True, default=str)
    return hmac.new(ring.index_key, text.encode(), hashlib.sha256).hexdigest()


def _identity(value: str) -> Identity:
    return canonical_identity(IdentityKind.EMAIL, value, "", today=START.date(), field="identity")


def _fill(
    data_dir: Path,
    database: str | None,
    execute: Callable[[str, tuple[Any, ...]], object],
    key_store: KeyStore,
    clear_roles: Callable[[tuple[str, ...]], object],
) -> Legacy:
    """The people and requests, keyed and sealed as the earlier release did."""
    ring = Keyring.generate()
    write_keyring(data_dir / "keyring.json", ring)
    keys = KeyManager(key_store, ring)
    sealing = Sealing(keys, KeyringSource.of(ring))
    ids = {name: f"{name:0>32}"[-32:] for name in ("anna", "roleless", "erased")}
    others = [f"{n:032x}" for n in range(PEOPLE - 1)]
    people = [
        (ids["anna"], "anna@example.se", (ROLE, "student"), "active"),
        (ids["roleless"], "roleless@example.se", (), "active"),
        (ids["erased"], "", (), "erased"),
        *((sid, f"p{n}@example.se", ("student",), "active") for n, sid in enumerate(others)),
    ]
    for subject_id, email, roles, state in people:
        execute(
            "INSERT INTO subjects (subject_id, state, roles, protected_identity, created_at, "
            "updated_at) VALUES (%s, %s, %s, false, %s, %s)",
            (subject_id, state, clear_roles(roles), STAMP, STAMP),
        )
        if state == "erased":
            continue
        keys.create_subject_key(subject_id)
        row = sealing.identity_row(subject_id, _identity(email))
        execute(
            "INSERT INTO identities (blind_index, subject_id, kind, sealed_value) "
            "VALUES (%s, %s, %s, %s)",
            (row.blind_index, subject_id, row.kind.value, row.sealed_value),
        )
    requests = [
        (
            CREATE_ID,
            "create_subject",
            _fingerprint(ring, [_identity("anna@example.se").index_text], [ROLE, "student"], False),
            ids["anna"],
            ids["anna"],
        ),
        (
            ERASE_ID,
            "erase_subject",
            _fingerprint(ring, "erase", ids["erased"]),
            ids["erased"],
            "{}",
        ),
        *((f"update-{n}", "update_subject", "f", sid, sid) for n, sid in enumerate(others)),
    ]
    for request in requests:
        execute(
            "INSERT INTO requests (request_id, operation, fingerprint, subject_id, result) "
            "VALUES (%s, %s, %s, %s, %s)",
            request,
        )
    key_store.close()
    return Legacy(data_dir, database, ids["anna"], ids["roleless"], ids["erased"], others)


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Legacy]:
    data_dir.mkdir(parents=True)
    if request.param == "sqlite":
        conn = sqlite3.connect(data_dir / "records.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        sqlite_migrations.record_migrations.apply(
            SQLiteDatabase(conn), stop_before="0011_sealed_roles_hashed_requests"
        )
        filled = _fill(
            data_dir,
            None,
            lambda sql, args: conn.execute(sql.replace("%s", "?"), args),
            SQLiteKeyStore(data_dir / "keys.db", upgrade=True),
            lambda roles: json.dumps(list(roles)),
        )
        conn.close()
        yield filled
        return
    migrations = postgres_migrations.record_migrations
    with fresh_schema() as url:
        earlier = tuple(m for m in migrations.migrations if m.name < "0004")
        Database(url, MigrationSet(migrations.name, earlier), "record database").close()
        with psycopg.connect(url, autocommit=True) as pg:
            filled = _fill(
                data_dir,
                url,
                lambda sql, args: pg.execute(sql, args),
                PostgresKeyStore(url, upgrade=True),
                lambda roles: list(roles),
            )
        yield filled


def test_roles_are_sealed_ids_hashed_and_both_gone_from_the_files(
    legacy: Legacy, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert found(places(legacy.data_dir, legacy.database, ""), [ROLE, CREATE_ID, ERASE_ID])
    vault = legacy.open(clock)
    try:
        assert vault.get_subject(LOCAL, legacy.anna).roles == (ROLE, "student")
        assert vault.get_subject(LOCAL, legacy.roleless).roles == ()
        assert {vault.get_subject(LOCAL, sid).roles for sid in legacy.others} == {("student",)}
        assert vault.records.subjects.subjects_with_clear_roles(10) == []
        assert vault.records.replay.requests_in_clear(10) == []
        erased = vault.records.subjects.subject(legacy.erased)
        assert erased is not None and erased.sealed_roles is None
        # The ids are hashed under the current version and dated at the upgrade.
        remembered = vault.replay.lookup(CREATE_ID)
        assert remembered is not None and remembered.key_version == 1
        assert remembered.remembered_at == clock.now()
        # A retry of a request made before the upgrade answers as the first did.
        retried = vault.create_subject(
            LOCAL,
            [IdentityInput(IdentityKind.EMAIL, "anna@example.se")],
            [ROLE, "student"],
            request_id=CREATE_ID,
        )
        assert retried.subject_id == legacy.anna
        assert vault.replay.lookup(ERASE_ID) is not None
        # Upgraded once: nothing is left to do.
        assert vault.upgrade() == {}
        vault.maintain()
        left = found(
            places(legacy.data_dir, legacy.database, caplog.text), [ROLE, CREATE_ID, ERASE_ID]
        )
        assert left == []
    finally:
        bootstrap.close_vault(vault)


def test_an_upgrade_cut_short_is_finished_by_the_next_opening(
    legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap.migrate(legacy.database or f"sqlite:///{legacy.data_dir}")
    first = legacy.raw()
    monkeypatch.setattr(sealed_roles, "BATCH", 10)
    sealed = 0
    real = first.sealing.seal_roles

    def crashing(subject_id: str, roles: tuple[str, ...]) -> bytes:
        nonlocal sealed
        sealed += 1
        if sealed > 15:
            raise RuntimeError("killed")
        return real(subject_id, roles)

    monkeypatch.setattr(first.sealing, "seal_roles", crashing)
    with pytest.raises(RuntimeError):
        first.upgrade()
    bootstrap.close_vault(first)
    second = legacy.raw()
    try:
        done = second.upgrade()
        # The first batch of 10 stayed; the second did the rest, and every request id.
        assert done == {"sealed_roles": PEOPLE - 10, "hashed_requests": PEOPLE + 1}
        assert second.get_subject(LOCAL, legacy.anna).roles == (ROLE, "student")
        assert {second.get_subject(LOCAL, s).roles for s in legacy.others} == {("student",)}
    finally:
        bootstrap.close_vault(second)


def test_two_processes_upgrading_at_once_change_each_row_once(
    legacy: Legacy, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap.migrate(legacy.database or f"sqlite:///{legacy.data_dir}")
    monkeypatch.setattr(sealed_roles, "BATCH", 4)
    vaults = [legacy.raw(), legacy.raw()]
    results: list[dict[str, int]] = []
    start = threading.Barrier(2)

    def upgrade(vault: Vault) -> None:
        start.wait()
        results.append(vault.upgrade())

    threads = [threading.Thread(target=upgrade, args=(v,)) for v in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(results) == 2
        assert sum(r.get("sealed_roles", 0) for r in results) == PEOPLE
        assert sum(r.get("hashed_requests", 0) for r in results) == PEOPLE + 1
        for vault in vaults:
            assert vault.get_subject(LOCAL, legacy.anna).roles == (ROLE, "student")
            assert {vault.get_subject(LOCAL, s).roles for s in legacy.others} == {("student",)}
    finally:
        for vault in vaults:
            bootstrap.close_vault(vault)
