"""The key store on PostgreSQL: wrapped subject, data and job keys.

May live in a database of its own (`--key-database`), so a copy of the
records alone is useless. Every destruction bumps one generation row in the
same transaction; `destruction_generation` reads that row, so a key destroyed
through one process is dropped from every other process's cache at its next
lookup, with no window in which a cached copy still answers.
"""

from __future__ import annotations

from vault.storage.postgres import Migration, MigrationSet

# The names are the steps' record in existing databases: append only.
key_migrations = MigrationSet(
    "consent_vault.keys",
    (
        Migration(
            "0001_initial",
            (
                """CREATE TABLE subject_keys (
                    subject_id TEXT PRIMARY KEY,
                    kek_version INTEGER NOT NULL,
                    wrapped BYTEA NOT NULL)""",
                """CREATE TABLE category_keys (
                    subject_id TEXT NOT NULL
                        REFERENCES subject_keys(subject_id) ON DELETE CASCADE,
                    category TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    wrapped BYTEA NOT NULL,
                    PRIMARY KEY (subject_id, category))""",
                # One key per erasure job: it seals the identifiers connectors
                # need until the job ends, so the person's own keys go at once.
                """CREATE TABLE job_keys (
                    request_id TEXT PRIMARY KEY,
                    kek_version INTEGER NOT NULL,
                    wrapped BYTEA NOT NULL)""",
                """CREATE TABLE shred_generation (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    value BIGINT NOT NULL)""",
                "INSERT INTO shred_generation (id, value) VALUES (1, 0)",
            ),
        ),
    ),
)
