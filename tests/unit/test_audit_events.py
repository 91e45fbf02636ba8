"""The audit trail's foundation: events as canonical entries, pseudonyms that
die with the subject key, and a trail that fails closed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence

import pytest

from vault.core.actor import Actor, Role
from vault.core.audit.events import OK, AuditEvent, Operation
from vault.core.audit.pseudonyms import PSEUDONYM_BYTES, pseudonym
from vault.core.audit.store import AuditEntry
from vault.core.audit.trail import AuditTrail
from vault.core.clock import FixedClock
from vault.core.errors import AuditUnavailable, SubjectErased

AT = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
INTEGRATOR = Actor("lms (tok_1)", Role.INTEGRATOR, system="lms")


def test_an_entry_is_canonical_json_that_reads_back_as_the_same_event() -> None:
    event = AuditEvent.of(
        INTEGRATOR, Operation.GET_RECORD, AT, "ab" * 16, purpose="teaching", detail="Åsa's category"
    )
    entry = event.entry()
    assert (
        entry
        == json.dumps(
            json.loads(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert AuditEvent.from_entry(entry) == event
    assert json.loads(entry)["operation"] == "get record"
    assert json.loads(entry)["result"] == OK


def test_an_entry_names_its_time_in_utc_whatever_zone_it_was_given_in() -> None:
    stockholm = dt.timezone(dt.timedelta(hours=1))
    event = AuditEvent.of(INTEGRATOR, Operation.GET_RECORD, AT.astimezone(stockholm))
    assert event.entry() == AuditEvent.of(INTEGRATOR, Operation.GET_RECORD, AT).entry()


def test_what_is_not_an_entry_is_a_value_error() -> None:
    for bad in (b"\xff", b"{}", b"[1]", b"not json"):
        with pytest.raises(ValueError):
            AuditEvent.from_entry(bad)


def test_a_pseudonym_depends_on_the_subject_key_and_id_and_reveals_neither() -> None:
    key, other_key = b"k" * 32, b"o" * 32
    mine = pseudonym(key, "s_1")
    assert len(mine) == 2 * PSEUDONYM_BYTES and int(mine, 16) >= 0
    assert mine == pseudonym(key, "s_1")
    assert mine != pseudonym(key, "s_2")
    assert mine != pseudonym(other_key, "s_1")
    assert "s_1" not in mine


class _Keys:
    """A key manager holding the subject keys it is given."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def subject_key(self, subject_id: str) -> bytes:
        if subject_id not in self.keys:
            raise SubjectErased(subject_id)
        return self.keys[subject_id]


class _Log:
    """An audit store's appends, which fail while `broken`."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.broken = False

    def append(self, entries: Sequence[AuditEntry]) -> None:
        if self.broken:
            raise OSError("disk full")
        self.entries.extend(entries)

    async def append_async(self, entries: Sequence[AuditEntry]) -> None:
        self.append(entries)


def _trail(keys: dict[str, bytes]) -> tuple[AuditTrail, _Log]:
    log = _Log()
    return AuditTrail(log, _Keys(keys), FixedClock(AT)), log  # type: ignore[arg-type]


def test_the_trail_names_a_subject_by_pseudonym_and_no_one_once_the_key_is_gone() -> None:
    keys = {"s_1": b"k" * 32}
    trail, log = _trail(keys)
    trail.commit(trail.event(INTEGRATOR, Operation.GET_SUBJECT, "s_1"))
    assert log.entries[0].subject == pseudonym(b"k" * 32, "s_1")
    assert b"s_1" not in log.entries[0].entry
    del keys["s_1"]  # erased: the subject key is destroyed
    assert trail.pseudonym_of("s_1") == ""
    assert all(entry.subject != trail.pseudonym_of("s_1") for entry in log.entries)


def test_an_event_that_cannot_be_written_is_audit_unavailable_on_every_path() -> None:
    trail, log = _trail({})
    log.broken = True
    event = trail.event(INTEGRATOR, Operation.CREATE_RECORD)
    with pytest.raises(AuditUnavailable) as raised:
        trail.commit(event)
    assert raised.value.reason == "AUDIT_UNAVAILABLE"
    with pytest.raises(AuditUnavailable):
        trail.written(log, event)
    with pytest.raises(AuditUnavailable):
        asyncio.run(trail.commit_async(event))
    assert log.entries == []
