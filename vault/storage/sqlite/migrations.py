"""The SQLite schemas, a set of migrations per database: `record_migrations`
for the record database (records.db), `key_migrations` for the key database
(keys.db). Each set is append-only and its names are the steps' record in
existing databases, so a released migration is never renamed or changed.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

record_migrations = Migrations("consent_vault.records")


@record_migrations(name="0001_initial")
def _records_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE subjects (
            subject_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            roles TEXT NOT NULL,
            protected_identity INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE identities (
            blind_index TEXT PRIMARY KEY,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            kind TEXT NOT NULL,
            sealed_value BLOB NOT NULL)"""
    )
    db.execute("CREATE INDEX identities_by_subject ON identities(subject_id)")
    # AUTOINCREMENT: a sequence number is never reused, so page tokens stay exact.
    db.execute(
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL UNIQUE,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            category TEXT NOT NULL,
            purpose TEXT NOT NULL,
            legal_basis TEXT NOT NULL,
            source_system TEXT NOT NULL,
            key_id TEXT NOT NULL,
            sealed_payload BLOB NOT NULL,
            sealed_content BLOB,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX records_by_subject ON records(subject_id, seq)")
    db.execute("CREATE INDEX records_by_category ON records(subject_id, category, seq)")
    db.execute(
        """CREATE TABLE requests (
            request_id TEXT PRIMARY KEY,
            operation TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            result TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX requests_by_subject ON requests(subject_id)")
    db.execute(
        """CREATE TABLE erasures (
            subject_id TEXT PRIMARY KEY REFERENCES subjects(subject_id),
            erased_at TEXT NOT NULL,
            receipt TEXT NOT NULL)"""
    )


@record_migrations(name="0002_record_counts")
def _record_counts(db: Database) -> None:
    # Kept in the same transactions as the records, so an erasure receipt can
    # say how many records it made unreadable without counting them.
    db.execute(
        """CREATE TABLE record_counts (
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            category TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (subject_id, category))"""
    )
    db.execute(
        "INSERT INTO record_counts (subject_id, category, count) "
        "SELECT subject_id, category, count(*) FROM records GROUP BY subject_id, category"
    )


@record_migrations(name="0003_erasure_jobs")
def _erasure_jobs(db: Database) -> None:
    db.execute(
        """CREATE TABLE erasure_requests (
            request_id TEXT PRIMARY KEY,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            state TEXT NOT NULL,
            received_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            completed_at TEXT,
            sealed_identities BLOB,
            updated_at TEXT NOT NULL)"""
    )
    db.execute(
        "CREATE INDEX erasure_requests_by_subject ON erasure_requests(subject_id, received_at)"
    )
    db.execute(
        """CREATE TABLE erasure_steps (
            request_id TEXT NOT NULL REFERENCES erasure_requests(request_id),
            system TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            last_error TEXT,
            outcomes TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (request_id, system))"""
    )
    db.execute("CREATE INDEX erasure_steps_due ON erasure_steps(state, next_attempt_at)")
    db.execute(
        """CREATE TABLE manual_actions (
            action_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES erasure_requests(request_id),
            system TEXT NOT NULL,
            category TEXT NOT NULL,
            description TEXT NOT NULL,
            sealed_instructions BLOB,
            created_at TEXT NOT NULL,
            confirmed_by TEXT,
            confirmed_at TEXT)"""
    )
    db.execute("CREATE INDEX manual_actions_by_request ON manual_actions(request_id)")


@record_migrations(name="0004_erasure_step_matches")
def _erasure_step_matches(db: Database) -> None:
    for column in (
        "sealed_references BLOB",
        "conflict TEXT",
        "notes TEXT",
        "decision TEXT",
        "decided_by TEXT",
        "decided_at TEXT",
    ):
        db.execute(f"ALTER TABLE erasure_steps ADD COLUMN {column}")


@record_migrations(name="0005_step_engine")
def _step_engine(db: Database) -> None:
    """The erasure's tables become the step engine's, for every kind of request."""
    for statement in (
        "ALTER TABLE erasure_requests RENAME TO step_requests",
        "ALTER TABLE step_requests ADD COLUMN kind TEXT NOT NULL DEFAULT 'erasure'",
        "ALTER TABLE step_requests RENAME COLUMN sealed_identities TO sealed_payload",
        "DROP INDEX erasure_requests_by_subject",
        "CREATE INDEX step_requests_by_subject ON step_requests(kind, subject_id, received_at)",
        "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
        "ALTER TABLE erasure_steps RENAME TO steps",
        "ALTER TABLE steps RENAME COLUMN system TO name",
        "ALTER TABLE steps RENAME COLUMN outcomes TO result",
        "ALTER TABLE steps RENAME COLUMN sealed_references TO sealed",
        # Steps run in the order they were submitted; the vault's own came first.
        "ALTER TABLE steps ADD COLUMN position INTEGER NOT NULL DEFAULT 1",
        "UPDATE steps SET position = 0 WHERE name = 'vault'",
        "ALTER TABLE steps ADD COLUMN details TEXT",
        """UPDATE steps SET details = json_object(
                'conflict', json(conflict), 'notes', json(notes), 'decision', decision,
                'decided_by', decided_by, 'decided_at', decided_at)
            WHERE conflict IS NOT NULL OR notes IS NOT NULL OR decision IS NOT NULL""",
        "ALTER TABLE steps DROP COLUMN conflict",
        "ALTER TABLE steps DROP COLUMN notes",
        "ALTER TABLE steps DROP COLUMN decision",
        "ALTER TABLE steps DROP COLUMN decided_by",
        "ALTER TABLE steps DROP COLUMN decided_at",
        "DROP INDEX erasure_steps_due",
        "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
        "ALTER TABLE manual_actions RENAME COLUMN system TO step",
    ):
        db.execute(statement)


@record_migrations(name="0006_request_asker")
def _request_asker(db: Database) -> None:
    """Who asked for each request. Every request before this was the local
    operator's: no caller was authenticated, so none had another name."""
    for column in (
        "requested_by_who TEXT NOT NULL DEFAULT 'local'",
        "requested_by_role TEXT NOT NULL DEFAULT 'operator'",
        "requested_by_system TEXT NOT NULL DEFAULT ''",
    ):
        db.execute(f"ALTER TABLE step_requests ADD COLUMN {column}")


@record_migrations(name="0007_requests_holding_secrets")
def _requests_holding_secrets(db: Database) -> None:
    """Finding the few requests that still hold sealed secrets (at start, after a
    crash) must not scan every request ever made."""
    db.execute(
        "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
        "WHERE sealed_payload IS NOT NULL"
    )


@record_migrations(name="0008_requests_about_no_one")
def _requests_about_no_one(db: Database) -> None:
    """A request may be about no one person (a retention sweep): its subject is
    NULL. SQLite cannot drop a NOT NULL in place, and a table others reference
    cannot be swapped inside a transaction with foreign keys on, so the three
    tables of the step engine are rebuilt together, children last in and first
    out. A running step is due again when its lease ends, as claims now write."""
    for statement in (
        """CREATE TABLE new_step_requests (
            request_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            subject_id TEXT REFERENCES subjects(subject_id),
            state TEXT NOT NULL,
            received_at TEXT NOT NULL,
            deadline_at TEXT NOT NULL,
            completed_at TEXT,
            sealed_payload BLOB,
            updated_at TEXT NOT NULL,
            requested_by_who TEXT NOT NULL,
            requested_by_role TEXT NOT NULL,
            requested_by_system TEXT NOT NULL)""",
        """CREATE TABLE new_steps (
            request_id TEXT NOT NULL REFERENCES new_step_requests(request_id),
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            last_error TEXT,
            result TEXT,
            updated_at TEXT NOT NULL,
            sealed BLOB,
            details TEXT,
            PRIMARY KEY (request_id, name))""",
        """CREATE TABLE new_manual_actions (
            action_id TEXT PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES new_step_requests(request_id),
            step TEXT NOT NULL,
            category TEXT NOT NULL,
            description TEXT NOT NULL,
            sealed_instructions BLOB,
            created_at TEXT NOT NULL,
            confirmed_by TEXT,
            confirmed_at TEXT)""",
        """INSERT INTO new_step_requests SELECT request_id, kind, subject_id, state,
            received_at, deadline_at, completed_at, sealed_payload, updated_at,
            requested_by_who, requested_by_role, requested_by_system FROM step_requests""",
        """INSERT INTO new_steps SELECT request_id, name, position, state, attempts,
            CASE WHEN state = 'running' AND lease_until IS NOT NULL THEN lease_until
                 ELSE next_attempt_at END,
            lease_owner, lease_until, last_error, result, updated_at, sealed, details
            FROM steps""",
        """INSERT INTO new_manual_actions SELECT action_id, request_id, step, category,
            description, sealed_instructions, created_at, confirmed_by, confirmed_at
            FROM manual_actions""",
        "DROP TABLE manual_actions",
        "DROP TABLE steps",
        "DROP TABLE step_requests",
        # Renaming a parent renames it in its children's REFERENCES too.
        "ALTER TABLE new_step_requests RENAME TO step_requests",
        "ALTER TABLE new_steps RENAME TO steps",
        "ALTER TABLE new_manual_actions RENAME TO manual_actions",
        "CREATE INDEX step_requests_by_subject ON step_requests(kind, subject_id, received_at)",
        "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
        "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
        "WHERE sealed_payload IS NOT NULL",
        "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
        "CREATE INDEX manual_actions_by_request ON manual_actions(request_id)",
    ):
        db.execute(statement)


@record_migrations(name="0009_subjects_by_state")
def _subjects_by_state(db: Database) -> None:
    """Subjects found by state through an index, and the few a purge has work
    for apart from the rest: `purge_due` is cleared once a purge of the
    subject's state finds none of its records, and set again by every change of
    state. Erased subjects stay, ever more of them; a purge that visited each one
    on every pass would cost more with every erasure. Those earlier passes have
    emptied already start not due, so the first passes after the upgrade do not
    visit them all again (the purge ran for erased subjects only)."""
    for statement in (
        "ALTER TABLE subjects ADD COLUMN purge_due INTEGER NOT NULL DEFAULT 1",
        """UPDATE subjects SET purge_due = 0 WHERE state = 'erased' AND NOT EXISTS
            (SELECT 1 FROM records WHERE records.subject_id = subjects.subject_id)""",
        "CREATE INDEX subjects_by_state ON subjects(state, purge_due, subject_id)",
    ):
        db.execute(statement)


@record_migrations(name="0010_identity_index_versions")
def _identity_index_versions(db: Database) -> None:
    """Each identity names the keyring version its blind index was computed
    under, so a re-index can find those left under an older one and that
    version can retire. Every earlier row was computed under version 1's index
    key (a format-1 keyring shares one among all its KEKs)."""
    for statement in (
        "ALTER TABLE identities ADD COLUMN index_version INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX identities_by_index_version ON identities(index_version, blind_index)",
    ):
        db.execute(statement)


@record_migrations(name="0011_sealed_roles_hashed_requests")
def _sealed_roles_hashed_requests(db: Database) -> None:
    """Roles sealed under the subject's keys, and request ids kept only as a
    keyed hash, dated so they can be forgotten. Sealing and hashing need the
    keys, so the vault's upgrade does them (vault.core.upgrades): the rows it
    has left to do are found through the two partial indexes, empty once done,
    so the check at every opening costs next to nothing. `roles` stays, blank
    ('[]'), and `request_hash` holds an earlier release's id in the clear until
    its `key_version` is set."""
    for statement in (
        "ALTER TABLE subjects ADD COLUMN sealed_roles BLOB",
        "CREATE INDEX subjects_with_clear_roles ON subjects(subject_id) WHERE roles <> '[]'",
        "ALTER TABLE requests RENAME COLUMN request_id TO request_hash",
        "ALTER TABLE requests ADD COLUMN key_version INTEGER",
        "ALTER TABLE requests ADD COLUMN remembered_at TEXT",
        "CREATE INDEX requests_in_clear ON requests(request_hash) WHERE key_version IS NULL",
        "CREATE INDEX requests_by_age ON requests(remembered_at)",
    ):
        db.execute(statement)


@record_migrations(name="0012_api_tokens")
def _api_tokens(db: Database) -> None:
    """API tokens, each kept only as a keyed hash of its secret
    (vault.core.tokens). Listed newest first: by the time they were made, then
    by the order they were stored (the rowid), for tokens made in one instant."""
    db.execute(
        """CREATE TABLE api_tokens (
            token_id TEXT PRIMARY KEY,
            secret_hash BLOB NOT NULL,
            role TEXT NOT NULL,
            system TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT,
            last_used_at TEXT)"""
    )


@record_migrations(name="0013_audit_trail")
def _audit_trail(db: Database) -> None:
    """The audit log (vault.core.audit.store): events appended unsequenced
    with a row id, given a leaf index and leaf hash by the sequencer; the
    signed tree heads with the tree's frontier at each; the log's size in one
    row, which the sequencer compares and sets; and key destruction's open
    intents. The sequencer's queue is a partial index, empty once it caught
    up; the auditor's filters each have an index by (value, row id)."""
    for statement in (
        """CREATE TABLE audit_events (
            row_id INTEGER PRIMARY KEY AUTOINCREMENT,
            leaf_index INTEGER UNIQUE,
            entry BLOB NOT NULL,
            leaf_hash BLOB,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            operation TEXT NOT NULL,
            subject TEXT NOT NULL,
            sensitive INTEGER NOT NULL)""",
        "CREATE INDEX audit_unsequenced ON audit_events(row_id) WHERE leaf_index IS NULL",
        "CREATE INDEX audit_by_at ON audit_events(at, row_id)",
        "CREATE INDEX audit_by_actor ON audit_events(actor, row_id)",
        "CREATE INDEX audit_by_operation ON audit_events(operation, row_id)",
        "CREATE INDEX audit_by_subject ON audit_events(subject, row_id)",
        """CREATE TABLE audit_heads (
            size INTEGER PRIMARY KEY,
            root BLOB NOT NULL,
            at TEXT NOT NULL,
            signature BLOB NOT NULL,
            frontier BLOB NOT NULL)""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            size INTEGER NOT NULL)""",
        "INSERT INTO audit_log (id, size) VALUES (1, 0)",
        """CREATE TABLE audit_intents (
            row_id INTEGER PRIMARY KEY,
            subject_id TEXT NOT NULL)""",
    ):
        db.execute(statement)


@record_migrations(name="0014_consent")
def _consent(db: Database) -> None:
    """Consent as evidence (vault.core.consent.store): the events, append-only
    in the order recorded (AUTOINCREMENT: a seq is never reused, so page
    tokens stay exact), what they say beyond purpose and time sealed; each
    person's standing per purpose, their latest event's, kept with it, so a
    current state is one row and the people who must consent again one range
    of consent_standing_by_purpose, in subject order, whose status and policy
    version are read from the index itself; and the published policy
    versions, their purposes JSON arrays."""
    for statement in (
        """CREATE TABLE consent_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            purpose TEXT NOT NULL,
            status TEXT NOT NULL,
            given_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            policy_version TEXT NOT NULL,
            policy_seq INTEGER NOT NULL,
            expires_at TEXT,
            key_id TEXT NOT NULL,
            sealed BLOB NOT NULL)""",
        "CREATE INDEX consent_events_by_subject ON consent_events(subject_id, seq)",
        """CREATE TABLE consent_standing (
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            purpose TEXT NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT NOT NULL,
            given_at TEXT NOT NULL,
            policy_version TEXT NOT NULL,
            policy_seq INTEGER NOT NULL,
            expires_at TEXT,
            PRIMARY KEY (subject_id, purpose))""",
        "CREATE INDEX consent_standing_by_purpose "
        "ON consent_standing(purpose, subject_id, status, policy_seq)",
        """CREATE TABLE policy_versions (
            version TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            effective_from TEXT NOT NULL,
            published_at TEXT NOT NULL,
            published_by TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            url TEXT NOT NULL,
            text TEXT NOT NULL,
            changed_purposes TEXT NOT NULL,
            material_purposes TEXT NOT NULL,
            summary TEXT NOT NULL)""",
    ):
        db.execute(statement)


@record_migrations(name="0015_consent_in_effect")
def _consent_in_effect(db: Database) -> None:
    """Consent in effect: the restrictions and objections (vault.core.consent.store),
    their kind, purposes (a JSON array) and times in the clear for the checks
    every read makes, the rest sealed; a person's found by subject in the order
    recorded, and those in effect (few) through a partial index, so a contact
    stream reads them once without passing the lifted and overridden ones. The
    records found by purpose, each holder once in subject order, for the people
    a purpose resting on another basis may contact. A token's default purpose,
    for an integrator's reads that name none ('' for none, as every earlier
    token has)."""
    for statement in (
        """CREATE TABLE processing_limits (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            limit_id TEXT NOT NULL UNIQUE,
            subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
            kind TEXT NOT NULL,
            purposes TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            lifted_at TEXT,
            overridden_at TEXT,
            key_id TEXT NOT NULL,
            sealed BLOB NOT NULL)""",
        "CREATE INDEX processing_limits_by_subject ON processing_limits(subject_id, seq)",
        "CREATE INDEX processing_limits_in_effect ON processing_limits(seq) "
        "WHERE lifted_at IS NULL AND overridden_at IS NULL",
        "CREATE INDEX records_by_purpose ON records(purpose, subject_id)",
        "ALTER TABLE api_tokens ADD COLUMN default_purpose TEXT NOT NULL DEFAULT ''",
    ):
        db.execute(statement)


# The names are the steps' record in existing keys.db files: append only.
key_migrations = Migrations("consent_vault.keys")


@key_migrations(name="0001_initial")
def _keys_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE subject_keys (
            subject_id TEXT PRIMARY KEY,
            kek_version INTEGER NOT NULL,
            wrapped BLOB NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE category_keys (
            subject_id TEXT NOT NULL REFERENCES subject_keys(subject_id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            key_id TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            PRIMARY KEY (subject_id, category))"""
    )
    # Bumped by every key destruction; processes compare it to drop cached keys.
    db.execute(
        "CREATE TABLE shred_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO shred_generation (id, value) VALUES (1, 0)")


@key_migrations(name="0002_job_keys")
def _job_keys(db: Database) -> None:
    # One key per erasure job: it seals the identifiers connectors need until
    # the job ends, so the person's own keys can be destroyed at once.
    db.execute(
        """CREATE TABLE job_keys (
            request_id TEXT PRIMARY KEY,
            kek_version INTEGER NOT NULL,
            wrapped BLOB NOT NULL)"""
    )


@key_migrations(name="0003_data_keys_by_purpose")
def _data_keys_by_purpose(db: Database) -> None:
    """Data keys per (subject, category, purpose), so one purpose's records can be
    shredded while the category's others stay. Today's keys move across with
    purpose '' and `legacy_wrap` set: their wraps' associated data names no
    purpose, until the vault's upgrade step (which has the keys) re-wraps them
    and gives each record category's key its purpose. The partial index finds
    those left, so once none is, the check at each opening reads an empty index."""
    for statement in (
        """CREATE TABLE data_keys (
            subject_id TEXT NOT NULL REFERENCES subject_keys(subject_id) ON DELETE CASCADE,
            category TEXT NOT NULL,
            purpose TEXT NOT NULL,
            key_id TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            legacy_wrap INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (subject_id, category, purpose))""",
        """INSERT INTO data_keys (subject_id, category, purpose, key_id, wrapped, legacy_wrap)
            SELECT subject_id, category, '', key_id, wrapped, 1 FROM category_keys""",
        "DROP TABLE category_keys",
        "CREATE INDEX data_keys_legacy ON data_keys(subject_id, category, purpose) "
        "WHERE legacy_wrap = 1",
    ):
        db.execute(statement)


@key_migrations(name="0004_kek_floor")
def _kek_floor(db: Database) -> None:
    """The lowest KEK version a key may be stored under, raised by a retirement
    before the retired keys leave the keyring, so no process can store a key
    that nobody will be able to unwrap; the lock that lets one process at a time
    rotate; and the keys found by KEK version, so a rotation or a retirement
    counts what is left under each without reading every key."""
    for statement in (
        """CREATE TABLE kek_floor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL)""",
        "INSERT INTO kek_floor (id, version) VALUES (1, 0)",
        """CREATE TABLE kek_rotation (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            owner TEXT NOT NULL,
            until TEXT NOT NULL)""",
        "CREATE INDEX subject_keys_by_kek_version ON subject_keys(kek_version)",
        "CREATE INDEX job_keys_by_kek_version ON job_keys(kek_version)",
    ):
        db.execute(statement)


@key_migrations(name="0005_vault_keys")
def _vault_keys(db: Database) -> None:
    """Keys of the vault's own, by name (the API tokens' hashing key), wrapped
    under the KEK like the others, and found by KEK version like them, so a
    rotation re-wraps them and a retirement counts them."""
    for statement in (
        """CREATE TABLE vault_keys (
            name TEXT PRIMARY KEY,
            kek_version INTEGER NOT NULL,
            wrapped BLOB NOT NULL)""",
        "CREATE INDEX vault_keys_by_kek_version ON vault_keys(kek_version)",
    ):
        db.execute(statement)
