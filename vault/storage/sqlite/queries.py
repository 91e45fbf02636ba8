"""The record database's queries on SQLite, an aggregate at a time: subjects and
their identities, records and their counts, remembered requests, erasure
receipts. Each reads over the connection it is given (this thread's, or a write
transaction's), and its Writes subclass writes inside a transaction. Times are
UTC ISO text with microseconds, so they sort as the moments do.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.storage.base import ClearRoles, IdentityRow, RecordRow, RememberedRequest, SubjectRow
from vault.storage.sqlite.moments import as_moment, as_text

_RECORD_COLUMNS = (
    "seq, record_id, subject_id, category, purpose, legal_basis, source_system, key_id, "
    "sealed_payload, sealed_content, r.created_at, r.updated_at"
)


def _record_row(row: tuple, subject_state: SubjectState | None = None) -> RecordRow:
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
        as_moment(created),
        as_moment(updated),
        seq,
        subject_state,
    )


_Conn = Callable[[], sqlite3.Connection]


def fixed_connection(conn: sqlite3.Connection) -> _Conn:
    return lambda: conn


class SubjectQueries:
    """Reads of subjects and identities over the connection `conn()` gives
    (this thread's, or the write transaction's)."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def subject(self, subject_id: str) -> SubjectRow | None:
        row = (
            self._conn()
            .execute(
                "SELECT subject_id, state, sealed_roles, protected_identity, created_at, "
                "updated_at FROM subjects WHERE subject_id = ?",
                (subject_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return SubjectRow(
            row[0],
            SubjectState(row[1]),
            row[2],
            bool(row[3]),
            as_moment(row[4]),
            as_moment(row[5]),
        )

    def subject_state(self, subject_id: str) -> SubjectState | None:
        row = (
            self._conn()
            .execute("SELECT state FROM subjects WHERE subject_id = ?", (subject_id,))
            .fetchone()
        )
        return SubjectState(row[0]) if row else None

    def subject_ids_in_state(self, state: SubjectState) -> list[str]:
        rows = self._conn().execute(
            "SELECT subject_id FROM subjects WHERE state = ?", (state.value,)
        )
        return [row[0] for row in rows]

    def subjects_with_clear_roles(self, limit: int) -> list[ClearRoles]:
        rows = self._conn().execute(
            # The predicate of subjects_with_clear_roles (migration 0011).
            "SELECT subject_id, state, roles FROM subjects WHERE roles <> '[]' LIMIT ?",
            (limit,),
        )
        return [
            ClearRoles(subject_id, SubjectState(state), tuple(json.loads(roles)))
            for subject_id, state, roles in rows
        ]

    def subject_id_by_index(self, blind_index: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT subject_id FROM identities WHERE blind_index = ?", (blind_index,))
            .fetchone()
        )
        return row[0] if row else None

    def identities(self, subject_id: str) -> list[IdentityRow]:
        rows = self._conn().execute(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE subject_id = ? ORDER BY rowid",
            (subject_id,),
        )
        return [_identity(row) for row in rows]

    def identities_not_under(self, index_version: int, after: str, limit: int) -> list[IdentityRow]:
        # Two ranges of identities_by_index_version, either side of the version.
        rows = self._conn().execute(
            f"SELECT {_IDENTITY_COLUMNS} FROM ("
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE index_version < ? "
            "AND blind_index > ? UNION ALL "
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE index_version > ? "
            "AND blind_index > ?) ORDER BY blind_index LIMIT ?",
            (index_version, after, index_version, after, limit),
        )
        return [_identity(row) for row in rows]

    def index_versions(self) -> dict[int, int]:
        rows = self._conn().execute(
            "SELECT index_version, count(*) FROM identities GROUP BY index_version"
        )
        return {int(version): int(count) for version, count in rows}


_IDENTITY_COLUMNS = "blind_index, subject_id, kind, sealed_value, index_version"


def _identity(row: tuple[Any, ...]) -> IdentityRow:
    blind_index, subject_id, kind, sealed, index_version = row
    return IdentityRow(blind_index, subject_id, IdentityKind(kind), sealed, index_version)


class SubjectWrites(SubjectQueries):
    def insert_subject(self, row: SubjectRow) -> None:
        self._conn().execute(
            # `roles` is blank: they are sealed (migration 0011).
            "INSERT INTO subjects (subject_id, state, roles, sealed_roles, protected_identity, "
            "created_at, updated_at) VALUES (?, ?, '[]', ?, ?, ?, ?)",
            (
                row.subject_id,
                row.state.value,
                row.sealed_roles,
                int(row.protected_identity),
                as_text(row.created_at),
                as_text(row.updated_at),
            ),
        )

    def update_subject(
        self, subject_id: str, sealed_roles: bytes | None, protected: bool, at: dt.datetime
    ) -> None:
        self._conn().execute(
            "UPDATE subjects SET roles = '[]', sealed_roles = ?, protected_identity = ?, "
            "updated_at = ? WHERE subject_id = ?",
            (sealed_roles, int(protected), as_text(at), subject_id),
        )

    def seal_clear_roles(
        self, subject_id: str, roles: tuple[str, ...], sealed_roles: bytes | None
    ) -> bool:
        cursor = self._conn().execute(
            "UPDATE subjects SET roles = '[]', sealed_roles = ? "
            "WHERE subject_id = ? AND roles <> '[]' AND roles = ?",
            (sealed_roles, subject_id, json.dumps(list(roles))),
        )
        return cursor.rowcount == 1

    def touch_subject(self, subject_id: str, at: dt.datetime) -> None:
        self._conn().execute(
            "UPDATE subjects SET updated_at = ? WHERE subject_id = ?", (as_text(at), subject_id)
        )

    def set_subject_state(self, subject_id: str, state: SubjectState, at: dt.datetime) -> None:
        self._conn().execute(
            # Due for the purge of its new state (migration 0009_subjects_by_state).
            "UPDATE subjects SET state = ?, purge_due = 1, updated_at = ? WHERE subject_id = ?",
            (state.value, as_text(at), subject_id),
        )

    def insert_identity(self, row: IdentityRow) -> bool:
        cursor = self._conn().execute(
            "INSERT OR IGNORE INTO identities "
            "(blind_index, subject_id, kind, sealed_value, index_version) VALUES (?, ?, ?, ?, ?)",
            (row.blind_index, row.subject_id, row.kind.value, row.sealed_value, row.index_version),
        )
        return cursor.rowcount == 1

    def reindex_identity(self, old_blind_index: str, row: IdentityRow) -> bool:
        # The rowid stays, and with it the identity's place; OR IGNORE leaves
        # the row as it was when another holds the new blind index.
        cursor = self._conn().execute(
            "UPDATE OR IGNORE identities SET blind_index = ?, index_version = ?, sealed_value = ? "
            "WHERE blind_index = ? AND subject_id = ?",
            (row.blind_index, row.index_version, row.sealed_value, old_blind_index, row.subject_id),
        )
        return cursor.rowcount == 1

    def delete_identity(self, blind_index: str) -> None:
        self._conn().execute("DELETE FROM identities WHERE blind_index = ?", (blind_index,))

    def delete_identity_of(self, subject_id: str, blind_index: str) -> bool:
        cursor = self._conn().execute(
            "DELETE FROM identities WHERE blind_index = ? AND subject_id = ?",
            (blind_index, subject_id),
        )
        return cursor.rowcount == 1

    def delete_identities(self, subject_id: str) -> int:
        return (
            self._conn()
            .execute("DELETE FROM identities WHERE subject_id = ?", (subject_id,))
            .rowcount
        )


class RecordQueries:
    """Reads of records and their counts."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def record(self, record_id: str) -> RecordRow | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_RECORD_COLUMNS}, s.state FROM records r JOIN subjects s USING (subject_id) "
                "WHERE r.record_id = ?",
                (record_id,),
            )
            .fetchone()
        )
        return _record_row(row[:-1], SubjectState(row[-1])) if row else None

    def records_page(
        self, subject_id: str, category: str | None, after_seq: int, limit: int
    ) -> list[RecordRow]:
        if category is None:
            sql = (
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE subject_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?"
            )
            args: tuple = (subject_id, after_seq, limit)
        else:
            sql = (
                f"SELECT {_RECORD_COLUMNS} FROM records r WHERE subject_id = ? AND category = ? "
                "AND seq > ? ORDER BY seq LIMIT ?"
            )
            args = (subject_id, category, after_seq, limit)
        return [_record_row(row) for row in self._conn().execute(sql, args)]

    def count_records(self, subject_id: str, category: str | None = None) -> int:
        if category is None:
            row = self._conn().execute(
                "SELECT coalesce(sum(count), 0) FROM record_counts WHERE subject_id = ?",
                (subject_id,),
            )
        else:
            row = self._conn().execute(
                "SELECT coalesce(sum(count), 0) FROM record_counts "
                "WHERE subject_id = ? AND category = ?",
                (subject_id, category),
            )
        return int(row.fetchone()[0])

    def categories(self, subject_id: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT DISTINCT category FROM records WHERE subject_id = ? ORDER BY category",
            (subject_id,),
        )
        return [row[0] for row in rows]

    def purpose_counts(self, subject_id: str, category: str, key_id: str) -> dict[str, int]:
        rows = self._conn().execute(
            "SELECT purpose, count(*) FROM records "
            "WHERE subject_id = ? AND category = ? AND key_id = ? GROUP BY purpose",
            (subject_id, category, key_id),
        )
        return {purpose: int(count) for purpose, count in rows}

    def purpose_usage(self) -> list[tuple[str, LegalBasis, str, int]]:
        rows = self._conn().execute(
            "SELECT purpose, legal_basis, source_system, count(*) FROM records "
            "GROUP BY purpose, legal_basis, source_system"
        )
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
        # Each page walks the record ids' index from its start, so the pages of
        # a use read the table once between them. The unary + keeps the planner
        # off records_by_purpose, which it would take with no statistics to
        # tell it otherwise: every page would read all of the purpose's records
        # and sort them.
        rows = self._conn().execute(
            "SELECT subject_id, record_id FROM records WHERE +purpose = ? AND legal_basis = ? "
            "AND source_system = ? AND record_id > ? ORDER BY record_id LIMIT ?",
            (purpose, legal_basis.value, source_system, after_record_id, limit),
        )
        return [(subject_id, record_id) for subject_id, record_id in rows]

    def purpose_holders(
        self, purpose: str, after_subject: str = "", limit: int = 100
    ) -> list[tuple[str, bool]]:
        # A range of records_by_purpose in subject order, a holder's records
        # next to each other, so grouping them needs no sort; each holder's
        # subject by its key. The page's start is given for subjects too, as
        # in the consent store's lists: a planner carries no inequality across
        # a join.
        rows = self._conn().execute(
            "SELECT r.subject_id, s.protected_identity FROM records r "
            "JOIN subjects s ON s.subject_id = r.subject_id "
            "WHERE r.purpose = ? AND r.subject_id > ? AND s.state = ? AND s.subject_id > ? "
            "GROUP BY r.subject_id ORDER BY r.subject_id LIMIT ?",
            (purpose, after_subject, SubjectState.ACTIVE.value, after_subject, limit),
        )
        return [(subject_id, bool(protected)) for subject_id, protected in rows]


class RecordWrites(RecordQueries):
    def insert_records(self, rows: list[RecordRow]) -> None:
        conn = self._conn()
        conn.executemany(
            "INSERT INTO records (record_id, subject_id, category, purpose, legal_basis, "
            "source_system, key_id, sealed_payload, sealed_content, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    as_text(r.created_at),
                    as_text(r.updated_at),
                )
                for r in rows
            ],
        )
        added = collections.Counter((r.subject_id, r.category) for r in rows)
        conn.executemany(
            "INSERT INTO record_counts (subject_id, category, count) VALUES (?, ?, ?) "
            "ON CONFLICT (subject_id, category) DO UPDATE SET count = count + excluded.count",
            [(subject_id, category, count) for (subject_id, category), count in added.items()],
        )

    def update_record(self, row: RecordRow) -> None:
        self._conn().execute(
            "UPDATE records SET purpose = ?, legal_basis = ?, source_system = ?, key_id = ?, "
            "sealed_payload = ?, sealed_content = ?, updated_at = ? WHERE record_id = ?",
            (
                row.purpose,
                row.legal_basis.value,
                row.source_system,
                row.key_id,
                row.sealed_payload,
                row.sealed_content,
                as_text(row.updated_at),
                row.record_id,
            ),
        )

    def delete_category_records(
        self, subject_id: str, category: str, purpose: str | None = None
    ) -> int:
        conn = self._conn()
        if purpose is None:
            conn.execute(
                "DELETE FROM record_counts WHERE subject_id = ? AND category = ?",
                (subject_id, category),
            )
            return conn.execute(
                "DELETE FROM records WHERE subject_id = ? AND category = ?", (subject_id, category)
            ).rowcount
        deleted = conn.execute(
            "DELETE FROM records WHERE subject_id = ? AND category = ? AND purpose = ?",
            (subject_id, category, purpose),
        ).rowcount
        # The counts are per category: the category's other purposes stay counted.
        conn.execute(
            "UPDATE record_counts SET count = count - ? WHERE subject_id = ? AND category = ?",
            (deleted, subject_id, category),
        )
        conn.execute(
            "DELETE FROM record_counts WHERE subject_id = ? AND category = ? AND count <= 0",
            (subject_id, category),
        )
        return int(deleted)


_REQUEST_COLUMNS = (
    "request_hash, key_version, operation, fingerprint, subject_id, result, remembered_at"
)


def _remembered(row: tuple) -> RememberedRequest:
    request_hash, key_version, operation, fingerprint, subject_id, result, at = row
    return RememberedRequest(
        request_hash,
        key_version,
        operation,
        fingerprint,
        subject_id,
        result,
        None if at is None else as_moment(at),
    )


class ReplayQueries:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def remembered(self, request_hashes: Sequence[str]) -> RememberedRequest | None:
        marks = ", ".join("?" * len(request_hashes))
        row = (
            self._conn()
            .execute(
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE request_hash IN ({marks}) LIMIT 1",
                tuple(request_hashes),
            )
            .fetchone()
        )
        return _remembered(row) if row else None

    def requests_in_clear(self, limit: int) -> list[RememberedRequest]:
        rows = self._conn().execute(
            # The predicate of requests_in_clear (migration 0011).
            f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE key_version IS NULL LIMIT ?",
            (limit,),
        )
        return [_remembered(row) for row in rows]


class ReplayWrites(ReplayQueries):
    def remember(self, request: RememberedRequest) -> bool:
        cursor = self._conn().execute(
            f"INSERT OR IGNORE INTO requests ({_REQUEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request.request_hash,
                request.key_version,
                request.operation,
                request.fingerprint,
                request.subject_id,
                request.result,
                None if request.remembered_at is None else as_text(request.remembered_at),
            ),
        )
        return cursor.rowcount == 1

    def forget_requests_of(self, subject_id: str, keep: tuple[str, ...]) -> None:
        marks = ", ".join("?" * len(keep))
        self._conn().execute(
            f"DELETE FROM requests WHERE subject_id = ? AND operation NOT IN ({marks})",
            (subject_id, *keep),
        )

    def hash_request_in_clear(
        self, request_id: str, request_hash: str, key_version: int, at: dt.datetime
    ) -> bool:
        cursor = self._conn().execute(
            "UPDATE requests SET request_hash = ?, key_version = ?, remembered_at = ? "
            "WHERE request_hash = ? AND key_version IS NULL",
            (request_hash, key_version, as_text(at), request_id),
        )
        return cursor.rowcount == 1


def forget_requests(conn: sqlite3.Connection, remembered_before: dt.datetime, limit: int) -> int:
    """Up to `limit` of the requests remembered before the time, oldest first
    (through requests_by_age)."""
    cursor = conn.execute(
        "DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests "
        "WHERE remembered_at < ? ORDER BY remembered_at LIMIT ?)",
        (as_text(remembered_before), limit),
    )
    return cursor.rowcount


class ReceiptQueries:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def erasure_receipt(self, subject_id: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT receipt FROM erasures WHERE subject_id = ?", (subject_id,))
            .fetchone()
        )
        return row[0] if row else None


class ReceiptWrites(ReceiptQueries):
    def save_erasure_receipt(self, subject_id: str, receipt: str, at: dt.datetime) -> None:
        self._conn().execute(
            "INSERT INTO erasures (subject_id, erased_at, receipt) VALUES (?, ?, ?)",
            (subject_id, as_text(at), receipt),
        )
