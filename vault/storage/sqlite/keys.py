"""The key store on SQLite: wrapped subject, data, job and vault keys, in a database of their own.

Kept apart from the records so a copy of the records alone is useless. It
shares the record store's plumbing (a connection per thread, one group-commit
writer per process) and its settings: `secure_delete` zeroes destroyed keys in
the database file, and `scrub` cuts them out of the WAL.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from vault.storage.base import (
    DataKeyScope,
    KekRetired,
    Rewrap,
    RotationLease,
    WrappedDataKey,
    WrappedKey,
)
from vault.storage.sqlite.connections import Connections
from vault.storage.sqlite.migrations import key_migrations
from vault.storage.sqlite.moments import as_text
from vault.storage.sqlite.writer import GroupCommitWriter

_BUMP_GENERATION = "UPDATE shred_generation SET value = value + 1 WHERE id = 1"


def _above_floor(conn: sqlite3.Connection, versions: list[int]) -> None:
    """KekRetired unless every one of `versions` is at or above the floor, read
    in the write's own transaction: no retirement can raise it in between."""
    if not versions:
        return
    floor = conn.execute("SELECT version FROM kek_floor WHERE id = 1").fetchone()[0]
    lowest = min(versions)
    if lowest < floor:
        raise KekRetired(lowest, floor)


# Subject keys read a page at a time when all are walked (a KEK rotation).
KEY_PAGE = 1000

# A data key's row, by its scope.
_SCOPE = "subject_id = ? AND category = ? AND purpose = ?"


def _scope(scope: DataKeyScope) -> tuple[str, str, str]:
    return (scope.subject_id, scope.category, scope.purpose)


def _wrapped(row: tuple[str, bytes, int]) -> WrappedDataKey:
    return WrappedDataKey(row[0], bytes(row[1]), bool(row[2]))


