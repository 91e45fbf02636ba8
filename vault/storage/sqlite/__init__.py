"""SQLite storage, the embedded default, through sqlite-utils.

Every connection runs in WAL mode with `secure_delete=ON` (deleted bytes are
overwritten with zeros), `synchronous=FULL` (a commit survives power loss) and
a busy timeout. Writes take the lock up front with `BEGIN IMMEDIATE`: Python's
default deferred transactions can lose updates when two writers upgrade from a
read lock at once. Readers have a connection per thread; writers share one
connection per process through a group-commit writer.

The modules, a job each: connections.py (the connections, the transaction,
the lock file of writing processes), writer.py (the group-commit writer),
migrations.py (both databases' schemas), queries.py (the record database's
queries), records.py, keys.py, steps.py, tokens.py, audit.py and consents.py (the stores), moments.py
(times as the stores keep them). The rest of the vault
opens the stores through the two names below (vault.bootstrap).
"""

from vault.storage.sqlite.keys import SQLiteKeyStore
from vault.storage.sqlite.records import SQLiteRecordStore

__all__ = ["SQLiteKeyStore", "SQLiteRecordStore"]
