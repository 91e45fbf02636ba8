"""SQLite storage, the embedded default: the record store and the key store, each
a database file of its own. The modules inside are this engine's plumbing; the
rest of the vault opens the stores through these two names (vault.bootstrap)."""

from vault.storage.sqlite.keys import SQLiteKeyStore
from vault.storage.sqlite.records import SQLiteRecordStore

__all__ = ["SQLiteKeyStore", "SQLiteRecordStore"]