class SQLiteKeyStore:
    """The key database: wrapped subject keys, data keys, job keys and vault keys.

    A data key's scope is its (subject, category, purpose) row in `data_keys`.
    """

    def __init__(self, path: Path, *, upgrade: bool = False) -> None:
        self._connections = Connections(path, key_migrations, "key database", upgrade=upgrade)
        self._writer = GroupCommitWriter(self._connections)
        self._seen = threading.local()

    @property
    def path(self) -> Path:
        return self._connections.path

    @property
    def migrations_applied(self) -> list[str]:
        return self._connections.applied

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    # ------------------------------------------------------------ subject keys
    def subject_key(self, subject_id: str) -> WrappedKey | None:
        row = (
            self._conn()
            .execute(
                "SELECT kek_version, wrapped FROM subject_keys WHERE subject_id = ?", (subject_id,)
            )
            .fetchone()
        )
        return WrappedKey(row[0], bytes(row[1])) if row else None

    def put_subject_key(self, subject_id: str, kek_version: int, wrapped: bytes) -> None:
        with self._writer.write() as conn:
            _above_floor(conn, [kek_version])
            conn.execute(
                "INSERT INTO subject_keys (subject_id, kek_version, wrapped) VALUES (?, ?, ?)",
                (subject_id, kek_version, wrapped),
            )

    def wrapped_subject_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("subject_keys", "subject_id")

    def _walk(self, table: str, column: str) -> Iterator[tuple[str, WrappedKey]]:
        # A page at a time, so memory does not grow with the vault; no read
        # transaction stays open while the caller re-wraps.
        after = ""
        while True:
            rows = (
                self._conn()
                .execute(
                    f"SELECT {column}, kek_version, wrapped FROM {table} "
                    f"WHERE {column} > ? ORDER BY {column} LIMIT ?",
                    (after, KEY_PAGE),
                )
                .fetchall()
            )
            for key_for, kek_version, wrapped in rows:
                yield key_for, WrappedKey(kek_version, bytes(wrapped))
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
        with self._writer.write() as conn:
            _above_floor(conn, [r.kek_version for r in rewraps])
            return sum(
                conn.execute(
                    f"UPDATE {table} SET kek_version = ?, wrapped = ? "
                    f"WHERE {column} = ? AND kek_version = ?",
                    (r.kek_version, r.wrapped, r.key_for, r.old_version),
                ).rowcount
                for r in rewraps
            )

    def destroy_subject(self, subject_id: str) -> int:
        with self._writer.write() as conn:
            count = conn.execute(
                "DELETE FROM data_keys WHERE subject_id = ?", (subject_id,)
            ).rowcount
            count += conn.execute(
                "DELETE FROM subject_keys WHERE subject_id = ?", (subject_id,)
            ).rowcount
            conn.execute(_BUMP_GENERATION)
        # At once rather than at the next maintenance pass: the key's bytes
        # should not wait in the WAL.
        self.scrub()
        return count

    # --------------------------------------------------------------- data keys
    def data_key(self, scope: DataKeyScope) -> WrappedDataKey | None:
        row = (
            self._conn()
            .execute(
                f"SELECT key_id, wrapped, legacy_wrap FROM data_keys WHERE {_SCOPE}",
                _scope(scope),
            )
            .fetchone()
        )
        return _wrapped(row) if row else None

    def put_data_key(self, scope: DataKeyScope, key: WrappedDataKey) -> WrappedDataKey | None:
        with self._writer.write() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM subject_keys WHERE subject_id = ?", (scope.subject_id,)
                ).fetchone()
                is None
            ):
                return None
            conn.execute(
                "INSERT OR IGNORE INTO data_keys "
                "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*_scope(scope), key.key_id, key.wrapped, key.legacy),
            )
            row = conn.execute(
                f"SELECT key_id, wrapped, legacy_wrap FROM data_keys WHERE {_SCOPE}",
                _scope(scope),
            ).fetchone()
        return _wrapped(row)

    def data_key_scopes(self, subject_id: str) -> list[DataKeyScope]:
        rows = self._conn().execute(
            "SELECT category, purpose FROM data_keys WHERE subject_id = ? "
            "ORDER BY category, purpose",
            (subject_id,),
        )
        return [DataKeyScope(subject_id, category, purpose) for category, purpose in rows]

    def legacy_data_key_scopes(self, after: DataKeyScope | None, limit: int) -> list[DataKeyScope]:
        # `legacy_wrap = 1` as the partial index says it, so the index answers.
        start = _scope(after) if after else ("", "", "")
        rows = self._conn().execute(
            "SELECT subject_id, category, purpose FROM data_keys INDEXED BY data_keys_legacy "
            "WHERE legacy_wrap = 1 AND (subject_id, category, purpose) > (?, ?, ?) "
            "ORDER BY subject_id, category, purpose LIMIT ?",
            (*start, limit),
        )
        return [DataKeyScope(*row) for row in rows]

    def readdress_data_key(self, old: DataKeyScope, new: DataKeyScope, key: WrappedDataKey) -> bool:
        with self._writer.write() as conn:
            # Under the write lock: nothing can come between these reads and writes.
            held = conn.execute(
                f"SELECT 1 FROM data_keys WHERE {_SCOPE} AND key_id = ? AND legacy_wrap = 1",
                (*_scope(old), key.key_id),
            ).fetchone()
            if held is None:
                return False
            if new != old:
                taken = conn.execute(
                    f"SELECT 1 FROM data_keys WHERE {_SCOPE}", _scope(new)
                ).fetchone()
                if taken is not None:
                    return False
            conn.execute(f"DELETE FROM data_keys WHERE {_SCOPE}", _scope(old))
            conn.execute(
                "INSERT INTO data_keys "
                "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*_scope(new), key.key_id, key.wrapped, key.legacy),
            )
        return True

    def put_keys(
        self,
        subject_keys: Mapping[str, WrappedKey],
        data_keys: Mapping[DataKeyScope, WrappedDataKey],
    ) -> bool:
        strays = {scope.subject_id for scope in data_keys} - subject_keys.keys()
        if strays:
            raise ValueError(f"data keys under no subject key of the call: {sorted(strays)}")
        with self._writer.write() as conn:
            # Looked for under the write lock, so no put can come in between;
            # nothing is written unless every subject is new, so a refusal has
            # nothing to undo.
            taken = conn.execute(
                "SELECT 1 FROM subject_keys WHERE subject_id IN (SELECT value FROM json_each(?)) "
                "LIMIT 1",
                (json.dumps(list(subject_keys)),),
            ).fetchone()
            if taken is not None:
                return False
            _above_floor(conn, [key.kek_version for key in subject_keys.values()])
            conn.executemany(
                "INSERT INTO subject_keys (subject_id, kek_version, wrapped) VALUES (?, ?, ?)",
                [
                    (subject_id, key.kek_version, key.wrapped)
                    for subject_id, key in subject_keys.items()
                ],
            )
            conn.executemany(
                "INSERT INTO data_keys "
                "(subject_id, category, purpose, key_id, wrapped, legacy_wrap) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (*_scope(scope), key.key_id, key.wrapped, key.legacy)
                    for scope, key in data_keys.items()
                ],
            )
        return True

    def destroy_data_key(self, scope: DataKeyScope) -> bool:
        with self._writer.write() as conn:
            deleted = conn.execute(f"DELETE FROM data_keys WHERE {_SCOPE}", _scope(scope)).rowcount
            conn.execute(_BUMP_GENERATION)
        self.scrub()
        return deleted == 1

    def destroy_data_keys(self, subject_id: str, category: str) -> int:
        with self._writer.write() as conn:
            deleted = conn.execute(
                "DELETE FROM data_keys WHERE subject_id = ? AND category = ?",
                (subject_id, category),
            ).rowcount
            conn.execute(_BUMP_GENERATION)
        self.scrub()
        return int(deleted)

    # ---------------------------------------------------------------- job keys
    def put_job_key(self, request_id: str, kek_version: int, wrapped: bytes) -> None:
        with self._writer.write() as conn:
            _above_floor(conn, [kek_version])
            conn.execute(
                "INSERT INTO job_keys (request_id, kek_version, wrapped) VALUES (?, ?, ?)",
                (request_id, kek_version, wrapped),
            )

    def job_key(self, request_id: str) -> WrappedKey | None:
        row = (
            self._conn()
            .execute(
                "SELECT kek_version, wrapped FROM job_keys WHERE request_id = ?", (request_id,)
            )
            .fetchone()
        )
        return WrappedKey(row[0], bytes(row[1])) if row else None

    def destroy_job_key(self, request_id: str) -> bool:
        with self._writer.write() as conn:
            deleted = conn.execute(
                "DELETE FROM job_keys WHERE request_id = ?", (request_id,)
            ).rowcount
            # A job key is destroyed like any other: caches must not keep it.
            conn.execute(_BUMP_GENERATION)
        self.scrub()
        return deleted == 1

    def wrapped_job_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("job_keys", "request_id")

    def rewrap_job_keys(self, rewraps: list[Rewrap]) -> int:
        return self._rewrap("job_keys", "request_id", rewraps)

    # -------------------------------------------------------------- vault keys
    def vault_key(self, name: str) -> WrappedKey | None:
        row = (
            self._conn()
            .execute("SELECT kek_version, wrapped FROM vault_keys WHERE name = ?", (name,))
            .fetchone()
        )
        return WrappedKey(row[0], bytes(row[1])) if row else None

    def put_vault_key(self, name: str, kek_version: int, wrapped: bytes) -> WrappedKey:
        with self._writer.write() as conn:
            # Under the write lock: of two processes making the key, the second
            # inserts nothing and reads the first's back.
            _above_floor(conn, [kek_version])
            conn.execute(
                "INSERT OR IGNORE INTO vault_keys (name, kek_version, wrapped) VALUES (?, ?, ?)",
                (name, kek_version, wrapped),
            )
            row = conn.execute(
                "SELECT kek_version, wrapped FROM vault_keys WHERE name = ?", (name,)
            ).fetchone()
        return WrappedKey(row[0], bytes(row[1]))

    def wrapped_vault_keys(self) -> Iterator[tuple[str, WrappedKey]]:
        return self._walk("vault_keys", "name")

    def rewrap_vault_keys(self, rewraps: list[Rewrap]) -> int:
        return self._rewrap("vault_keys", "name", rewraps)

    # ------------------------------------------------------- KEK versions
    def kek_versions(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for table in ("subject_keys", "job_keys", "vault_keys"):
            rows = self._conn().execute(
                f"SELECT kek_version, count(*) FROM {table} GROUP BY kek_version"
            )
            for version, count in rows:
                counts[version] = counts.get(version, 0) + count
        return counts

    def kek_floor(self) -> int:
        return int(self._conn().execute("SELECT version FROM kek_floor WHERE id = 1").fetchone()[0])

    def newest_kek_version(self) -> int | None:
        row = self._conn().execute("SELECT max(kek_version) FROM subject_keys").fetchone()
        return None if row[0] is None else int(row[0])

    def raise_kek_floor(self, kek_version: int) -> int:
        # Writes take the database's one write lock, so every put before this
        # commit has committed, and every one after it reads the new floor.
        with self._writer.write() as conn:
            conn.execute(
                "UPDATE kek_floor SET version = max(version, ?) WHERE id = 1", (kek_version,)
            )
            return int(conn.execute("SELECT version FROM kek_floor WHERE id = 1").fetchone()[0])

    def claim_rotation(self, owner: str, now: dt.datetime, until: dt.datetime) -> RotationLease:
        with self._writer.write() as conn:
            conn.execute(
                "INSERT INTO kek_rotation (id, owner, until) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                "WHERE kek_rotation.owner = excluded.owner OR kek_rotation.until <= ?",
                (owner, as_text(until), as_text(now)),
            )
            held_by, held_until = conn.execute(
                "SELECT owner, until FROM kek_rotation WHERE id = 1"
            ).fetchone()
        return RotationLease(held_by, dt.datetime.fromisoformat(held_until))

    def release_rotation(self, owner: str) -> None:
        with self._writer.write() as conn:
            conn.execute("DELETE FROM kek_rotation WHERE id = 1 AND owner = ?", (owner,))

    # ------------------------------------------------------------- destruction
    def destruction_generation(self) -> int:
        # `PRAGMA data_version` is a cheap per-connection counter of commits by
        # other connections; the counter row is read only when it moved.
        conn = self._conn()
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        if getattr(self._seen, "data_version", None) != data_version:
            self._seen.data_version = data_version
            self._seen.generation = conn.execute(
                "SELECT value FROM shred_generation WHERE id = 1"
            ).fetchone()[0]
        return int(self._seen.generation)

    def scrub(self) -> bool:
        # Destroyed rows are zeroed in the database file (secure_delete); the
        # WAL may still hold their pages until it is checkpointed and cut.
        return self._writer.checkpoint_truncate(self._connections.wal_path)

    def close(self) -> None:
        self._writer.close()  # first: its thread may still be committing
        self._connections.close()
        self._seen = threading.local()
