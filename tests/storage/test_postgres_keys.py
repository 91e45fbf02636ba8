"""The PostgreSQL backend keeps the key store's contract, refuses a schema it
does not fit, says in one line when the database cannot be reached, and
reclaims destroyed keys' rows when scrubbed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from tests import postgres
from tests.storage.keys_contract import KeyStoreContract, OpenOther, notes
from tests.storage.racing import BOUND_SECONDS
from vault.storage.base import WrappedDataKey, WrappedKey
from vault.storage.postgres import PostgresKeyStore
from vault.storage.postgres import keys as postgres_keys
from vault.storage.postgres.database import DatabaseUnavailable, Migration, MigrationSet
from vault.storage.postgres.migrations import key_migrations
from vault.storage.schema import SchemaAhead, SchemaBehind


@pytest.fixture
def store() -> Iterator[PostgresKeyStore]:
    with postgres.fresh_schema() as url:
        store = PostgresKeyStore(url)
        yield store
        store.close()


@pytest.fixture
def open_other(store: PostgresKeyStore) -> Iterator[OpenOther]:
    opened: list[PostgresKeyStore] = []

    def open_other() -> PostgresKeyStore:
        opened.append(PostgresKeyStore(store.url))
        return opened[-1]

    yield open_other
    for other in opened:
        other.close()


class TestPostgresKeyStore(KeyStoreContract):
    pass


def test_closing_twice_is_harmless(store: PostgresKeyStore) -> None:
    store.close()
    store.close()


def test_a_new_database_gets_every_migration_and_a_second_opening_applies_nothing(
    store: PostgresKeyStore,
) -> None:
    assert store.migrations_applied == key_migrations.names
    for upgrade in (False, True):
        again = PostgresKeyStore(store.url, upgrade=upgrade)
        try:
            assert again.migrations_applied == []
        finally:
            again.close()


def test_a_database_migrated_by_a_newer_version_is_refused_as_ahead(
    store: PostgresKeyStore,
) -> None:
    store.put_subject_key("s1", 1, b"wrapped")
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (migration_set, name) VALUES (%s, %s)",
            (key_migrations.name, "0002_from_a_newer_release"),
        )
    for upgrade in (False, True):  # not even `consent-vault migrate` opens it
        with pytest.raises(SchemaAhead, match=r"0002_from_a_newer_release unknown here"):
            PostgresKeyStore(store.url, upgrade=upgrade)
    assert store.subject_key("s1") == WrappedKey(1, b"wrapped")


def test_a_database_behind_is_refused_naming_the_command_and_upgraded_with_its_keys(
    store: PostgresKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Behind" is this database as the next release, with one more migration,
    # finds it.
    store.put_subject_key("s1", 1, b"wrapped")
    store.put_data_key(notes(), WrappedDataKey("k1", b"data"))
    store.put_job_key("r1", 1, b"job")
    store.destroy_job_key("r1")
    generation = store.destruction_generation()
    next_release = MigrationSet(
        key_migrations.name,
        (
            *key_migrations.migrations,
            Migration("0002_next_release", ("CREATE TABLE next_release (id INTEGER)",)),
        ),
    )
    monkeypatch.setattr(postgres_keys, "key_migrations", next_release)

    with pytest.raises(SchemaBehind, match=r"0002_next_release\); run: consent-vault migrate"):
        PostgresKeyStore(store.url)  # a database that is behind is never upgraded in passing
    upgraded = PostgresKeyStore(store.url, upgrade=True)  # what `consent-vault migrate` does
    assert upgraded.migrations_applied == ["0002_next_release"]
    upgraded.close()
    again = PostgresKeyStore(store.url, upgrade=True)
    try:
        assert again.migrations_applied == []
        assert again.subject_key("s1") == WrappedKey(1, b"wrapped")
        assert again.data_key(notes()) == WrappedDataKey("k1", b"data")
        assert again.job_key("r1") is None
        assert again.destruction_generation() == generation
    finally:
        again.close()


def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    # Needs no PostgreSQL: nothing listens on port 1.
    with pytest.raises(DatabaseUnavailable) as refused:
        PostgresKeyStore("postgresql://vault:s3cret-word@127.0.0.1:1/keys")
    message = str(refused.value)
    assert "\n" not in message
    assert "s3cret-word" not in message
    assert message.startswith(
        "cannot reach the key database at postgresql://vault:***@127.0.0.1:1/"
    )
    # Nor is the driver's error chained on, where a traceback would show it.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def heap_pages(url: str) -> dict[str, int]:
    """How many pages each key table's file has."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            table: conn.execute(
                "SELECT pg_relation_size(%s) / current_setting('block_size')::int", (table,)
            ).fetchone()[0]  # type: ignore[index]
            for table in ("subject_keys", "data_keys", "job_keys")
        }


def test_scrub_reclaims_destroyed_keys_rows_once_no_older_snapshot_can_see_them(
    store: PostgresKeyStore,
) -> None:
    store.put_subject_key("s1", 1, b"subject")
    store.put_data_key(notes(), WrappedDataKey("k1", b"data"))
    store.put_job_key("r1", 1, b"job")
    with psycopg.connect(store.url) as older:
        older.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        older.execute("SELECT count(*) FROM subject_keys").fetchone()  # its snapshot
        store.destroy_subject("s1")
        store.destroy_job_key("r1")
        assert store.scrub() is True
        # What the module says: a transaction begun before the destruction
        # still sees the rows, so VACUUM must keep them for now.
        assert older.execute("SELECT wrapped FROM subject_keys").fetchall() == [(b"subject",)]
        assert heap_pages(store.url) == {"subject_keys": 1, "data_keys": 1, "job_keys": 1}
        older.rollback()
    # Once it ended, a scrub reclaims them; a transaction elsewhere in the
    # database (another test's) may hold them a moment longer.
    give_up = time.monotonic() + BOUND_SECONDS
    while True:
        assert store.scrub() is True
        if heap_pages(store.url) == {"subject_keys": 0, "data_keys": 0, "job_keys": 0}:
            break
        assert time.monotonic() < give_up, heap_pages(store.url)
        time.sleep(0.1)


def test_every_subject_key_is_walked_a_page_at_a_time(
    store: PostgresKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_keys, "KEY_PAGE", 2)
    for n in range(5):
        store.put_subject_key(f"s{n}", 1, bytes([n]))
    assert [(s, w.wrapped) for s, w in store.wrapped_subject_keys()] == [
        (f"s{n}", bytes([n])) for n in range(5)
    ]
