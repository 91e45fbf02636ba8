"""The API tokens on PostgreSQL, in the record database: rows as the core
gives them (a keyed hash of each secret, never the secret). Each write is one
statement in a transaction of its own; none takes the record database's
write lock, since none decides anything from what another wrote.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vault.storage.base import TokenRow
from vault.storage.postgres.database import Database

# In TokenRow's order: a row is written as the tuple it is.
_COLUMNS = (
    "token_id, secret_hash, role, system, name, created_at, expires_at, revoked_at, "
    "last_used_at, default_purpose"
)


def _row(row: tuple[Any, ...]) -> TokenRow:
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
    return TokenRow(
        token_id,
        bytes(secret_hash),
        role,
        system,
        name,
        created,
        expires,
        revoked,
        last_used,
        default_purpose,
    )


class PostgresTokenStore:
    """API tokens: reads on pooled connections, each write a transaction of its own."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def insert_token(self, row: TokenRow) -> None:
        with self._database.transaction() as conn:
            conn.execute(
                f"INSERT INTO api_tokens ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                tuple(row),
            )

    def token(self, token_id: str) -> TokenRow | None:
        with self._database.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = %s", (token_id,)
            ).fetchone()
        return _row(row) if row else None

    def tokens(self) -> list[TokenRow]:
        with self._database.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at DESC, position DESC"
            ).fetchall()
        return [_row(row) for row in rows]

    def revoke_token(self, token_id: str, at: dt.datetime) -> TokenRow | None:
        with self._database.transaction() as conn:
            # Of two revocations at once, the second waits for the first's row
            # lock, then finds it revoked and changes nothing.
            conn.execute(
                "UPDATE api_tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL",
                (at, token_id),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = %s", (token_id,)
            ).fetchone()
        return _row(row) if row else None

    def touch_token(self, token_id: str, at: dt.datetime) -> None:
        # Servers touch concurrently, and their clocks may differ a little: the
        # latest use stays.
        with self._database.transaction() as conn:
            conn.execute(
                "UPDATE api_tokens SET last_used_at = %s WHERE token_id = %s "
                "AND (last_used_at IS NULL OR last_used_at < %s)",
                (at, token_id, at),
            )
