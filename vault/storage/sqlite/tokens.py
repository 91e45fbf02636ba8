"""The API tokens on SQLite, in the record database: rows as the core gives
them (a keyed hash of each secret, never the secret), times as UTC ISO text
with microseconds, so they sort, and compare, as the moments do.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from vault.storage.base import TokenRow
from vault.storage.sqlite.connections import Connections
from vault.storage.sqlite.moments import as_moment, as_text
from vault.storage.sqlite.writer import GroupCommitWriter

_COLUMNS = (
    "token_id, secret_hash, role, system, name, created_at, expires_at, revoked_at, "
    "last_used_at, default_purpose"
)


def _row(row: tuple) -> TokenRow:
    (
        token_id,
        secret_hash,
        role,
        system,
        name,
        created,
        expires,
        revoked,
        last_used,
        default_purpose,
    ) = row
    created_at = as_moment(created)
    assert created_at is not None  # NOT NULL
    return TokenRow(
        token_id,
        bytes(secret_hash),
        role,
        system,
        name,
        created_at,
        as_moment(expires),
        as_moment(revoked),
        as_moment(last_used),
        default_purpose,
    )


def _token(conn: sqlite3.Connection, token_id: str) -> TokenRow | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = ?", (token_id,)
    ).fetchone()
    return _row(row) if row else None


class SQLiteTokenStore:
    """API tokens: reads on this thread's connection, each write a transaction
    of its own through the process's writer."""

    def __init__(self, connections: Connections, writer: GroupCommitWriter) -> None:
        self._connections = connections
        self._writer = writer

    def insert_token(self, row: TokenRow) -> None:
        with self._writer.write() as conn:
            conn.execute(
                f"INSERT INTO api_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.token_id,
                    row.secret_hash,
                    row.role,
                    row.system,
                    row.name,
                    as_text(row.created_at),
                    as_text(row.expires_at),
                    as_text(row.revoked_at),
                    as_text(row.last_used_at),
                    row.default_purpose,
                ),
            )

    def token(self, token_id: str) -> TokenRow | None:
        return _token(self._connections.get(), token_id)

    def tokens(self) -> list[TokenRow]:
        rows = self._connections.get().execute(
            f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at DESC, rowid DESC"
        )
        return [_row(row) for row in rows]

    def revoke_token(self, token_id: str, at: dt.datetime) -> TokenRow | None:
        with self._writer.write() as conn:
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (as_text(at), token_id),
            )
            return _token(conn, token_id)

    def touch_token(self, token_id: str, at: dt.datetime) -> None:
        # Servers touch concurrently, and their clocks may differ a little: the
        # latest use stays.
        with self._writer.write() as conn:
            conn.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                (as_text(at), token_id, as_text(at)),
            )
