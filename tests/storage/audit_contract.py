"""The audit log's contract (`RecordStore.audit`, `Transaction.audit`): what
vault.core.audit relies on, whatever engine stores the log.

Subclass `AuditStoreContract` beside a record store's contract: it takes the
same `store` and `other_store` fixtures (a fresh RecordStore, and a second one
open on the same database, as a second server process would open it), and
implements `tamper`, which edits the database behind the store's back, as
someone with access to its files or its server could.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable

import pytest

from tests.storage.racing import BOUND_SECONDS, race
from tests.storage.records_contract import record_row, remembered, subject_row
from vault.core.actor import Actor, Role
from vault.core.audit import merkle
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import new_signing_key, public_key_of, sign_head
from vault.core.audit.log import Sequencer, leaf_of, verify
from vault.core.audit.store import AuditEntry, AuditQuery, Sequenced, StoredEvent, StoredHead
from vault.core.clock import FixedClock
from vault.core.model import SubjectState
from vault.storage.base import NewRecord, RecordStore

T0 = dt.datetime(2026, 12, 2, 9, 30, 0, 123456, tzinfo=dt.UTC)
OFFICER = Actor("dpo (tok_2)", Role.PRIVACY_OFFICER)
AUDITOR = Actor("auditor (tok_3)", Role.AUDITOR)
KEY = new_signing_key()
PUBLIC = public_key_of(KEY)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def entry(
    n: int,
    actor: Actor = OFFICER,
    operation: str = Operation.GET_SUBJECT,
    subject: str = "",
    *,
    sensitive: bool = False,
    when: float = 0,
) -> AuditEntry:
    """Event number `n` (its detail says which), as the trail would give it."""
    event = AuditEvent.of(actor, operation, at(when), subject, sensitive=sensitive, detail=f"#{n}")
    return AuditEntry.of(event)


def as_stored(row_id: int, written: AuditEntry) -> StoredEvent:
    """`written` as the store keeps it, unsequenced."""
    return StoredEvent(
        row_id, None, written.entry, None, written.at, written.actor,
        written.operation, written.subject, written.sensitive,
    )  # fmt: skip


def entry_of(stored: StoredEvent) -> AuditEntry:
    """The entry a stored event was written from."""
    return AuditEntry(
        stored.entry, stored.at, stored.actor, stored.operation, stored.subject, stored.sensitive
    )


def details(events: list[StoredEvent]) -> list[str]:
    """Which events these are (their details), in the order given."""
    return [AuditEvent.from_entry(event.entry).detail for event in events]


def everything(store: RecordStore) -> list[StoredEvent]:
    return store.audit.query(AuditQuery(limit=1_000_000))


def placed(size: int, events: list[StoredEvent]) -> tuple[list[Sequenced], StoredHead]:
    """A sequencer's round for `events` on a log of `size`: their places, and
    the signed head over them (a store checks neither, it only keeps them)."""
    tree = merkle.TreeBuilder()
    tree.extend([bytes(merkle.HASH_SIZE)] * size)  # stand-ins for the leaves before
    places = []
    for offset, event in enumerate(events):
        leaf = leaf_of(size + offset, event.entry)
        tree.append(leaf)
        places.append(Sequenced(event.row_id, size + offset, leaf))
    head = sign_head(KEY, tree.size, tree.root(), at(60))
    return places, StoredHead(head, tree.frontier)


def sequencer(store: RecordStore, batch: int = 10_000) -> Sequencer:
    return Sequencer(store.audit, lambda: KEY, FixedClock(at(60)), batch)


class AuditStoreContract:
    def tamper(self, store: RecordStore, statement: str, *params: object) -> None:
        """Run `statement` on `store`'s database directly, bypassing the store;
        its parameters are marked `?` (the DB-API's qmark style)."""
        raise NotImplementedError

    # -------------------------------------------------------------- appends
    def test_appended_events_read_back_as_written_for_every_store(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert everything(store) == [] and store.audit.unsequenced(10) == []
        written = [
            entry(0),
            entry(1, AUDITOR, Operation.LIST_AUDIT_EVENTS, when=1.5),
            entry(2, subject="pseudonym-of-anna", sensitive=True, when=-3),
        ]
        store.audit.append(written[:2])
        other_store.audit.append(written[2:])
        for view in (store, other_store):
            stored = everything(view)
            assert [entry_of(event) for event in stored] == written
            row_ids = [event.row_id for event in stored]
            assert row_ids == sorted(set(row_ids)) and row_ids[0] > 0
            assert stored == [as_stored(r, w) for r, w in zip(row_ids, written, strict=True)]
            assert all(isinstance(event.entry, bytes) for event in stored)
            assert all(event.at.utcoffset() == dt.timedelta(0) for event in stored)
            assert view.audit.unsequenced(10) == stored
            assert view.audit.unsequenced(2) == stored[:2]
            assert view.audit.size() == 0 and view.audit.latest_head() is None
        store.audit.append([])  # nothing to store: nothing happens
        assert len(everything(other_store)) == 3

    def test_events_appended_at_once_from_two_stores_are_each_stored_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        race(
            [
                functools.partial((store, other_store)[n % 2].audit.append, [entry(n)])
                for n in range(30)
            ]
        )
        stored = everything(other_store)
        assert sorted(details(stored)) == sorted(f"#{n}" for n in range(30))
        assert len({event.row_id for event in stored}) == 30

    def test_append_async_is_durable_once_awaited_and_seen_by_every_store(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        async def appends() -> None:
            await asyncio.gather(*(store.audit.append_async([entry(n)]) for n in range(20)))
            await store.audit.append_async([entry(20), entry(21)])

        asyncio.run(asyncio.wait_for(appends(), BOUND_SECONDS))
        for view in (store, other_store):
            stored = everything(view)
            assert sorted(details(stored)) == sorted(f"#{n}" for n in range(22))
            assert details(stored)[-2:] == ["#20", "#21"]  # one call's events in its order

    def test_a_transactions_events_commit_with_it_or_not_at_all(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.audit.append([entry(0), entry(1)])
        assert details(everything(other_store)) == ["#0", "#1"]
        with pytest.raises(ValueError), store.write() as tx:
            tx.subjects.insert_subject(subject_row("s2"))
            tx.audit.append([entry(2)])
            raise ValueError("the core refused the change after its event")
        for view in (store, other_store):
            assert details(everything(view)) == ["#0", "#1"]
            assert view.subjects.subject("s2") is None

    def test_a_records_creation_event_is_stored_only_if_the_record_is(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.subjects.insert_subject(subject_row("s2", SubjectState.ERASURE_PENDING))
        creation = functools.partial(entry, operation=Operation.CREATE_RECORD)
        appends = [
            NewRecord(record_row("r1"), audit=creation(1)),
            NewRecord(record_row("r2", subject_id="nobody"), audit=creation(2)),
            NewRecord(record_row("r3", subject_id="s2"), audit=creation(3)),
            NewRecord(record_row("r4"), request=remembered("h1"), audit=creation(4)),
            NewRecord(record_row("r5"), request=remembered("h1"), audit=creation(5)),
            NewRecord(record_row("r6")),  # no event of its own: stored all the same
        ]
        outcomes = [store.records.append_record(new, SubjectState.ACTIVE) for new in appends]
        assert [outcome.stored for outcome in outcomes] == [True, False, False, True, False, True]
        assert outcomes[4].request_taken

        async def appended() -> list[bool]:
            landed = await store.records.append_record_async(
                NewRecord(record_row("r7"), audit=creation(7)), SubjectState.ACTIVE
            )
            refused = await store.records.append_record_async(
                NewRecord(record_row("r8", subject_id="s2"), audit=creation(8)),
                SubjectState.ACTIVE,
            )
            return [landed.stored, refused.stored]

        assert asyncio.run(asyncio.wait_for(appended(), BOUND_SECONDS)) == [True, False]
        for view in (store, other_store):
            assert details(everything(view)) == ["#1", "#4", "#7"]
            assert view.records.count_records("s1") == 4

    def test_grouped_record_appends_at_once_store_each_stored_records_event(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row("s1"))
            tx.subjects.insert_subject(subject_row("s2", SubjectState.ERASED))
        calls: list[Callable[[], object]] = [
            functools.partial(
                (store, other_store)[n % 2].records.append_record,
                NewRecord(record_row(f"r{n}", subject_id="s1" if n % 3 else "s2"), audit=entry(n)),
                SubjectState.ACTIVE,
            )
            for n in range(30)
        ]
        calls += [functools.partial(store.audit.append, [entry(n)]) for n in range(30, 40)]
        race(calls)
        stored = {f"#{n}" for n in range(40) if n >= 30 or n % 3}
        assert sorted(details(everything(other_store))) == sorted(stored)
        assert store.records.count_records("s1") == 20

    # -------------------------------------------------------------- queries
    def test_a_query_filters_on_each_field(self, store: RecordStore) -> None:
        store.audit.append(
            [
                entry(0, when=0),
                entry(1, AUDITOR, Operation.LIST_AUDIT_EVENTS, when=10),
                entry(2, subject="anna", sensitive=True, when=20),
                entry(3, AUDITOR, subject="anna", when=30),
                entry(4, operation=Operation.ERASE_SUBJECT, subject="bo", when=40),
                entry(5, sensitive=True, when=50),
            ]
        )

        def found(**filters: object) -> list[str]:
            return details(store.audit.query(AuditQuery(**filters)))  # type: ignore[arg-type]

        assert found() == [f"#{n}" for n in range(6)]
        assert found(actor=AUDITOR.who) == ["#1", "#3"]
        assert found(actor="nobody") == []
        assert found(operation=Operation.GET_SUBJECT) == ["#0", "#2", "#3", "#5"]
        assert found(operation=Operation.ERASE_SUBJECT) == ["#4"]
        assert found(subject="anna") == ["#2", "#3"]
        assert found(subject="") == ["#0", "#1", "#5"]
        assert found(sensitive=True) == ["#2", "#5"]
        assert found(sensitive=False) == ["#0", "#1", "#3", "#4"]
        # since: at or after; until: before.
        assert found(since=at(20)) == ["#2", "#3", "#4", "#5"]
        assert found(since=at(20.000001)) == ["#3", "#4", "#5"]
        assert found(until=at(20)) == ["#0", "#1"]
        assert found(until=at(20.000001)) == ["#0", "#1", "#2"]
        assert found(since=at(10), until=at(40)) == ["#1", "#2", "#3"]
        # Times in another zone mean the same instants.
        plus_two = dt.timezone(dt.timedelta(hours=2))
        assert found(since=at(30).astimezone(plus_two)) == ["#3", "#4", "#5"]
        assert found(subject="anna", actor=OFFICER.who, sensitive=True) == ["#2"]

    def test_a_query_pages_in_row_id_order(self, store: RecordStore) -> None:
        store.audit.append([entry(n, when=-n) for n in range(7)])  # the later, the earlier `at`
        all_rows = everything(store)
        assert details(all_rows) == [f"#{n}" for n in range(7)]
        first = store.audit.query(AuditQuery(limit=3))
        assert first == all_rows[:3]
        second = store.audit.query(AuditQuery(after_row=first[-1].row_id, limit=3))
        assert second == all_rows[3:6]
        third = store.audit.query(AuditQuery(after_row=second[-1].row_id, limit=3))
        assert third == all_rows[6:]
        assert store.audit.query(AuditQuery(after_row=all_rows[-1].row_id)) == []
        assert store.audit.query(AuditQuery(limit=0)) == []
        # Paging with a filter on.
        evens = AuditQuery(since=at(-4), limit=2)
        page = store.audit.query(evens)
        assert details(page) == ["#0", "#1"]
        page = store.audit.query(dataclasses.replace(evens, after_row=page[-1].row_id))
        assert details(page) == ["#2", "#3"]
        page = store.audit.query(dataclasses.replace(evens, after_row=page[-1].row_id))
        assert details(page) == ["#4"]

    # ----------------------------------------------------------- sequencing
    def test_sequence_places_events_only_at_the_logs_size(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.audit.append([entry(n) for n in range(3)])
        waiting = store.audit.unsequenced(10)
        places, head = placed(0, waiting)
        # A stale size (another process's head, say): nothing changes.
        assert not store.audit.sequence(1, places, head)
        assert store.audit.size() == 0 and store.audit.latest_head() is None
        assert store.audit.unsequenced(10) == waiting
        assert store.audit.head(3) is None

        assert other_store.audit.sequence(0, places, head)
        for view in (store, other_store):
            assert view.audit.size() == 3
            assert view.audit.unsequenced(10) == []
            assert view.audit.latest_head() == head == view.audit.head(3)
            assert len(head.frontier) == 2  # 3 leaves: a subtree of 2 and one of 1
            assert view.audit.head(2) is None and view.audit.head(0) is None
            assert list(view.audit.heads()) == [head]
            for place, event in zip(places, waiting, strict=True):
                assert view.audit.at_index(place.index) == dataclasses.replace(
                    event, index=place.index, leaf_hash=place.leaf_hash
                )
            assert view.audit.at_index(3) is None

        # The same events again, at the size they made: they are placed already.
        again, later = placed(3, waiting)
        assert not store.audit.sequence(3, again, later)
        assert store.audit.size() == 3 and store.audit.head(6) is None
        assert [event.index for event in store.audit.sequenced()] == [0, 1, 2]

    def test_a_round_with_one_event_placed_already_changes_nothing(
        self, store: RecordStore
    ) -> None:
        store.audit.append([entry(0)])
        first, head = placed(0, store.audit.unsequenced(10))
        assert store.audit.sequence(0, first, head)
        store.audit.append([entry(1), entry(2)])
        new = store.audit.unsequenced(10)
        # A new event first, so that it is placed before the one already placed is found.
        mixed = [new[0], store.audit.at_index(0), new[1]]
        places, bad = placed(1, [event for event in mixed if event is not None])
        assert not store.audit.sequence(1, places, bad)
        assert store.audit.size() == 1
        assert store.audit.unsequenced(10) == new
        assert store.audit.latest_head() == head and store.audit.head(4) is None
        assert [event.index for event in store.audit.sequenced()] == [0]

    def test_heads_and_sequenced_events_read_in_order_and_by_range(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.audit.append([entry(n) for n in range(10)])
        assert sequencer(store, batch=4).run_until_done() == 10
        for view in (store, other_store):
            heads = list(view.audit.heads())
            assert [stored.head.size for stored in heads] == [4, 8, 10]
            assert view.audit.latest_head() == heads[-1]
            assert [view.audit.head(size) for size in (4, 8, 10)] == heads
            events = list(view.audit.sequenced())
            assert [event.index for event in events] == list(range(10))
            assert details(events) == [f"#{n}" for n in range(10)]
            assert all(event.leaf_hash == leaf_of(n, event.entry) for n, event in enumerate(events))
            assert list(view.audit.sequenced(3, 7)) == events[3:7]
            assert list(view.audit.sequenced(8)) == events[8:]
            assert list(view.audit.sequenced(8, 100)) == events[8:]
            assert list(view.audit.sequenced(5, 5)) == []
            assert list(view.audit.sequenced(10)) == []
            assert [view.audit.at_index(n) for n in (0, 9)] == [events[0], events[9]]
            assert view.audit.at_index(10) is None
        assert verify(store.audit, PUBLIC).ok

    def test_a_walk_over_more_than_a_page_of_events_misses_none(self, store: RecordStore) -> None:
        total = 5_003  # past a page of 5,000, as both engines read them
        store.audit.append([entry(n) for n in range(total)])
        assert sequencer(store).run_until_done() == total
        assert [event.index for event in store.audit.sequenced()] == list(range(total))
        assert [event.index for event in store.audit.sequenced(4_990, 5_002)] == list(
            range(4_990, 5_002)
        )
        assert len(store.audit.query(AuditQuery(limit=total + 1))) == total

    # ------------------------------------------------------ proof and tamper
    def test_a_sequenced_log_verifies_and_verify_names_each_edit_in_the_database(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        rounds = sequencer(store)
        for n in range(12):
            store.audit.append([entry(n)])
            if n % 4 == 3:
                rounds.run_once()
        assert store.audit.size() == 12
        checked = verify(other_store.audit, PUBLIC)
        assert checked.ok and checked.events == 12 and checked.heads == 3

        edited = store.audit.at_index(2)
        assert edited is not None
        self.tamper(
            store,
            "UPDATE audit_events SET entry = ? WHERE leaf_index = ?",
            edited.entry.replace(b"#2", b"#9"),
            2,
        )
        fifth, sixth = store.audit.at_index(5), store.audit.at_index(6)
        assert fifth is not None and sixth is not None
        self.tamper(store, "UPDATE audit_events SET entry = ? WHERE leaf_index = ?", sixth.entry, 5)
        self.tamper(store, "UPDATE audit_events SET entry = ? WHERE leaf_index = ?", fifth.entry, 6)
        self.tamper(store, "DELETE FROM audit_events WHERE leaf_index = ?", 9)
        found = {finding.index: finding.what for finding in verify(store.audit, PUBLIC).findings}
        assert found == {
            2: "event 2 was edited: its entry is not what was signed",
            5: "event 5 is out of order: it is event 6, moved here",
            6: "event 6 is out of order: it is event 5, moved here",
            9: "event 9 was removed",
        }

    def test_verify_names_filter_columns_edited_and_events_cut_from_the_end(
        self, store: RecordStore
    ) -> None:
        store.audit.append([entry(n) for n in range(6)])
        sequencer(store).run_until_done()
        self.tamper(store, "UPDATE audit_events SET actor = ? WHERE leaf_index = ?", "else", 1)
        self.tamper(store, "DELETE FROM audit_events WHERE leaf_index = ?", 5)
        found = verify(store.audit, PUBLIC).findings
        assert [finding.index for finding in found] == [1, 5]
        assert "filter columns were edited" in found[0].what
        assert "event 5 was removed from the log's end" in found[1].what

    def test_two_sequencers_racing_make_one_log_of_every_event_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        appenders, each = 4, 25
        total = appenders * each

        def append(on: RecordStore, t: int) -> None:
            for n in range(each):
                on.audit.append([entry(t * each + n)])

        def sequence(on: RecordStore) -> int:
            rounds, done = sequencer(on, batch=7), 0
            give_up = time.monotonic() + BOUND_SECONDS
            while on.audit.size() < total and time.monotonic() < give_up:
                done += rounds.run_once()
            return done

        *_, first, second = race(
            [
                *(
                    functools.partial(append, (store, other_store)[t % 2], t)
                    for t in range(appenders)
                ),
                functools.partial(sequence, store),
                functools.partial(sequence, other_store),
            ]
        )
        assert first + second == total  # no event placed by both
        events = list(store.audit.sequenced())
        assert [event.index for event in events] == list(range(total))
        assert sorted(details(events)) == sorted(f"#{n}" for n in range(total))
        assert len({event.row_id for event in events}) == total
        sizes = [stored.head.size for stored in store.audit.heads()]
        assert sizes == sorted(set(sizes)) and sizes[-1] == total
        checked = verify(other_store.audit, PUBLIC)
        assert checked.ok and checked.events == total

    # ----------------------------------------------- key destruction's intents
    def test_an_intent_is_open_until_closed_and_closing_twice_stores_one_outcome(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.audit.open_intents() == []
        intent = entry(0, operation=Operation.DESTROY_KEYS, subject="anna")
        row_id = store.audit.open_intent(intent, "subject-anna")
        other = store.audit.open_intent(entry(1, operation=Operation.DESTROY_KEYS), "subject-bo")
        assert other > row_id
        for view in (store, other_store):
            assert view.audit.open_intents() == [(row_id, "subject-anna"), (other, "subject-bo")]
            assert everything(view)[0] == as_stored(row_id, intent)
        outcome = entry(2, operation=Operation.KEYS_DESTROYED, subject="anna")
        other_store.audit.close_intent(row_id, outcome)
        assert store.audit.open_intents() == [(other, "subject-bo")]
        assert details(everything(store)) == ["#0", "#1", "#2"]
        # A second closing (a retry, another process) stores nothing.
        store.audit.close_intent(row_id, entry(3, operation=Operation.KEYS_DESTROYED))
        assert details(everything(other_store)) == ["#0", "#1", "#2"]
        assert other_store.audit.open_intents() == [(other, "subject-bo")]
        # Closings at once from two stores: one outcome.
        race(
            [
                functools.partial(view.audit.close_intent, other, entry(n))
                for n, view in ((4, store), (5, other_store))
            ]
        )
        assert store.audit.open_intents() == []
        assert details(everything(store))[:3] == ["#0", "#1", "#2"]
        assert len(everything(store)) == 4
