"""Consent histories, policy versions, restrictions and objections on
PostgreSQL, in the record database (vault.core.consent.store says what is kept
and why), in the tables of migrations 0007 and 0008: the events append-only,
each person's standing per purpose upserted with them, the published policy
versions, the processing limits.

Only the unit of work writes them, under the record database's write lock
(records.py), so two recordings for one person never interleave; the foreign
keys on subjects take a KEY SHARE lock on the subject's row, which neither a
group's FOR SHARE nor a unit of work's FOR NO KEY UPDATE waits for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg

from vault.core.consent.model import STANDING, PolicyVersion
from vault.core.consent.store import ConsentRow, LimitRow, StandingRow
from vault.core.model import SubjectState
from vault.storage.postgres.queries import Connect

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
# The statuses after which consent stands, as a parameter: the store keeps
# whichever statuses the core gives it and decides nothing of them.
_STANDING_STATUSES = sorted(status.value for status in STANDING)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    # psycopg gives a TIMESTAMPTZ in the session's time zone; the core speaks UTC.
    return None if moment is None else moment.astimezone(dt.UTC)


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
        given.astimezone(dt.UTC),
        recorded.astimezone(dt.UTC),
        version,
        policy_seq,
        _utc(expires),
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
        given.astimezone(dt.UTC),
        version,
        policy_seq,
        _utc(expires),
        protected,
    )


def _limit(row: tuple[Any, ...]) -> LimitRow:
    limit_id, subject_id, kind, purposes, recorded, lifted, overridden, key_id, sealed, seq = row
    return LimitRow(
        limit_id,
        subject_id,
        kind,
        tuple(purposes),
        recorded.astimezone(dt.UTC),
        _utc(lifted),
        _utc(overridden),
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
        effective_from=effective,
        published_at=published.astimezone(dt.UTC),
        published_by=published_by,
        text_sha256=text_sha256,
        url=url,
        text=text,
        changed_purposes=tuple(changed),
        material_purposes=tuple(material),
        summary=summary,
    )


class PostgresConsentStore:
    """The reads, over the connection `connect()` gives (a pooled one, outside
    a transaction; the write transaction's, inside one)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def events(
        self, subject_id: str, purpose: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[ConsentRow]:
        # Through consent_events_by_subject; a subject has few events, so one
        # purpose's are picked out of the subject's range.
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM consent_events "
                "WHERE subject_id = %s AND seq > %s AND (%s::text IS NULL OR purpose = %s) "
                "ORDER BY seq LIMIT %s",
                (subject_id, after_seq, purpose, purpose, limit),
            ).fetchall()
        return [_event(row) for row in rows]

    def events_named(self, subject_id: str, event_ids: Sequence[str]) -> list[ConsentRow]:
        # Each id by the event_id index (a few: a person's latest per purpose);
        # the subject checked on the row, so another's event is never given.
        if not event_ids:
            return []
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM consent_events "
                "WHERE subject_id = %s AND event_id = ANY(%s) ORDER BY seq",
                (subject_id, list(event_ids)),
            ).fetchall()
        return [_event(row) for row in rows]

    def standing(self, subject_id: str) -> list[StandingRow]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
                "JOIN subjects s ON s.subject_id = c.subject_id "
                "WHERE c.subject_id = %s ORDER BY c.purpose",
                (subject_id,),
            ).fetchall()
        return [_standing(row) for row in rows]

    def stale(
        self, purpose: str, below_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        # A range of consent_standing_by_purpose in subject order, its status and
        # policy version checked in the index itself; each match's subject by
        # its key. A page costs the rows of the purpose it passes. The page's
        # start is given for subjects too: a planner carries no inequality
        # across a join, and a merge join would read every subject before it.
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
                "JOIN subjects s ON s.subject_id = c.subject_id "
                "WHERE c.purpose = %s AND c.subject_id > %s AND c.status = ANY(%s) "
                "AND c.policy_seq < %s AND s.state = %s AND s.subject_id > %s "
                "ORDER BY c.subject_id LIMIT %s",
                (
                    purpose,
                    after_subject,
                    _STANDING_STATUSES,
                    below_policy_seq,
                    SubjectState.ACTIVE.value,
                    after_subject,
                    limit,
                ),
            ).fetchall()
        return [_standing(row) for row in rows]

    def standing_page(
        self, purpose: str, at_least_policy_seq: int, after_subject: str = "", limit: int = 100
    ) -> list[StandingRow]:
        # stale()'s range, the other side of the policy version: a contact
        # stream's page is the purpose's rows it passes, each subject by its key.
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_STANDING_COLUMNS} FROM consent_standing c "
                "JOIN subjects s ON s.subject_id = c.subject_id "
                "WHERE c.purpose = %s AND c.subject_id > %s AND c.status = ANY(%s) "
                "AND c.policy_seq >= %s AND s.state = %s AND s.subject_id > %s "
                "ORDER BY c.subject_id LIMIT %s",
                (
                    purpose,
                    after_subject,
                    _STANDING_STATUSES,
                    at_least_policy_seq,
                    SubjectState.ACTIVE.value,
                    after_subject,
                    limit,
                ),
            ).fetchall()
        return [_standing(row) for row in rows]

    def limits(self, subject_id: str) -> list[LimitRow]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_LIMIT_COLUMNS} FROM processing_limits l WHERE l.subject_id = %s "
                "ORDER BY l.seq",
                (subject_id,),
            ).fetchall()
        return [_limit(row) for row in rows]

    def limits_in_effect(self) -> list[LimitRow]:
        # The partial index processing_limits_in_effect: the lifted and
        # overridden, however many, are never passed.
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_LIMIT_COLUMNS} FROM processing_limits l "
                "JOIN subjects s ON s.subject_id = l.subject_id "
                "WHERE l.lifted_at IS NULL AND l.overridden_at IS NULL AND s.state = %s "
                "ORDER BY l.seq",
                (SubjectState.ACTIVE.value,),
            ).fetchall()
        return [_limit(row) for row in rows]

    def policy_versions(self) -> list[PolicyVersion]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM policy_versions ORDER BY seq"
            ).fetchall()
        return [_version(row) for row in rows]

    def policy_version(self, version: str) -> PolicyVersion | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM policy_versions WHERE version = %s", (version,)
            ).fetchone()
        return _version(row) if row else None


