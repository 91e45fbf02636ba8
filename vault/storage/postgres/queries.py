"""The record database's queries on PostgreSQL, an aggregate at a time: subjects
and their identities, records and their counts, remembered requests, erasure
receipts. Each reads over the connection `connect()` gives (a pooled one, or a
write transaction's), and its Writes subclass writes inside a transaction,
taking its row locks in the order records.py's docstring gives. Times come
back in UTC, whatever the session's time zone.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg

from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.storage.base import ClearRoles, IdentityRow, RecordRow, RememberedRequest, SubjectRow

_RECORD_COLUMNS = (
    "r.seq, r.record_id, r.subject_id, r.category, r.purpose, r.legal_basis, "
    "r.source_system, r.key_id, r.sealed_payload, r.sealed_content, r.created_at, r.updated_at"
)

# A connection for one read (from the pool) or the write transaction's own.
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def within_transaction(conn: psycopg.Connection[Any]) -> Connect:
    return lambda: nullcontext(conn)


def _utc(moment: dt.datetime) -> dt.datetime:
    # psycopg gives a TIMESTAMPTZ in the session's time zone; the core speaks UTC.
    return moment.astimezone(dt.UTC)


def _record_row(row: tuple[Any, ...], subject_state: SubjectState | None = None) -> RecordRow:
    (
        seq,
        record_id,
        subject_id,
        category,
        purpose,
        basis,
        source,
        key_id,
        payload,
        content,
        created,
        updated,
    ) = row
    return RecordRow(
        record_id,
        subject_id,
        category,
        purpose,
        LegalBasis(basis),
        source,
        key_id,
        payload,
        content,
        _utc(created),
        _utc(updated),
        seq,
        subject_state,
    )


def _lock_subjects(conn: psycopg.Connection[Any], subject_ids: list[str]) -> None:
    """Lock the subjects' rows before touching their records or counts, the
    order grouped appends take their locks in (see records.py's docstring).
    Not FOR SHARE: a unit of work that then changed the subject would wait for a
    group sharing the row while that group waited for the counts it holds."""
    conn.execute(
        "SELECT 1 FROM subjects WHERE subject_id = ANY(%s) ORDER BY subject_id FOR NO KEY UPDATE",
        (sorted(set(subject_ids)),),
    )


def insert_rows(conn: psycopg.Connection[Any], rows: list[RecordRow]) -> None:
    """The records, in the order given (their places follow it), and their counts."""
    if not rows:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, sealed_content, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    r.record_id,
                    r.subject_id,
                    r.category,
                    r.purpose,
                    r.legal_basis.value,
                    r.source_system,
                    r.key_id,
                    r.sealed_payload,
                    r.sealed_content,
                    r.created_at,
                    r.updated_at,
                )
                for r in rows
            ],
        )
        added = collections.Counter((r.subject_id, r.category) for r in rows)
        cursor.executemany(
            "INSERT INTO record_counts (subject_id, category, count) VALUES (%s, %s, %s) "
            "ON CONFLICT (subject_id, category) "
            "DO UPDATE SET count = record_counts.count + excluded.count",
            [
                (subject_id, category, added[subject_id, category])
                for subject_id, category in sorted(added)
            ],
        )


class SubjectQueries:
    """Reads of subjects and identities, each over the connection `connect()` gives."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def subject(self, subject_id: str) -> SubjectRow | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT subject_id, state, sealed_roles, protected_identity, created_at, "
                "updated_at FROM subjects WHERE subject_id = %s",
                (subject_id,),
            ).fetchone()
        if row is None:
            return None
        return SubjectRow(
            row[0],
            SubjectState(row[1]),
            None if row[2] is None else bytes(row[2]),
            row[3],
            _utc(row[4]),
            _utc(row[5]),
        )

    def subject_state(self, subject_id: str) -> SubjectState | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT state FROM subjects WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        return SubjectState(row[0]) if row else None

    def subject_ids_in_state(self, state: SubjectState) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT subject_id FROM subjects WHERE state = %s", (state.value,)
            ).fetchall()
        return [row[0] for row in rows]

    def subjects_with_clear_roles(self, limit: int) -> list[ClearRoles]:
        with self._connect() as conn:
            rows = conn.execute(
                # The predicate of subjects_with_clear_roles (migration 0004).
                "SELECT subject_id, state, roles FROM subjects WHERE cardinality(roles) > 0 "
                "LIMIT %s",
                (limit,),
            ).fetchall()
        return [
            ClearRoles(subject_id, SubjectState(state), tuple(roles))
            for subject_id, state, roles in rows
        ]

    def subject_id_by_index(self, blind_index: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT subject_id FROM identities WHERE blind_index = %s", (blind_index,)
            ).fetchone()
        return row[0] if row else None

    def identities(self, subject_id: str) -> list[IdentityRow]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_IDENTITY_COLUMNS} FROM identities "
                "WHERE subject_id = %s ORDER BY position",
                (subject_id,),
            ).fetchall()
        return [_identity(row) for row in rows]

    def identities_not_under(self, index_version: int, after: str, limit: int) -> list[IdentityRow]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_IDENTITY_COLUMNS} FROM identities "
                "WHERE index_version <> %s AND blind_index > %s ORDER BY blind_index LIMIT %s",
                (index_version, after, limit),
            ).fetchall()
        return [_identity(row) for row in rows]

    def index_versions(self) -> dict[int, int]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT index_version, count(*) FROM identities GROUP BY index_version"
            ).fetchall()
        return {int(version): int(count) for version, count in rows}


