"""The sequencer and the verifier, over a store kept in memory (the engines'
own stores are held to the same contract by the storage tests)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence

from vault.core.actor import Actor, Role
from vault.core.audit import merkle
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import new_signing_key, public_key_of, verify_head
from vault.core.audit.log import Sequencer, leaf_of, verify
from vault.core.audit.store import AuditEntry, Sequenced, StoredEvent, StoredHead
from vault.core.clock import FixedClock

AT = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
OFFICER = Actor("dpo (tok_2)", Role.PRIVACY_OFFICER)
KEY = new_signing_key()
PUBLIC = public_key_of(KEY)


class MemoryLog:
    """The sequencing half of the audit store contract, in memory."""

    def __init__(self) -> None:
        self.rows: dict[int, StoredEvent] = {}
        self.stored_heads: dict[int, StoredHead] = {}

    def append(self, entries: Sequence[AuditEntry]) -> None:
        for entry in entries:
            row_id = len(self.rows) + 1
            self.rows[row_id] = StoredEvent(
                row_id, None, entry.entry, None, entry.at, entry.actor,
                entry.operation, entry.subject, entry.sensitive,
            )  # fmt: skip

    def unsequenced(self, limit: int) -> list[StoredEvent]:
        return [row for row in self.rows.values() if row.index is None][:limit]

    def size(self) -> int:
        return sum(1 for row in self.rows.values() if row.index is not None)

    def sequence(self, size: int, events: Sequence[Sequenced], head: StoredHead) -> bool:
        if self.size() != size or any(self.rows[e.row_id].index is not None for e in events):
            return False
        for placed in events:
            self.rows[placed.row_id] = dataclasses.replace(
                self.rows[placed.row_id], index=placed.index, leaf_hash=placed.leaf_hash
            )
        self.stored_heads[head.head.size] = head
        return True

    def latest_head(self) -> StoredHead | None:
        return self.stored_heads[max(self.stored_heads)] if self.stored_heads else None

    def heads(self) -> Iterator[StoredHead]:
        return iter(sorted(self.stored_heads.values(), key=lambda stored: stored.head.size))

    def sequenced(self, start: int = 0, end: int | None = None) -> Iterator[StoredEvent]:
        rows = [row for row in self.rows.values() if row.index is not None]
        return iter(sorted(rows, key=lambda row: row.index or 0))

    # Tampering, as someone with the database file could.
    def at(self, index: int) -> int:
        return next(row_id for row_id, row in self.rows.items() if row.index == index)


def _log(events: int, rounds: int = 3) -> MemoryLog:
    log = MemoryLog()
    clock = FixedClock(AT)
    sequencer = Sequencer(log, lambda: KEY, clock)  # type: ignore[arg-type]
    per_round = -(-events // rounds)
    for n in range(events):
        event = AuditEvent.of(OFFICER, Operation.GET_SUBJECT, AT, f"{n:032x}", detail=f"#{n}")
        log.append([AuditEntry.of(event)])
        if (n + 1) % per_round == 0:
            sequencer.run_once()
            clock.advance(seconds=1)
    sequencer.run_until_done()
    return log


def test_the_sequencer_signs_heads_over_the_rfc_9162_tree_of_indexed_leaves() -> None:
    log = _log(10)
    heads = list(log.heads())
    assert [stored.head.size for stored in heads] == [4, 8, 10]
    leaves = [leaf_of(row.index or 0, row.entry) for row in log.sequenced()]
    for stored in heads:
        assert verify_head(PUBLIC, stored.head)
        assert stored.head.root == merkle.root_of(leaves[: stored.head.size])
    assert verify(log, PUBLIC).ok  # type: ignore[arg-type]


def test_a_sequencer_that_lost_a_race_stores_nothing_and_the_next_round_goes_on() -> None:
    log = _log(4, rounds=1)
    log.append([AuditEntry.of(AuditEvent.of(OFFICER, Operation.LIST_TOKENS, AT))])
    stale = log.latest_head()
    winner = Sequencer(log, lambda: KEY, FixedClock(AT))  # type: ignore[arg-type]
    assert winner.run_once() == 1
    # The loser read the head before the winner's: its sequence() is refused.
    assert stale is not None
    assert not log.sequence(stale.head.size, [Sequenced(5, 4, b"\0" * 32)], stale)
    assert verify(log, PUBLIC).ok  # type: ignore[arg-type]


def test_verify_names_an_edited_a_removed_and_a_swapped_event() -> None:
    log = _log(12)
    edited = log.at(2)
    log.rows[edited] = dataclasses.replace(
        log.rows[edited], entry=log.rows[edited].entry.replace(b"#2", b"#9")
    )
    first, second = log.at(5), log.at(6)
    log.rows[first], log.rows[second] = (
        dataclasses.replace(log.rows[first], entry=log.rows[second].entry),
        dataclasses.replace(log.rows[second], entry=log.rows[first].entry),
    )
    del log.rows[log.at(9)]
    found = {finding.index: finding.what for finding in verify(log, PUBLIC).findings}  # type: ignore[arg-type]
    assert found == {
        2: "event 2 was edited: its entry is not what was signed",
        5: "event 5 is out of order: it is event 6, moved here",
        6: "event 6 is out of order: it is event 5, moved here",
        9: "event 9 was removed",
    }


def test_verify_finds_rewritten_leaf_hashes_by_the_head_they_break() -> None:
    log = _log(8, rounds=2)
    row = log.at(1)
    forged = log.rows[row].entry.replace(b"#1", b"#7")
    log.rows[row] = dataclasses.replace(log.rows[row], entry=forged, leaf_hash=leaf_of(1, forged))
    found = [finding.what for finding in verify(log, PUBLIC).findings]  # type: ignore[arg-type]
    assert found[0].startswith("the log's first 4 events do not make the root tree head 4 signed")


def test_verify_finds_events_cut_from_the_end_and_a_head_not_signed_by_the_key() -> None:
    log = _log(6, rounds=2)
    del log.rows[log.at(5)]
    whats = [finding.what for finding in verify(log, PUBLIC).findings]  # type: ignore[arg-type]
    assert (
        "event 5 was removed from the log's end: 1 signed tree head covers more than it holds"
        in whats
    )
    other = public_key_of(new_signing_key())
    assert any("not signed by the audit key" in f.what for f in verify(log, other).findings)  # type: ignore[arg-type]


def test_verify_finds_filter_columns_that_no_longer_say_what_the_entry_says() -> None:
    log = _log(3, rounds=1)
    row = log.at(0)
    log.rows[row] = dataclasses.replace(log.rows[row], actor="someone else")
    assert [f.index for f in verify(log, PUBLIC).findings] == [0]  # type: ignore[arg-type]


def test_verify_names_a_run_of_removed_events_once_and_an_index_past_every_head() -> None:
    log = _log(12, rounds=1)
    for index in (3, 4, 5, 6):
        del log.rows[log.at(index)]
    row = log.at(8)
    log.rows[row] = dataclasses.replace(log.rows[row], index=10**12)
    whats = [finding.what for finding in verify(log, PUBLIC).findings]  # type: ignore[arg-type]
    assert "events 3 to 6 were removed (4 events)" in whats
    assert "event 8 was removed" in whats
    assert any(
        w.startswith(f"an event stands at index {10**12}, past the 12 events") for w in whats
    )
