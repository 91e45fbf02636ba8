"""The key store on PostgreSQL: wrapped subject, data, job and vault keys.

May live in a database of its own (`--key-database`), so a copy of the
records alone is useless. Every write is one transaction and returns once it
committed (durably, with PostgreSQL's default synchronous_commit). Every
destruction bumps one generation row in the same transaction;
`destruction_generation` reads that row, so a key destroyed through one
process is dropped from every other process's cache at its next lookup.

What `scrub` can and cannot do here. PostgreSQL has no secure_delete: a
deleted row stays in its page as a dead tuple until VACUUM reclaims it, and
`scrub` runs VACUUM on the key tables so that happens at once rather than
whenever autovacuum gets to it. Even then these copies of a destroyed key's
wrapped bytes remain:

- in the table files: the space VACUUM frees is reused by later rows but not
  zeroed, so the old bytes stay on disk until overwritten; and a dead tuple
  that a transaction begun before the destruction could still see (one open
  anywhere in the database, a standby's feedback, a replication slot) is
  reclaimed only by a VACUUM after that transaction ends;
- in the write-ahead log and archived WAL, until the segments are recycled
  and the archive expires; in base backups, until they expire; on replicas,
  in their own files, as on the primary.

Every such copy is wrapped under the KEK (a data key under its subject's key,
which is wrapped under the KEK), and the KEK is never in the database: a copy
of the database, its WAL or a backup alone cannot unwrap them. `scrub` returns
True once VACUUM has run, since nothing a client can do removes the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg

from vault.storage.base import (
    DataKeyScope,
    KekRetired,
    Rewrap,
    RotationLease,
    WrappedDataKey,
    WrappedKey,
)
from vault.storage.postgres.database import Database
from vault.storage.postgres.migrations import key_migrations

_BUMP_GENERATION = "UPDATE shred_generation SET value = value + 1 WHERE id = 1"

# Every table that holds wrapped keys (shred_generation holds none).
_KEY_TABLES = "subject_keys, data_keys, job_keys, vault_keys"


# Subject keys read a page at a time when all are walked (a KEK rotation).
KEY_PAGE = 1000

# A data key's row, by its scope.
_SCOPE = "subject_id = %s AND category = %s AND purpose = %s"


def _scope(scope: DataKeyScope) -> tuple[str, str, str]:
    return (scope.subject_id, scope.category, scope.purpose)


def _above_floor(conn: psycopg.Connection[Any], versions: list[int]) -> None:
    """KekRetired unless every one of `versions` is at or above the floor. The
    floor's row is held FOR SHARE to the commit: a retirement raising it waits
    for this write to commit, and a write after the raise reads the new floor."""
    if not versions:
        return
    row = conn.execute("SELECT version FROM kek_floor WHERE id = 1 FOR SHARE").fetchone()
    assert row is not None  # inserted by its migration, never deleted
    lowest = min(versions)
    if lowest < row[0]:
        raise KekRetired(lowest, row[0])


class _KeyTaken(Exception):
    """A subject of a grouped put has a key already."""


class PostgresKeyStore:
    """The key database: wrapped subject keys, data keys, job keys and vault keys.

    A data key's scope is its (subject, category, purpose) row in `data_keys`.
    """

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        self._database = Database(url, key_migrations, "key database", upgrade=upgrade)

    @property
    def url(self) -> str:
        return self._database.url

    @property
    def migrations_applied(self) -> list[str]:
        return self._database.applied

    # ------------------------------------------------------------ subject keys
    def subject_key(self, subject_id: str) -> WrappedKey | None:
        with self._database.connection() as conn:
            row = conn.execute(
                "SELECT kek_version, wrapped FROM subject_keys WHERE subject_id = %s",
                (subject_id,),
            ).fetchone()
        return WrappedKey(row[0], row[1]) if row else None

    def put_subject_key(self, subject_id: str, kek_version: int, wrapped: bytes) -> None:
        with self._database.transaction() as conn:
            _above_floor(conn, [kek_version])
            conn.execute(
                "INSERT INTO subject_keys (subject_id, kek_version, wrapped) VALUES (%s, %s, %s)",
                (subject_id, kek_version, wrapped),
            )

    def wrapped_subject_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("subject_keys", "subject_id")

    def _walk(self, table: str, column: str) -> Iterator[tuple[str, WrappedKey]]:
        # A page at a time, so memory does not grow with the vault, and each page
        # fetched whole, so no pooled connection is held while the caller re-wraps.
        after = ""
        while True:
            with self._database.connection() as conn:
                rows = conn.execute(
                    f"SELECT {column}, kek_version, wrapped FROM {table} "
                    f"WHERE {column} > %s ORDER BY {column} LIMIT %s",
                    (after, KEY_PAGE),
                ).fetchall()
            for key_for, kek_version, wrapped in rows:
                yield key_for, WrappedKey(kek_version, wrapped)
            if len(rows) < KEY_PAGE:
                return
            after = rows[-1][0]

    def rewrap_subject_key(
        self, subject_id: str, old_version: int, kek_version: int, wrapped: bytes
    ) -> bool:
        return (
            self.rewrap_subject_keys([Rewrap(subject_id, old_version, kek_version, wrapped)]) == 1
        )

    def rewrap_subject_keys(self, rewraps: list[Rewrap]) -> int:
        return self._rewrap("subject_keys", "subject_id", rewraps)

    def _rewrap(self, table: str, column: str, rewraps: list[Rewrap]) -> int:
        if not rewraps:
            return 0
        with self._database.transaction() as conn:
            _above_floor(conn, [r.kek_version for r in rewraps])
            # One statement, the rows as arrays, in key order (the lock order).
            ordered = sorted(rewraps)
            return conn.execute(
                f"UPDATE {table} t SET kek_version = n.kek_version, wrapped = n.wrapped "
                "FROM unnest(%s::text[], %s::integer[], %s::integer[], %s::bytea[]) "
                "AS n(key_for, old_version, kek_version, wrapped) "
                f"WHERE t.{column} = n.key_for AND t.kek_version = n.old_version",
                (
                    [r.key_for for r in ordered],
                    [r.old_version for r in ordered],
                    [r.kek_version for r in ordered],
                    [r.wrapped for r in ordered],
                ),
            ).rowcount

    def destroy_subject(self, subject_id: str) -> int:
        with self._database.transaction() as conn:
            # The subject key's row first, FOR UPDATE: it waits for a data key
            # put holding it FOR SHARE to commit, so the DELETE below (a
            # statement of its own, with a snapshot of its own) counts that
            # key too; deleting the subject key first would take it by the
            # cascade, uncounted.
            conn.execute(
                "SELECT 1 FROM subject_keys WHERE subject_id = %s FOR UPDATE", (subject_id,)
            )
            count = conn.execute(
                "DELETE FROM data_keys WHERE subject_id = %s", (subject_id,)
            ).rowcount
            count += conn.execute(
                "DELETE FROM subject_keys WHERE subject_id = %s", (subject_id,)
            ).rowcount
            conn.execute(_BUMP_GENERATION)
        return count

    # --------------------------------------------------------------- data keys
    def data_key(self, scope: DataKeyScope) -> WrappedDataKey | None:
        with self._database.connection() as conn:
            row = conn.execute(
                f"SELECT key_id, wrapped, legacy_wrap FROM data_keys WHERE {_SCOPE}",
                _scope(scope),
            ).fetchone()
        return WrappedDataKey(*row) if row else None

    def put_data_key(self, scope: DataKeyScope, key: WrappedDataKey) -> WrappedDataKey | None:
        with self._database.transaction() as conn:
            # Held to the commit: the subject's destruction waits for this key
            # to land and then destroys it too, or this put waits for the
            # destruction and finds the subject key gone.
            if (
                conn.execute(
                    "SELECT 1 FROM subject_keys WHERE subject_id = %s FOR SHARE",
                    (scope.subject_id,),
                ).fetchone()
                is None
            ):
                return None
            # A racing put of the same scope waits here for the first to
            # commit, then inserts nothing and reads the first's key back.
            conn.execute(
                "INSERT INTO data_keys "
                "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (subject_id, category, purpose) DO NOTHING",
                (*_scope(scope), key.key_id, key.wrapped, key.legacy),
            )
            row = conn.execute(
                f"SELECT key_id, wrapped, legacy_wrap FROM data_keys WHERE {_SCOPE}",
                _scope(scope),
            ).fetchone()
        assert row is not None  # inserted, or kept by the first writer under our lock
        return WrappedDataKey(*row)

    def data_key_scopes(self, subject_id: str) -> list[DataKeyScope]:
        with self._database.connection() as conn:
            rows = conn.execute(
                "SELECT category, purpose FROM data_keys WHERE subject_id = %s "
                "ORDER BY category, purpose",
                (subject_id,),
            ).fetchall()
        return [DataKeyScope(subject_id, category, purpose) for category, purpose in rows]

    def legacy_data_key_scopes(self, after: DataKeyScope | None, limit: int) -> list[DataKeyScope]:
        start = _scope(after) if after else ("", "", "")
        with self._database.connection() as conn:
            rows = conn.execute(
                "SELECT subject_id, category, purpose FROM data_keys "
                "WHERE legacy_wrap AND (subject_id, category, purpose) > (%s, %s, %s) "
                "ORDER BY subject_id, category, purpose LIMIT %s",
                (*start, limit),
            ).fetchall()
        return [DataKeyScope(*row) for row in rows]

    def readdress_data_key(self, old: DataKeyScope, new: DataKeyScope, key: WrappedDataKey) -> bool:
        with self._database.transaction() as conn:
            # The subject key's row first, FOR SHARE, in the order a destruction
            # takes it; then the old row, locked: a second mover waits here and
            # then finds it gone.
            conn.execute(
                "SELECT 1 FROM subject_keys WHERE subject_id = %s FOR SHARE", (old.subject_id,)
            )
            held = conn.execute(
                f"SELECT 1 FROM data_keys WHERE {_SCOPE} AND key_id = %s AND legacy_wrap "
                "FOR UPDATE",
                (*_scope(old), key.key_id),
            ).fetchone()
            if held is None:
                return False
            if new == old:
                conn.execute(
                    f"UPDATE data_keys SET wrapped = %s, legacy_wrap = %s WHERE {_SCOPE}",
                    (key.wrapped, key.legacy, *_scope(old)),
                )
                return True
            inserted = conn.execute(
                "INSERT INTO data_keys "
                "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (subject_id, category, purpose) DO NOTHING",
                (*_scope(new), key.key_id, key.wrapped, key.legacy),
            ).rowcount
            if inserted != 1:
                return False  # nothing written yet: the transaction ends with no change
            conn.execute(f"DELETE FROM data_keys WHERE {_SCOPE}", _scope(old))
        return True

    def put_keys(
        self,
        subject_keys: Mapping[str, WrappedKey],
        data_keys: Mapping[DataKeyScope, WrappedDataKey],
    ) -> bool:
        strays = {scope.subject_id for scope in data_keys} - subject_keys.keys()
        if strays:
            raise ValueError(f"data keys under no subject key of the call: {sorted(strays)}")
        try:
            with self._database.transaction() as conn:
                _above_floor(conn, [key.kek_version for key in subject_keys.values()])
                # One statement per table, the rows as arrays: one round trip
                # each, whatever the batch's size. The subjects are new, so no
                # destruction can race these rows: none knows their ids yet.
                inserted = conn.execute(
                    "INSERT INTO subject_keys (subject_id, kek_version, wrapped) "
                    "SELECT * FROM unnest(%s::text[], %s::integer[], %s::bytea[]) "
                    "ON CONFLICT (subject_id) DO NOTHING",
                    (
                        list(subject_keys),
                        [key.kek_version for key in subject_keys.values()],
                        [key.wrapped for key in subject_keys.values()],
                    ),
                ).rowcount
                if inserted != len(subject_keys):
                    raise _KeyTaken()  # rolls the transaction back: none of the keys stay
                conn.execute(
                    "INSERT INTO data_keys "
                    "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                    "%s::bytea[], %s::boolean[])",
                    (
                        [scope.subject_id for scope in data_keys],
                        [scope.category for scope in data_keys],
                        [scope.purpose for scope in data_keys],
                        [key.key_id for key in data_keys.values()],
                        [key.wrapped for key in data_keys.values()],
                        [key.legacy for key in data_keys.values()],
                    ),
                )
        except _KeyTaken:
            return False
        return True

    def destroy_data_key(self, scope: DataKeyScope) -> bool:
        with self._database.transaction() as conn:
            deleted = conn.execute(f"DELETE FROM data_keys WHERE {_SCOPE}", _scope(scope)).rowcount
            conn.execute(_BUMP_GENERATION)
        return deleted == 1

    def destroy_data_keys(self, subject_id: str, category: str) -> int:
        with self._database.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM data_keys WHERE subject_id = %s AND category = %s",
                (subject_id, category),
            ).rowcount
            conn.execute(_BUMP_GENERATION)
        return int(deleted)

    # ---------------------------------------------------------------- job keys
    def put_job_key(self, request_id: str, kek_version: int, wrapped: bytes) -> None:
        with self._database.transaction() as conn:
            _above_floor(conn, [kek_version])
            conn.execute(
                "INSERT INTO job_keys (request_id, kek_version, wrapped) VALUES (%s, %s, %s)",
                (request_id, kek_version, wrapped),
            )

    def job_key(self, request_id: str) -> WrappedKey | None:
        with self._database.connection() as conn:
            row = conn.execute(
                "SELECT kek_version, wrapped FROM job_keys WHERE request_id = %s", (request_id,)
            ).fetchone()
        return WrappedKey(row[0], row[1]) if row else None

    def destroy_job_key(self, request_id: str) -> bool:
        with self._database.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM job_keys WHERE request_id = %s", (request_id,)
            ).rowcount
            # A job key is destroyed like any other: caches must not keep it.
            conn.execute(_BUMP_GENERATION)
        return deleted == 1

    def wrapped_job_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("job_keys", "request_id")

    def rewrap_job_keys(self, rewraps: list[Rewrap]) -> int:
        return self._rewrap("job_keys", "request_id", rewraps)

    # -------------------------------------------------------------- vault keys
    def vault_key(self, name: str) -> WrappedKey | None:
        with self._database.connection() as conn:
            row = conn.execute(
                "SELECT kek_version, wrapped FROM vault_keys WHERE name = %s", (name,)
            ).fetchone()
        return WrappedKey(row[0], row[1]) if row else None

    def put_vault_key(self, name: str, kek_version: int, wrapped: bytes) -> WrappedKey:
        with self._database.transaction() as conn:
            _above_floor(conn, [kek_version])
            # A racing put of the same name waits here for the first to commit,
            # then inserts nothing and reads the first's key back.
            conn.execute(
                "INSERT INTO vault_keys (name, kek_version, wrapped) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (name, kek_version, wrapped),
            )
            row = conn.execute(
                "SELECT kek_version, wrapped FROM vault_keys WHERE name = %s", (name,)
            ).fetchone()
        assert row is not None  # inserted, or the first writer's, committed: never deleted
        return WrappedKey(row[0], row[1])

    def wrapped_vault_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("vault_keys", "name")

    def rewrap_vault_keys(self, rewraps: list[Rewrap]) -> int:
        return self._rewrap("vault_keys", "name", rewraps)

    # ------------------------------------------------------- KEK versions
    def kek_versions(self) -> dict[int, int]:
        with self._database.connection() as conn:
            rows = conn.execute(
                "SELECT kek_version, count(*) FROM (SELECT kek_version FROM subject_keys "
                "UNION ALL SELECT kek_version FROM job_keys "
                "UNION ALL SELECT kek_version FROM vault_keys) k GROUP BY kek_version"
            ).fetchall()
        return {int(version): int(count) for version, count in rows}

    def kek_floor(self) -> int:
        with self._database.connection() as conn:
            row = conn.execute("SELECT version FROM kek_floor WHERE id = 1").fetchone()
        assert row is not None
        return int(row[0])

    def newest_kek_version(self) -> int | None:
        with self._database.connection() as conn:
            row = conn.execute("SELECT max(kek_version) FROM subject_keys").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def raise_kek_floor(self, kek_version: int) -> int:
        with self._database.transaction() as conn:
            # Waits for every put holding the row FOR SHARE to commit.
            row = conn.execute(
                "UPDATE kek_floor SET version = greatest(version, %s) WHERE id = 1 "
                "RETURNING version",
                (kek_version,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def claim_rotation(self, owner: str, now: dt.datetime, until: dt.datetime) -> RotationLease:
        with self._database.transaction() as conn:
            conn.execute(
                "INSERT INTO kek_rotation (id, owner, until) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE kek_rotation.owner = excluded.owner OR kek_rotation.until <= %s",
                (owner, until, now),
            )
            row = conn.execute("SELECT owner, until FROM kek_rotation WHERE id = 1").fetchone()
        assert row is not None
        return RotationLease(row[0], row[1])

    def release_rotation(self, owner: str) -> None:
        with self._database.transaction() as conn:
            conn.execute("DELETE FROM kek_rotation WHERE id = 1 AND owner = %s", (owner,))

    # ------------------------------------------------------------- destruction
    def destruction_generation(self) -> int:
        # Read from the database on every call, never cached here: a key
        # destroyed through one process must be unusable through every other
        # at once ("a destroyed key unusable from every process at once"), and
        # any cache of this number would leave a window in which a cached key
        # still answers. It is one SELECT by primary key on a pooled connection.
        with self._database.connection() as conn:
            row = conn.execute("SELECT value FROM shred_generation WHERE id = 1").fetchone()
        assert row is not None  # inserted by the first migration, never deleted
        return int(row[0])

    def scrub(self) -> bool:
        # Unlike the SQLite store's, the destroy methods do not call this: the
        # core wakes the maintenance pass after an erasure of a subject, a
        # category or a job, and that pass calls it moments later on its own
        # thread, once for every destruction since. Called per destruction it
        # would queue erasures behind each other, since VACUUMs of one table
        # run one at a time across every process. Measured with 1M subject
        # keys and 3M data keys: one destroy and VACUUM alone took 2 ms, but
        # 400 destroys from 8 threads on 4 stores took 10.9 s with a VACUUM
        # each (218 ms a call, median) against 0.5 s without (8 ms). And a
        # VACUUM failing after the commit would make a done destruction raise.
        #
        # VACUUM cannot run inside a transaction: the pooled connections are in
        # autocommit mode. What it leaves behind is in the module docstring.
        with self._database.connection() as conn:
            conn.execute(f"VACUUM {_KEY_TABLES}")
        return True

    def close(self) -> None:
        self._database.close()
