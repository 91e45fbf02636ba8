"""PostgreSQL plumbing shared by its stores: a connection pool, transactions,
the write lock, and versioned migrations.

Connections come from a `psycopg_pool.ConnectionPool` in autocommit mode: a
read is one statement on a pooled connection, a write is an explicit
transaction (`BEGIN` ... `COMMIT`, rolled back on any exception). Isolation is
PostgreSQL's default, READ COMMITTED; where a store must not lose an update it
says which lock it takes: a row lock (`FOR UPDATE`, `FOR SHARE`), or the
database-wide write lock below for the record store's unit of work.

A URL may carry libpq's `options`, so a vault can live in a schema of its own
(`?options=-csearch_path%3Dvault`); every lock name includes the database and
schema, so two vaults on one server never wait for each other.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool

from vault.storage import schema

log = logging.getLogger("vault.storage")

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the connection; one line, no password."""


def is_postgres(url: str) -> bool:
    return url.startswith(SCHEMES)


# Where a libpq connection string can carry a secret: after `user:` in a URL's
# authority (one host or several), and as a `password` or `sslpassword`
# parameter, in a URL's query or in the key=value form.
_SECRETS = (
    (re.compile(r"(://[^/?#@:]*:)[^/@]*@"), r"\1***@"),
    (
        re.compile(r"((?:^|[?&\s])(?:ssl)?password\s*=\s*)('[^']*'|[^&\s]*)", re.IGNORECASE),
        r"\1***",
    ),
)


def redacted(url: str) -> str:
    """The URL (or any libpq connection string) as it may be shown or logged:
    every password replaced by ***. Text, not a parse, so that no malformed
    URL can make it fail."""
    for pattern, replacement in _SECRETS:
        url = pattern.sub(replacement, url)
    return url


@dataclass(frozen=True)
class Migration:
    """One step of a schema: its name (released names never change) and its statements."""

    name: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class MigrationSet:
    """A database's migrations, append-only, applied in order under one name."""

    name: str
    migrations: tuple[Migration, ...]

    @property
    def names(self) -> list[str]:
        return [migration.name for migration in self.migrations]


_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    migration_set TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_set, name))"""


class Database:
    """One PostgreSQL database (or schema of one) through a pool of connections.

    Opening it checks the schema (vault.storage.schema): a new database gets
    every migration, one that is behind is refused unless `upgrade` is set.
    """

    def __init__(
        self,
        url: str,
        migrations: MigrationSet,
        description: str,
        *,
        upgrade: bool = False,
        max_connections: int = 10,
    ) -> None:
        self.url = url
        self.description = description
        self.place = "its schema"  # database.schema, once connected
        self._check_reachable()
        self.pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            open=False,
            name=description,
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
            with self.pool.connection() as conn:
                row = conn.execute("SELECT current_database(), current_schema()").fetchone()
            assert row is not None
            if row[1] is None:
                raise DatabaseUnavailable(
                    f"the {description} at {redacted(url)}: no schema of its search_path "
                    "exists, or the role may not use it; create it (CREATE SCHEMA name) "
                    "or grant USAGE on it"
                )
            self.place = f"{row[0]}.{row[1]}"
            self.applied = self._migrate(migrations, upgrade)
        except psycopg.Error as error:
            # The schema could not be read or written (tables of another
            # program's in the way, no rights): one line, and what to check.
            self.pool.close()
            raise DatabaseUnavailable(
                f"cannot set up the {description} in {self.place} at {redacted(url)}: "
                f"{_one_line(error)}"
            ) from None
        except psycopg_pool.PoolTimeout:
            self.pool.close()
            raise DatabaseUnavailable(
                f"cannot reach the {description} at {redacted(url)}: timed out"
            ) from None
        except BaseException:
            self.pool.close()
            raise

    def _check_reachable(self) -> None:
        """One connection first, so an unreachable database or a refused login is
        one clear line rather than a pool retrying in the background."""
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.Error as error:
            raise DatabaseUnavailable(
                f"cannot reach the {self.description} at {redacted(self.url)}: {_one_line(error)}"
            ) from None

    def lock_id(self, name: str) -> int:
        """A 64-bit advisory lock number for `name` in this database and schema."""
        digest = hashlib.blake2b(f"consent-vault:{self.place}:{name}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big", signed=True)

    # ------------------------------------------------------------ connections
    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit mode, for reads."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection, committed on leaving, rolled back
        on any exception; with `lock`, that advisory lock is held from its first
        statement to its end (`pg_advisory_xact_lock`)."""
        with self.pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield conn

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------- migrations
    def _migrate(self, migrations: MigrationSet, upgrade: bool) -> list[str]:
        """Apply what `schema.to_apply` decides, all in one transaction with their
        records (PostgreSQL's DDL is transactional: an upgrade lands whole or not
        at all), under a lock so that two processes starting at once apply each
        step once."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_id("migrations"),))
            # Looked up rather than created, so a role without CREATE rights can
            # serve a database `migrate` (run by its owner) brought up to date.
            known = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            applied = []
            if known is not None and known[0] is not None:
                applied = [
                    name
                    for (name,) in conn.execute(
                        "SELECT name FROM schema_migrations WHERE migration_set = %s "
                        "ORDER BY applied_at, name",
                        (migrations.name,),
                    )
                ]
            pending = schema.to_apply(
                f"{self.description} ({redacted(self.url)})",
                applied,
                migrations.names,
                upgrade=upgrade,
                command=f"{schema.MIGRATE_COMMAND} with the server's --database and --key-database",
            )
            if pending:
                conn.execute(_MIGRATIONS_TABLE)
            for migration in migrations.migrations:
                if migration.name in pending:
                    for statement in migration.statements:
                        conn.execute(statement.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (migration_set, name) VALUES (%s, %s)",
                        (migrations.name, migration.name),
                    )
                    log.info(
                        "applied migration %s/%s in %s", migrations.name, migration.name, self.place
                    )
        return pending


def _one_line(error: Exception) -> str:
    """libpq's message, its lines joined as sentences, never with a password."""
    lines = [line.strip().rstrip(".") for line in str(error).splitlines() if line.strip()]
    return redacted("; ".join(lines))
