"""The PostgreSQL schemas, a set of migrations per database: `record_migrations`
for the record database (its tables include the step engine's, which steps.py
reads and writes), `key_migrations` for the key database. Each set is
append-only and its names are the steps' record in existing databases, so a
released migration is never renamed or changed.
"""

from __future__ import annotations

from vault.storage.postgres.database import Migration, MigrationSet

# The names are the steps' record in existing databases: append only.
record_migrations = MigrationSet(
    "consent_vault.records",
    (
        Migration(
            "0001_initial",
            (
                """CREATE TABLE subjects (
                    subject_id TEXT PRIMARY KEY,
                    state TEXT NOT NULL,
                    roles TEXT[] NOT NULL,
                    protected_identity BOOLEAN NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL)""",
                "CREATE INDEX subjects_by_state ON subjects(state)",
                # `position`: the order identities were added, which reads keep.
                """CREATE TABLE identities (
                    blind_index TEXT PRIMARY KEY,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    kind TEXT NOT NULL,
                    sealed_value BYTEA NOT NULL,
                    position BIGINT GENERATED ALWAYS AS IDENTITY)""",
                "CREATE INDEX identities_by_subject ON identities(subject_id, position)",
                """CREATE TABLE records (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    record_id TEXT NOT NULL UNIQUE,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    category TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    legal_basis TEXT NOT NULL,
                    source_system TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    sealed_payload BYTEA NOT NULL,
                    sealed_content BYTEA,
                    created_at TIMESTAMPTZ NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL)""",
                "CREATE INDEX records_by_subject ON records(subject_id, seq)",
                "CREATE INDEX records_by_category ON records(subject_id, category, seq)",
                # Kept in the same transactions as the records, so an erasure
                # receipt can say how many records it made unreadable.
                """CREATE TABLE record_counts (
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    category TEXT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (subject_id, category))""",
                """CREATE TABLE requests (
                    request_id TEXT PRIMARY KEY,
                    operation TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    result TEXT NOT NULL)""",
                "CREATE INDEX requests_by_subject ON requests(subject_id)",
                """CREATE TABLE erasures (
                    subject_id TEXT PRIMARY KEY REFERENCES subjects(subject_id),
                    erased_at TIMESTAMPTZ NOT NULL,
                    receipt TEXT NOT NULL)""",
                # The step engine's rows; a request about no one has no subject.
                """CREATE TABLE step_requests (
                    request_id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    subject_id TEXT REFERENCES subjects(subject_id),
                    state TEXT NOT NULL,
                    received_at TIMESTAMPTZ NOT NULL,
                    deadline_at TIMESTAMPTZ NOT NULL,
                    completed_at TIMESTAMPTZ,
                    sealed_payload BYTEA,
                    updated_at TIMESTAMPTZ NOT NULL,
                    requested_by_who TEXT NOT NULL,
                    requested_by_role TEXT NOT NULL,
                    requested_by_system TEXT NOT NULL)""",
                "CREATE INDEX step_requests_by_subject "
                "ON step_requests(kind, subject_id, received_at)",
                "CREATE INDEX step_requests_by_time ON step_requests(kind, received_at, request_id)",
                "CREATE INDEX step_requests_holding_secrets ON step_requests(state) "
                "WHERE sealed_payload IS NOT NULL",
                """CREATE TABLE steps (
                    request_id TEXT NOT NULL REFERENCES step_requests(request_id),
                    name TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    next_attempt_at TIMESTAMPTZ NOT NULL,
                    lease_owner TEXT,
                    lease_until TIMESTAMPTZ,
                    last_error TEXT,
                    result TEXT,
                    updated_at TIMESTAMPTZ NOT NULL,
                    sealed BYTEA,
                    details JSONB,
                    PRIMARY KEY (request_id, name))""",
                "CREATE INDEX steps_due ON steps(state, next_attempt_at)",
                """CREATE TABLE manual_actions (
                    action_id TEXT PRIMARY KEY,
                    request_id TEXT NOT NULL REFERENCES step_requests(request_id),
                    step TEXT NOT NULL,
                    category TEXT NOT NULL,
                    description TEXT NOT NULL,
                    sealed_instructions BYTEA,
                    created_at TIMESTAMPTZ NOT NULL,
                    confirmed_by TEXT,
                    confirmed_at TIMESTAMPTZ)""",
                "CREATE INDEX manual_actions_by_request ON manual_actions(request_id)",
            ),
        ),
        # `purge_due` is cleared once a purge of the subject's state finds none of
        # its records, and set again by every change of state, so a purge visits
        # only the subjects it has work for: erased subjects stay, ever more of
        # them. Those the purge has emptied already (it ran for erased subjects
        # only) start not due.
        Migration(
            "0002_subjects_by_state",
            (
                "ALTER TABLE subjects ADD COLUMN purge_due BOOLEAN NOT NULL DEFAULT true",
                """UPDATE subjects SET purge_due = false WHERE state = 'erased' AND NOT EXISTS
                    (SELECT 1 FROM records WHERE records.subject_id = subjects.subject_id)""",
                "DROP INDEX subjects_by_state",
                "CREATE INDEX subjects_by_state ON subjects(state, purge_due, subject_id)",
            ),
        ),
        # Each identity names the keyring version its blind index was computed
        # under, so a re-index finds those left under an older one and that
        # version can retire; every earlier row is version 1's.
        Migration(
            "0003_identity_index_versions",
            (
                "ALTER TABLE identities ADD COLUMN index_version INTEGER NOT NULL DEFAULT 1",
                "CREATE INDEX identities_by_index_version "
                "ON identities(index_version, blind_index)",
            ),
        ),
        # Roles sealed under the subject's keys, and request ids kept only as a
        # keyed hash, dated so they can be forgotten. Sealing and hashing need
        # the keys, so the vault's upgrade does them (vault.core.upgrades): the
        # rows it has left to do are found through the two partial indexes,
        # empty once done, so the check at every opening costs next to nothing.
        # `roles` stays, blank ('{}'), and `request_hash` holds an earlier
        # release's id in the clear until its `key_version` is set.
        Migration(
            "0004_sealed_roles_hashed_requests",
            (
                "ALTER TABLE subjects ADD COLUMN sealed_roles BYTEA",
                "CREATE INDEX subjects_with_clear_roles ON subjects(subject_id) "
                "WHERE cardinality(roles) > 0",
                "ALTER TABLE requests RENAME COLUMN request_id TO request_hash",
                "ALTER TABLE requests ADD COLUMN key_version INTEGER",
                "ALTER TABLE requests ADD COLUMN remembered_at TIMESTAMPTZ",
                "CREATE INDEX requests_in_clear ON requests(request_hash) "
                "WHERE key_version IS NULL",
                "CREATE INDEX requests_by_age ON requests(remembered_at)",
            ),
        ),
        # API tokens, each kept only as a keyed hash of its secret
        # (vault.core.tokens). `position`: the order they were stored, which
        # lists newest first among tokens made in one instant.
        Migration(
            "0005_api_tokens",
            (
                """CREATE TABLE api_tokens (
                    token_id TEXT PRIMARY KEY,
                    secret_hash BYTEA NOT NULL,
                    role TEXT NOT NULL,
                    system TEXT NOT NULL,
                    name TEXT NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL,
                    expires_at TIMESTAMPTZ,
                    revoked_at TIMESTAMPTZ,
                    last_used_at TIMESTAMPTZ,
                    position BIGINT GENERATED ALWAYS AS IDENTITY)""",
            ),
        ),
        # The audit log (vault.core.audit.store): events appended unsequenced
        # with a row id, given a leaf index and leaf hash by the sequencer; the
        # signed tree heads with the tree's frontier at each (its hashes
        # concatenated, largest subtree first); the log's size in one row,
        # which the sequencer compares and sets; and key destruction's open
        # intents. The sequencer's queue is a partial index, empty once it has
        # caught up; the auditor's filters each have an index by (value, row id).
        Migration(
            "0006_audit_trail",
            (
                """CREATE TABLE audit_events (
                    row_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    leaf_index BIGINT UNIQUE,
                    entry BYTEA NOT NULL,
                    leaf_hash BYTEA,
                    at TIMESTAMPTZ NOT NULL,
                    actor TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    sensitive BOOLEAN NOT NULL)""",
                "CREATE INDEX audit_unsequenced ON audit_events(row_id) WHERE leaf_index IS NULL",
                "CREATE INDEX audit_by_at ON audit_events(at, row_id)",
                "CREATE INDEX audit_by_actor ON audit_events(actor, row_id)",
                "CREATE INDEX audit_by_operation ON audit_events(operation, row_id)",
                "CREATE INDEX audit_by_subject ON audit_events(subject, row_id)",
                """CREATE TABLE audit_heads (
                    size BIGINT PRIMARY KEY,
                    root BYTEA NOT NULL,
                    at TIMESTAMPTZ NOT NULL,
                    signature BYTEA NOT NULL,
                    frontier BYTEA NOT NULL)""",
                """CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    size BIGINT NOT NULL)""",
                "INSERT INTO audit_log (id, size) VALUES (1, 0)",
                """CREATE TABLE audit_intents (
                    row_id BIGINT PRIMARY KEY,
                    subject_id TEXT NOT NULL)""",
            ),
        ),
        # Consent as evidence (vault.core.consent.store): the events,
        # append-only in the order recorded, what they say beyond purpose and
        # time sealed; each person's standing per purpose, their latest
        # event's, kept with it, so a current state is one row and the people
        # who must consent again one range of consent_standing_by_purpose, in
        # subject order, whose status and policy version are read from the
        # index itself; and the published policy versions.
        Migration(
            "0007_consent",
            (
                """CREATE TABLE consent_events (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    event_id TEXT NOT NULL UNIQUE,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    purpose TEXT NOT NULL,
                    status TEXT NOT NULL,
                    given_at TIMESTAMPTZ NOT NULL,
                    recorded_at TIMESTAMPTZ NOT NULL,
                    policy_version TEXT NOT NULL,
                    policy_seq INTEGER NOT NULL,
                    expires_at TIMESTAMPTZ,
                    key_id TEXT NOT NULL,
                    sealed BYTEA NOT NULL)""",
                "CREATE INDEX consent_events_by_subject ON consent_events(subject_id, seq)",
                """CREATE TABLE consent_standing (
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    purpose TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    given_at TIMESTAMPTZ NOT NULL,
                    policy_version TEXT NOT NULL,
                    policy_seq INTEGER NOT NULL,
                    expires_at TIMESTAMPTZ,
                    PRIMARY KEY (subject_id, purpose))""",
                "CREATE INDEX consent_standing_by_purpose "
                "ON consent_standing(purpose, subject_id, status, policy_seq)",
                """CREATE TABLE policy_versions (
                    version TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL UNIQUE,
                    effective_from DATE NOT NULL,
                    published_at TIMESTAMPTZ NOT NULL,
                    published_by TEXT NOT NULL,
                    text_sha256 TEXT NOT NULL,
                    url TEXT NOT NULL,
                    text TEXT NOT NULL,
                    changed_purposes TEXT[] NOT NULL,
                    material_purposes TEXT[] NOT NULL,
                    summary TEXT NOT NULL)""",
            ),
        ),
        # Consent in effect: the restrictions and objections
        # (vault.core.consent.store), their kind, purposes and times in the
        # clear for the checks every read makes, the rest sealed; a person's
        # found by subject in the order recorded, and those in effect (few)
        # through a partial index, so a contact stream reads them once without
        # passing the lifted and overridden ones. The records found by purpose,
        # each holder once in subject order, for the people a purpose resting
        # on another basis may contact. A token's default purpose, for an
        # integrator's reads that name none ('' for none, as every earlier
        # token has).
        Migration(
            "0008_consent_in_effect",
            (
                """CREATE TABLE processing_limits (
                    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    limit_id TEXT NOT NULL UNIQUE,
                    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
                    kind TEXT NOT NULL,
                    purposes TEXT[] NOT NULL,
                    recorded_at TIMESTAMPTZ NOT NULL,
                    lifted_at TIMESTAMPTZ,
                    overridden_at TIMESTAMPTZ,
                    key_id TEXT NOT NULL,
                    sealed BYTEA NOT NULL)""",
                "CREATE INDEX processing_limits_by_subject ON processing_limits(subject_id, seq)",
                "CREATE INDEX processing_limits_in_effect ON processing_limits(seq) "
                "WHERE lifted_at IS NULL AND overridden_at IS NULL",
                "CREATE INDEX records_by_purpose ON records(purpose, subject_id)",
                "ALTER TABLE api_tokens ADD COLUMN default_purpose TEXT NOT NULL DEFAULT ''",
            ),
        ),
    ),
)


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
        # Data keys per (subject, category, purpose), so one purpose's records
        # can be shredded while the category's others stay. Today's keys move
        # across with purpose '' and `legacy_wrap` set: their wraps' associated
        # data names no purpose, until the vault's upgrade step (which has the
        # keys) re-wraps them and gives each record category's key its purpose.
        # The partial index finds those left, so once none is, the check at
        # each opening reads an empty index.
        Migration(
            "0002_data_keys_by_purpose",
            (
                """CREATE TABLE data_keys (
                    subject_id TEXT NOT NULL
                        REFERENCES subject_keys(subject_id) ON DELETE CASCADE,
                    category TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    wrapped BYTEA NOT NULL,
                    legacy_wrap BOOLEAN NOT NULL DEFAULT false,
                    PRIMARY KEY (subject_id, category, purpose))""",
                """INSERT INTO data_keys
                    (subject_id, category, purpose, key_id, wrapped, legacy_wrap)
                    SELECT subject_id, category, '', key_id, wrapped, true FROM category_keys""",
                "DROP TABLE category_keys",
                "CREATE INDEX data_keys_legacy ON data_keys(subject_id, category, purpose) "
                "WHERE legacy_wrap",
            ),
        ),
        # The lowest KEK version a key may be stored under, raised by a
        # retirement before the retired keys leave the keyring; the lock that
        # lets one process at a time rotate; the keys found by KEK version.
        Migration(
            "0003_kek_floor",
            (
                """CREATE TABLE kek_floor (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    version INTEGER NOT NULL)""",
                "INSERT INTO kek_floor (id, version) VALUES (1, 0)",
                """CREATE TABLE kek_rotation (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    owner TEXT NOT NULL,
                    until TIMESTAMPTZ NOT NULL)""",
                "CREATE INDEX subject_keys_by_kek_version ON subject_keys(kek_version)",
                "CREATE INDEX job_keys_by_kek_version ON job_keys(kek_version)",
            ),
        ),
        # Keys of the vault's own, by name (the API tokens' hashing key),
        # wrapped under the KEK and found by KEK version like the others, so a
        # rotation re-wraps them and a retirement counts them.
        Migration(
            "0004_vault_keys",
            (
                """CREATE TABLE vault_keys (
                    name TEXT PRIMARY KEY,
                    kek_version INTEGER NOT NULL,
                    wrapped BYTEA NOT NULL)""",
                "CREATE INDEX vault_keys_by_kek_version ON vault_keys(kek_version)",
            ),
        ),
    ),
)
