"""Consent histories, policy versions, restrictions and objections on SQLite,
in the record database (vault.core.consent.store says what is kept and why),
in the tables of migrations 0014 and 0015: the events append-only, each
person's standing per purpose upserted with them, the published policy
versions, the processing limits.

Times are UTC ISO text with microseconds (moments.py), a policy version's
effective date ISO text, its purposes and a limit's JSON arrays.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from vault.core.consent.model import STANDING, PolicyVersion
from vault.core.consent.store import ConsentRow, LimitRow, StandingRow
from vault.core.model import SubjectState
from vault.storage.sqlite.moments import as_moment, as_text

_EVENT_COLUMNS = (
    "event_id, subject_id, purpose, status, given_at, recorded_at, policy_version, "
    "policy_seq, expires_at, key_id, sealed, seq"
)
_STANDING_COLUMNS = (
    "c.subject_id, c.purpose, c.event_id, c.status, c.given_at, c.policy_version, "
    "c.policy_seq, c.expires_at, s.protected_identity"
)
_LIMIT_COLUMNS = (
    "l.limit_id, l.subject_id, l.kind, l.purposes, l.recorded_at, l.lifted_at, "
    "l.overridden_at, l.key_id, l.sealed, l.seq"
)
_VERSION_COLUMNS = (
    "version, seq, effective_from, published_at, published_by, text_sha256, url, text, "
    "changed_purposes, material_purposes, summary"
)
# The statuses after which consent stands, as parameters: the store keeps
# whichever statuses the core gives it and decides nothing of them.
_STANDING_STATUSES = sorted(status.value for status in STANDING)
_STANDING_MARKS = ", ".join("?" * len(_STANDING_STATUSES))

_Conn = Callable[[], sqlite3.Connection]


def _event(row: tuple[Any, ...]) -> ConsentRow:
    (
        event_id,
        subject_id,
        purpose,
        status,
        given,
        recorded,
        version,
        policy_seq,
        expires,
        key_id,
        sealed,
        seq,
    ) = row
    return ConsentRow(
        event_id,
        subject_id,
        purpose,
        status,
        as_moment(given),
        as_moment(recorded),
        version,
        policy_seq,
        as_moment(expires),
        key_id,
        bytes(sealed),
        seq,
    )


def _standing(row: tuple[Any, ...]) -> StandingRow:
    subject_id, purpose, event_id, status, given, version, policy_seq, expires, protected = row
    return StandingRow(
        subject_id,
        purpose,
        event_id,
        status,
        as_moment(given),
        version,
        policy_seq,
        as_moment(expires),
        bool(protected),
    )


def _limit(row: tuple[Any, ...]) -> LimitRow:
    limit_id, subject_id, kind, purposes, recorded, lifted, overridden, key_id, sealed, seq = row
    return LimitRow(
        limit_id,
        subject_id,
        kind,
        tuple(json.loads(purposes)),
        as_moment(recorded),
        as_moment(lifted),
        as_moment(overridden),
        key_id,
        bytes(sealed),
        seq,
    )


def _version(row: tuple[Any, ...]) -> PolicyVersion:
    (
        version,
        seq,
        effective,
        published,
        published_by,
        text_sha256,
        url,
        text,
        changed,
        material,
        summary,
    ) = row
    return PolicyVersion(
        version=version,
        seq=seq,
        effective_from=dt.date.fromisoformat(effective),
        published_at=as_moment(published),
        published_by=published_by,
        text_sha256=text_sha256,
        url=url,
        text=text,
        changed_purposes=tuple(json.loads(changed)),
        material_purposes=tuple(json.loads(material)),
        summary=summary,
    )


class SQLiteConsentStore:
    """The reads, over the connection `conn()` gives (this thread's, outside a
    transaction; the write transaction's, inside one)."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    def events(
        self, subject_id: str, purpose: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[ConsentRow]:
        # Through consent_events_by_subject; a subject has few events, so one
        # purpose's are picked out of the subject's range.
        rows = self._conn().execute(
            f"SELECT {_EVENT_COLUMNS} FROM consent_events "
            "WHERE subject_id = ? AND seq > ? AND (? IS NULL OR purpose = ?) "
            "ORDER BY seq LIMIT ?",
            (subject_id, after_seq, purpose, purpose, limit),
        )
        return [_event(row) for row in rows]

    def events_named(self, subject_id: str, event_ids: Sequence[str]) -> list[ConsentRow]:
        # Each id by the event_id index (a few: a person's latest per purpose);
        # the subject checked on the row, so another's event is never given.
        if not event_ids:
            return []
        marks = ", ".join("?" * len(event_ids))
        rows = self._conn().execute(
            f"SELECT {_EVENT_COLUMNS} FROM consent_events "
            f"WHERE subject_id = ? AND event_id IN ({marks}) ORDER BY seq",
            (subject_id, *event_ids),
        )
        return [_event(row) for row in rows]

    def standing(self, subject_id: str) -> list[StandingRow]:
        rows = self._conn().execute(
            f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
            "JOIN subjects s ON s.subject_id = c.subject_id "
            "WHERE c.subject_id = ? ORDER BY c.purpose",
            (subject_id,),
        )
        return [_standing(row) for row in rows]

    def stale(
        self, purpose: str, below_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        # A range of consent_standing_by_purpose in subject order, its status and
        # policy version checked in the index itself; each match's subject by
        # its key. A page costs the rows of the purpose it passes. The page's
        # start is given for subjects too: a planner carries no inequality
        # across a join, and a merge join would read every subject before it.
        rows = self._conn().execute(
            f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
            "JOIN subjects s ON s.subject_id = c.subject_id "
            f"WHERE c.purpose = ? AND c.subject_id > ? AND c.status IN ({_STANDING_MARKS}) "
            "AND c.policy_seq < ? AND s.state = ? AND s.subject_id > ? "
            "ORDER BY c.subject_id LIMIT ?",
            (
                purpose,
                after_subject,
                *_STANDING_STATUSES,
                below_policy_seq,
                SubjectState.ACTIVE.value,
                after_subject,
                limit,
            ),
        )
        return [_standing(row) for row in rows]

    def standing_page(
        self, purpose: str, at_least_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        # stale()'s range, the other side of the policy version: a contact
        # stream's page is the purpose's rows it passes, each subject by its key.
        rows = self._conn().execute(
            f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
            "JOIN subjects s ON s.subject_id = c.subject_id "
            f"WHERE c.purpose = ? AND c.subject_id > ? AND c.status IN ({_STANDING_MARKS}) "
            "AND c.policy_seq >= ? AND s.state = ? AND s.subject_id > ? "
            "ORDER BY c.subject_id LIMIT ?",
            (
                purpose,
                after_subject,
                *_STANDING_STATUSES,
                at_least_policy_seq,
                SubjectState.ACTIVE.value,
                after_subject,
                limit,
            ),
        )
        return [_standing(row) for row in rows]

    def limits(self, subject_id: str) -> list[LimitRow]:
        rows = self._conn().execute(
            f"SELECT {_LIMIT_COLUMNS} FROM processing_limits l WHERE l.subject_id = ? "
            "ORDER BY l.seq",
            (subject_id,),
        )
        return [_limit(row) for row in rows]

    def limits_in_effect(self) -> list[LimitRow]:
        # The partial index processing_limits_in_effect, in seq order: the
        # lifted and overridden, however many, are never passed.
        rows = self._conn().execute(
            f"SELECT {_LIMIT_COLUMNS} FROM processing_limits l "
            "JOIN subjects s ON s.subject_id = l.subject_id "
            "WHERE l.lifted_at IS NULL AND l.overridden_at IS NULL AND s.state = ? "
            "ORDER BY l.seq",
            (SubjectState.ACTIVE.value,),
        )
        return [_limit(row) for row in rows]

    def policy_versions(self) -> list[PolicyVersion]:
        rows = self._conn().execute(f"SELECT {_VERSION_COLUMNS} FROM policy_versions ORDER BY seq")
        return [_version(row) for row in rows]

    def policy_version(self, version: str) -> PolicyVersion | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_VERSION_COLUMNS} FROM policy_versions WHERE version = ?", (version,)
            )
            .fetchone()
        )
        return _version(row) if row else None


