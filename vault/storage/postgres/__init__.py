"""PostgreSQL storage: the record store and the key store, in one database or two.
The modules inside are this engine's plumbing; the rest of the vault opens the
stores through these names (vault.bootstrap), which also tell a PostgreSQL URL
apart, show it without its password, and say when its database is unreachable."""

from vault.storage.postgres.database import DatabaseUnavailable, is_postgres, redacted
from vault.storage.postgres.keys import PostgresKeyStore
from vault.storage.postgres.records import PostgresRecordStore

__all__ = [
    "DatabaseUnavailable",
    "PostgresKeyStore",
    "PostgresRecordStore",
    "is_postgres",
    "redacted",
]