_IDENTITY_COLUMNS = "blind_index, subject_id, kind, sealed_value, index_version"


def _identity(row: tuple[Any, ...]) -> IdentityRow:
    blind_index, subject_id, kind, sealed, index_version = row
    return IdentityRow(blind_index, subject_id, IdentityKind(kind), sealed, index_version)


class SubjectWrites(SubjectQueries):
    def insert_subject(self, row: SubjectRow) -> None:
        with self._connect() as conn:
            conn.execute(
                # `roles` is blank: they are sealed (migration 0004).
                "INSERT INTO subjects (subject_id, state, roles, sealed_roles, "
                "protected_identity, created_at, updated_at) "
                "VALUES (%s, %s, '{}', %s, %s, %s, %s)",
                (
                    row.subject_id,
                    row.state.value,
                    row.sealed_roles,
                    row.protected_identity,
                    row.created_at,
                    row.updated_at,
                ),
            )

    def update_subject(
        self, subject_id: str, sealed_roles: bytes | None, protected: bool, at: dt.datetime
    ) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE subjects SET roles = '{}', sealed_roles = %s, protected_identity = %s, "
                "updated_at = %s WHERE subject_id = %s",
                (sealed_roles, protected, at, subject_id),
            )

    def seal_clear_roles(
        self, subject_id: str, roles: tuple[str, ...], sealed_roles: bytes | None
    ) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE subjects SET roles = '{}', sealed_roles = %s "
                "WHERE subject_id = %s AND cardinality(roles) > 0 AND roles = %s::text[]",
                (sealed_roles, subject_id, list(roles)),
            )
            return cursor.rowcount == 1

    def touch_subject(self, subject_id: str, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE subjects SET updated_at = %s WHERE subject_id = %s", (at, subject_id)
            )

    def set_subject_state(self, subject_id: str, state: SubjectState, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                # Due for the purge of its new state (migration 0002_subjects_by_state).
                "UPDATE subjects SET state = %s, purge_due = true, updated_at = %s "
                "WHERE subject_id = %s",
                (state.value, at, subject_id),
            )

    def insert_identity(self, row: IdentityRow) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO identities "
                "(blind_index, subject_id, kind, sealed_value, index_version) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (blind_index) DO NOTHING",
                (
                    row.blind_index,
                    row.subject_id,
                    row.kind.value,
                    row.sealed_value,
                    row.index_version,
                ),
            )
            return cursor.rowcount == 1

    def reindex_identity(self, old_blind_index: str, row: IdentityRow) -> bool:
        with self._connect() as conn:
            # Under the unit of work's write lock, so nothing takes the new
            # blind index between this look and the update.
            if row.blind_index != old_blind_index and (
                conn.execute(
                    "SELECT 1 FROM identities WHERE blind_index = %s", (row.blind_index,)
                ).fetchone()
                is not None
            ):
                return False
            # `position` stays, and with it the identity's place.
            return (
                conn.execute(
                    "UPDATE identities SET blind_index = %s, index_version = %s, "
                    "sealed_value = %s WHERE blind_index = %s AND subject_id = %s",
                    (
                        row.blind_index,
                        row.index_version,
                        row.sealed_value,
                        old_blind_index,
                        row.subject_id,
                    ),
                ).rowcount
                == 1
            )

    def delete_identity(self, blind_index: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM identities WHERE blind_index = %s", (blind_index,))

    def delete_identity_of(self, subject_id: str, blind_index: str) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "DELETE FROM identities WHERE blind_index = %s AND subject_id = %s",
                (blind_index, subject_id),
            )
            return cursor.rowcount == 1

    def delete_identities(self, subject_id: str) -> int:
        with self._connect() as conn:
            return conn.execute(
                "DELETE FROM identities WHERE subject_id = %s", (subject_id,)
            ).rowcount