class SQLiteConsentWrites(SQLiteConsentStore):
    """The writes, inside a write transaction (`Transaction.consents`)."""

    def append(self, rows: list[ConsentRow]) -> None:
        conn = self._conn()
        # executemany keeps the list's order: seq rises with it, and of two
        # rows for one (subject, purpose) the later one's upsert stands.
        conn.executemany(
            "INSERT INTO consent_events (event_id, subject_id, purpose, status, given_at, "
            "recorded_at, policy_version, policy_seq, expires_at, key_id, sealed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    row.event_id,
                    row.subject_id,
                    row.purpose,
                    str(row.status),
                    as_text(row.given_at),
                    as_text(row.recorded_at),
                    row.policy_version,
                    row.policy_seq,
                    as_text(row.expires_at),
                    row.key_id,
                    row.sealed,
                )
                for row in rows
            ],
        )
        conn.executemany(
            "INSERT INTO consent_standing (subject_id, purpose, event_id, status, given_at, "
            "policy_version, policy_seq, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subject_id, purpose) DO UPDATE SET event_id = excluded.event_id, "
            "status = excluded.status, given_at = excluded.given_at, "
            "policy_version = excluded.policy_version, policy_seq = excluded.policy_seq, "
            "expires_at = excluded.expires_at",
            [
                (
                    row.subject_id,
                    row.purpose,
                    row.event_id,
                    str(row.status),
                    as_text(row.given_at),
                    row.policy_version,
                    row.policy_seq,
                    as_text(row.expires_at),
                )
                for row in rows
            ],
        )

    def delete_subject(self, subject_id: str) -> int:
        conn = self._conn()
        conn.execute("DELETE FROM processing_limits WHERE subject_id = ?", (subject_id,))
        conn.execute("DELETE FROM consent_standing WHERE subject_id = ?", (subject_id,))
        deleted: int = conn.execute(
            "DELETE FROM consent_events WHERE subject_id = ?", (subject_id,)
        ).rowcount
        return deleted

    def insert_limit(self, row: LimitRow) -> None:
        self._conn().execute(
            "INSERT INTO processing_limits (limit_id, subject_id, kind, purposes, recorded_at, "
            "lifted_at, overridden_at, key_id, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.limit_id,
                row.subject_id,
                str(row.kind),
                json.dumps(list(row.purposes)),
                as_text(row.recorded_at),
                as_text(row.lifted_at),
                as_text(row.overridden_at),
                row.key_id,
                row.sealed,
            ),
        )

    def update_limit(self, row: LimitRow) -> bool:
        # In effect is read from the stored row, in the statement itself: a
        # limit lifted or overridden once stays as it was then. The key named
        # with the sealed part is the one it is sealed under.
        updated: int = (
            self._conn()
            .execute(
                "UPDATE processing_limits SET lifted_at = ?, overridden_at = ?, key_id = ?, "
                "sealed = ? WHERE limit_id = ? AND subject_id = ? "
                "AND lifted_at IS NULL AND overridden_at IS NULL",
                (
                    as_text(row.lifted_at),
                    as_text(row.overridden_at),
                    row.key_id,
                    row.sealed,
                    row.limit_id,
                    row.subject_id,
                ),
            )
            .rowcount
        )
        return updated == 1

    def insert_policy_version(self, version: PolicyVersion) -> bool:
        # Only a taken name is answered with False: a taken seq is the caller's
        # error (it numbers versions under the write lock) and raises.
        inserted: int = (
            self._conn()
            .execute(
                f"INSERT INTO policy_versions ({_VERSION_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
                (
                    version.version,
                    version.seq,
                    version.effective_from.isoformat(),
                    as_text(version.published_at),
                    version.published_by,
                    version.text_sha256,
                    version.url,
                    version.text,
                    json.dumps(list(version.changed_purposes)),
                    json.dumps(list(version.material_purposes)),
                    version.summary,
                ),
            )
            .rowcount
        )
        return inserted == 1
