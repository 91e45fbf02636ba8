"""PostgreSQL storage: the record store and the key store, in one database or two.

The modules, a job each: database.py (the pool, transactions, advisory locks,
migrations applied), migrations.py (both databases' schemas), queries.py (the
record database's queries), appends.py (the grouped append and its writer
thread), records.py, keys.py, steps.py, tokens.py, audit.py and consents.py (the stores). The rest of the vault
opens the stores through the names below (vault.bootstrap), which also tell a
PostgreSQL URL apart, show it without its password, and say when its database
is unreachable.
"""

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