class PostgresConsentWrites(PostgresConsentStore):
    """The writes, inside a write transaction (`Transaction.consents`)."""

    def append(self, rows: list[ConsentRow]) -> None:
        if not rows:
            return
        with self._connect() as conn:
            _append(conn, rows)

    def delete_subject(self, subject_id: str) -> int:
        with self._connect() as conn:
            conn.execute("DELETE FROM processing_limits WHERE subject_id = %s", (subject_id,))
            conn.execute("DELETE FROM consent_standing WHERE subject_id = %s", (subject_id,))
            return conn.execute(
                "DELETE FROM consent_events WHERE subject_id = %s", (subject_id,)
            ).rowcount

    def insert_limit(self, row: LimitRow) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO processing_limits (limit_id, subject_id, kind, purposes, "
                "recorded_at, lifted_at, overridden_at, key_id, sealed) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    row.limit_id,
                    row.subject_id,
                    str(row.kind),
                    list(row.purposes),
                    row.recorded_at,
                    row.lifted_at,
                    row.overridden_at,
                    row.key_id,
                    row.sealed,
                ),
            )

    def update_limit(self, row: LimitRow) -> bool:
        # In effect is read from the stored row, in the statement itself: a
        # limit lifted or overridden once stays as it was then. The key named
        # with the sealed part is the one it is sealed under.
        with self._connect() as conn:
            updated = conn.execute(
                "UPDATE processing_limits SET lifted_at = %s, overridden_at = %s, key_id = %s, "
                "sealed = %s WHERE limit_id = %s AND subject_id = %s "
                "AND lifted_at IS NULL AND overridden_at IS NULL",
                (
                    row.lifted_at,
                    row.overridden_at,
                    row.key_id,
                    row.sealed,
                    row.limit_id,
                    row.subject_id,
                ),
            ).rowcount
        return updated == 1

    def insert_policy_version(self, version: PolicyVersion) -> bool:
        # Only a taken name is answered with False: a taken seq is the caller's
        # error (it numbers versions under the write lock) and raises.
        with self._connect() as conn:
            inserted = conn.execute(
                f"INSERT INTO policy_versions ({_VERSION_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (version) DO NOTHING",
                (
                    version.version,
                    version.seq,
                    version.effective_from,
                    version.published_at,
                    version.published_by,
                    version.text_sha256,
                    version.url,
                    version.text,
                    list(version.changed_purposes),
                    list(version.material_purposes),
                    version.summary,
                ),
            ).rowcount
        return inserted == 1


def _append(conn: psycopg.Connection[Any], rows: list[ConsentRow]) -> None:
    # executemany keeps the list's order: seq rises with it, and of two rows
    # for one (subject, purpose) the later one's upsert stands (one statement
    # over them all could not update a row twice).
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO consent_events (event_id, subject_id, purpose, status, given_at, "
            "recorded_at, policy_version, policy_seq, expires_at, key_id, sealed) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    row.event_id,
                    row.subject_id,
                    row.purpose,
                    str(row.status),
                    row.given_at,
                    row.recorded_at,
                    row.policy_version,
                    row.policy_seq,
                    row.expires_at,
                    row.key_id,
                    row.sealed,
                )
                for row in rows
            ],
        )
        cursor.executemany(
            "INSERT INTO consent_standing (subject_id, purpose, event_id, status, given_at, "
            "policy_version, policy_seq, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
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
                    row.given_at,
                    row.policy_version,
                    row.policy_seq,
                    row.expires_at,
                )
                for row in rows
            ],
        )