class RecordQueries:
    """Reads of records and their counts."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def record(self, record_id: str) -> RecordRow | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_RECORD_COLUMNS}, s.state FROM records r "
                "JOIN subjects s ON s.subject_id = r.subject_id WHERE r.record_id = %s",
                (record_id,),
            ).fetchone()
        return _record_row(row[:-1], SubjectState(row[-1])) if row else None

    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]:
        with self._connect() as conn:
            if category is None:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records r "
                    "WHERE r.subject_id = %s AND r.seq > %s ORDER BY r.seq LIMIT %s",
                    (subject_id, after_seq, limit),
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records r WHERE r.subject_id = %s "
                    "AND r.category = %s AND r.seq > %s ORDER BY r.seq LIMIT %s",
                    (subject_id, category, after_seq, limit),
                ).fetchall()
        return [_record_row(row) for row in rows]

    def count_records(self, subject_id: str, category: str | None = None) -> int:
        with self._connect() as conn:
            if category is None:
                row = conn.execute(
                    "SELECT coalesce(sum(count), 0) FROM record_counts WHERE subject_id = %s",
                    (subject_id,),
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT coalesce(sum(count), 0) FROM record_counts "
                    "WHERE subject_id = %s AND category = %s",
                    (subject_id, category),
                ).fetchone()
        assert row is not None
        return int(row[0])

    def categories(self, subject_id: str) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT DISTINCT category FROM records WHERE subject_id = %s ORDER BY category",
                (subject_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def purpose_counts(self, subject_id: str, category: str, key_id: str) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT purpose, count(*) FROM records "
                "WHERE subject_id = %s AND category = %s AND key_id = %s GROUP BY purpose",
                (subject_id, category, key_id),
            ).fetchall()
        return {purpose: int(count) for purpose, count in rows}

    def purpose_usage(self) -> list[tuple[str, LegalBasis, str, int]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT purpose, legal_basis, source_system, count(*) FROM records "
                "GROUP BY purpose, legal_basis, source_system"
            ).fetchall()
        # Sorted here, not by the engine's collation, so both engines answer alike.
        counted = sorted((p, basis, source, int(n)) for p, basis, source, n in rows)
        return [(p, LegalBasis(basis), source, n) for p, basis, source, n in counted]

    def records_using(
        self,
        purpose: str,
        legal_basis: LegalBasis,
        source_system: str,
        after_record_id: str = "",
        limit: int = 100,
    ) -> list[tuple[str, str]]:
        # The planner walks the record ids' index from the page's start, or
        # for a use of few records (few pages) reads them by records_by_purpose
        # and sorts the matches.
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT subject_id, record_id FROM records WHERE purpose = %s "
                "AND legal_basis = %s AND source_system = %s AND record_id > %s "
                "ORDER BY record_id LIMIT %s",
                (purpose, legal_basis.value, source_system, after_record_id, limit),
            ).fetchall()
        return [(subject_id, record_id) for subject_id, record_id in rows]

    def purpose_holders(
        self, purpose: str, after_subject: str = "", limit: int = 100
    ) -> list[tuple[str, bool]]:
        # The purpose's records from the page's start in subject order (by
        # records_by_purpose, or for a common purpose by records_by_subject:
        # the planner's call), a holder's next to each other, so grouping them
        # by the subject's key needs no sort. The page's start is given for
        # subjects too, as in the consent store's lists: a planner carries no
        # inequality across a join, and a merge join would read every subject
        # before it.
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT s.subject_id, s.protected_identity FROM records r "
                "JOIN subjects s ON s.subject_id = r.subject_id "
                "WHERE r.purpose = %s AND r.subject_id > %s AND s.state = %s "
                "AND s.subject_id > %s GROUP BY s.subject_id ORDER BY s.subject_id LIMIT %s",
                (purpose, after_subject, SubjectState.ACTIVE.value, after_subject, limit),
            ).fetchall()
        return [(subject_id, protected) for subject_id, protected in rows]


class RecordWrites(RecordQueries):
    def insert_records(self, rows: list[RecordRow]) -> None:
        with self._connect() as conn:
            _lock_subjects(conn, [r.subject_id for r in rows])
            insert_rows(conn, rows)

    def update_record(self, row: RecordRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE records SET purpose = %s, legal_basis = %s, source_system = %s, "
                "key_id = %s, sealed_payload = %s, sealed_content = %s, updated_at = %s "
                "WHERE record_id = %s",
                (
                    row.purpose,
                    row.legal_basis.value,
                    row.source_system,
                    row.key_id,
                    row.sealed_payload,
                    row.sealed_content,
                    row.updated_at,
                    row.record_id,
                ),
            )

    def delete_category_records(
        self, subject_id: str, category: str, purpose: str | None = None
    ) -> int:
        with self._connect() as conn:
            _lock_subjects(conn, [subject_id])
            if purpose is None:
                conn.execute(
                    "DELETE FROM record_counts WHERE subject_id = %s AND category = %s",
                    (subject_id, category),
                )
                return conn.execute(
                    "DELETE FROM records WHERE subject_id = %s AND category = %s",
                    (subject_id, category),
                ).rowcount
            deleted = conn.execute(
                "DELETE FROM records WHERE subject_id = %s AND category = %s AND purpose = %s",
                (subject_id, category, purpose),
            ).rowcount
            # The counts are per category: the category's other purposes stay counted.
            conn.execute(
                "UPDATE record_counts SET count = count - %s "
                "WHERE subject_id = %s AND category = %s",
                (deleted, subject_id, category),
            )
            conn.execute(
                "DELETE FROM record_counts WHERE subject_id = %s AND category = %s AND count <= 0",
                (subject_id, category),
            )
            return int(deleted)


_REQUEST_COLUMNS = (
    "request_hash, key_version, operation, fingerprint, subject_id, result, remembered_at"
)


def _remembered(row: tuple[Any, ...]) -> RememberedRequest:
    request_hash, key_version, operation, fingerprint, subject_id, result, at = row
    return RememberedRequest(
        request_hash,
        key_version,
        operation,
        fingerprint,
        subject_id,
        result,
        None if at is None else _utc(at),
    )


class ReplayQueries:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def remembered(self, request_hashes: Sequence[str]) -> RememberedRequest | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE request_hash = ANY(%s) LIMIT 1",
                (list(request_hashes),),
            ).fetchone()
        return _remembered(row) if row else None

    def requests_in_clear(self, limit: int) -> list[RememberedRequest]:
        with self._connect() as conn:
            rows = conn.execute(
                # The predicate of requests_in_clear (migration 0004).
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE key_version IS NULL LIMIT %s",
                (limit,),
            ).fetchall()
        return [_remembered(row) for row in rows]


class ReplayWrites(ReplayQueries):
    def remember(self, request: RememberedRequest) -> bool:
        with self._connect() as conn:
            return bool(remember_new(conn, [request]))

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None:
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM requests WHERE subject_id = %s AND operation <> ALL(%s)",
                (subject_id, list(keep)),
            )

    def hash_request_in_clear(
        self, request_id: str, request_hash: str, key_version: int, at: dt.datetime
    ) -> bool:
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE requests SET request_hash = %s, key_version = %s, remembered_at = %s "
                "WHERE request_hash = %s AND key_version IS NULL",
                (request_hash, key_version, at, request_id),
            )
            return cursor.rowcount == 1


def remember_new(conn: psycopg.Connection[Any], requests: list[RememberedRequest]) -> set[str]:
    """Remember the requests whose hashes are not taken; the hashes remembered now.
    In order of hash, the order every transaction takes these rows' locks in."""
    if not requests:
        return set()
    ordered = sorted(requests, key=lambda request: request.request_hash)
    rows = conn.execute(
        f"INSERT INTO requests ({_REQUEST_COLUMNS}) "
        "SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::timestamptz[]) "
        "ON CONFLICT (request_hash) DO NOTHING RETURNING request_hash",
        (
            [r.request_hash for r in ordered],
            [r.key_version for r in ordered],
            [r.operation for r in ordered],
            [r.fingerprint for r in ordered],
            [r.subject_id for r in ordered],
            [r.result for r in ordered],
            [r.remembered_at for r in ordered],
        ),
    ).fetchall()
    return {row[0] for row in rows}


def forget_requests(
    conn: psycopg.Connection[Any], remembered_before: dt.datetime, limit: int
) -> int:
    """Up to `limit` of the requests remembered before the time, oldest first
    (through requests_by_age); rows another transaction holds are passed by."""
    return conn.execute(
        "DELETE FROM requests WHERE request_hash = ANY(ARRAY("
        "SELECT request_hash FROM requests WHERE remembered_at < %s "
        "ORDER BY remembered_at LIMIT %s FOR UPDATE SKIP LOCKED))",
        (remembered_before, limit),
    ).rowcount


class ReceiptQueries:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def erasure_receipt(self, subject_id: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT receipt FROM erasures WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        return row[0] if row else None


class ReceiptWrites(ReceiptQueries):
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: dt.datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO erasures (subject_id, erased_at, receipt) VALUES (%s, %s, %s)",
                (subject_id, at, receipt),
            )
