"""The record store's contract: what the core relies on, whatever engine stores it.

Subclass `RecordStoreContract` and give a `store` fixture (a fresh, empty
RecordStore, closed by the fixture) and an `other_store` fixture (a second
RecordStore object open on the same database, as a second server process
would open it; the fixture closes it). The SQLite backend runs it in
test_sqlite_records.py; a later backend must pass it unchanged.

The store keeps what it is given: the tests pass states, roles and times
the way the core decides them, and check they come back as written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import itertools
import threading

import pytest

from tests.storage.racing import BOUND_SECONDS, race
from vault.core.actor import THE_VAULT
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, SubjectState
from vault.core.steps import RequestState, StepState, StoredRequest
from vault.storage.base import (
    AppendOutcome,
    IdentityRow,
    NewRecord,
    RecordRow,
    RecordStore,
    RememberedRequest,
    SubjectRow,
)

T0 = dt.datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def subject_row(subject_id: str = "s1", state: SubjectState = SubjectState.ACTIVE) -> SubjectRow:
    return SubjectRow(subject_id, state, b"sealed roles " + subject_id.encode(), True, at(0), at(0))


def record_row(
    record_id: str = "r1", subject_id: str = "s1", category: str = "contact", when: float = 0
) -> RecordRow:
    return RecordRow(
        record_id=record_id,
        subject_id=subject_id,
        category=category,
        purpose="course_delivery",
        legal_basis=LegalBasis.CONTRACT,
        source_system="lms",
        key_id="k1",
        sealed_payload=b"payload " + record_id.encode(),
        sealed_content=None,
        created_at=at(when),
        updated_at=at(when),
    )


def remembered(
    request_hash: str, subject_id: str = "s1", operation: str = "op", when: float = 0
) -> RememberedRequest:
    return RememberedRequest(
        request_hash, 1, operation, "fingerprint", subject_id, "result", at(when)
    )


def same_record(stored: RecordRow | None, written: RecordRow) -> bool:
    """Equal but for what the store fills in (its sequence number and the subject's state)."""
    assert stored is not None
    return dataclasses.replace(stored, seq=0, subject_state=None) == written


class RecordStoreContract:
    def add_subject(self, store: RecordStore, subject_id: str = "s1") -> SubjectRow:
        row = subject_row(subject_id)
        with store.write() as tx:
            tx.subjects.insert_subject(row)
        return row

    # ------------------------------------------------------------ subjects
    def test_a_subject_reads_back_as_written_with_datetimes(self, store: RecordStore) -> None:
        written = self.add_subject(store)
        stored = store.subjects.subject("s1")
        assert stored == written
        assert stored.created_at.tzinfo is not None and stored.created_at == at(0)
        assert store.subjects.subject("nobody") is None
        assert store.subjects.subject_state("s1") is SubjectState.ACTIVE
        assert store.subjects.subject_state("nobody") is None

    def test_update_and_touch_change_only_what_they_name(self, store: RecordStore) -> None:
        self.add_subject(store)
        with store.write() as tx:
            tx.subjects.update_subject("s1", b"other roles", False, at(5))
        stored = store.subjects.subject("s1")
        assert stored is not None
        assert stored.sealed_roles == b"other roles" and stored.protected_identity is False
        assert stored.updated_at == at(5) and stored.created_at == at(0)
        with store.write() as tx:
            tx.subjects.touch_subject("s1", at(9))
        touched = store.subjects.subject("s1")
        assert touched == dataclasses.replace(stored, updated_at=at(9))

    def test_a_new_state_changes_nothing_else(self, store: RecordStore) -> None:
        # Whatever else goes with a state (an erased subject's roles) the core writes itself.
        self.add_subject(store)
        with store.write() as tx:
            tx.subjects.set_subject_state("s1", SubjectState.ERASED, at(7))
        stored = store.subjects.subject("s1")
        assert stored is not None
        assert stored.state is SubjectState.ERASED and stored.updated_at == at(7)
        assert stored.sealed_roles == b"sealed roles s1" and stored.protected_identity is True
        assert store.subjects.subject_state("s1") is SubjectState.ERASED

    def test_subjects_are_found_by_state(self, store: RecordStore) -> None:
        for subject_id in ("s1", "s2", "s3"):
            self.add_subject(store, subject_id)
        with store.write() as tx:
            tx.subjects.set_subject_state("s1", SubjectState.ERASED, at(1))
            tx.subjects.set_subject_state("s3", SubjectState.ERASED, at(1))
        assert sorted(store.subjects.subject_ids_in_state(SubjectState.ERASED)) == ["s1", "s3"]
        assert store.subjects.subject_ids_in_state(SubjectState.ACTIVE) == ["s2"]
        assert store.subjects.subject_ids_in_state(SubjectState.ERASURE_PENDING) == []

    # ---------------------------------------------------------- identities
    def test_identities_in_the_order_added_and_found_by_blind_index(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        rows = [
            IdentityRow("b2", "s1", IdentityKind.EMAIL, b"sealed e-mail"),
            IdentityRow("b1", "s1", IdentityKind.PERSONNUMMER, b"sealed pnr"),
        ]
        with store.write() as tx:
            assert all(tx.subjects.insert_identity(row) for row in rows)
            assert not tx.subjects.insert_identity(
                IdentityRow("b1", "s1", IdentityKind.PHONE, b"x")
            )
        assert store.subjects.identities("s1") == rows
        assert store.subjects.identities("nobody") == []
        assert store.subjects.subject_id_by_index("b1") == "s1"
        assert store.subjects.subject_id_by_index("nope") is None

    def test_identities_are_deleted_one_or_all(self, store: RecordStore) -> None:
        self.add_subject(store)
        with store.write() as tx:
            for index in ("b1", "b2", "b3"):
                tx.subjects.insert_identity(IdentityRow(index, "s1", IdentityKind.EMAIL, b"x"))
            tx.subjects.delete_identity("b2")
        assert [row.blind_index for row in store.subjects.identities("s1")] == ["b1", "b3"]
        assert store.subjects.subject_id_by_index("b2") is None
        with store.write() as tx:
            assert tx.subjects.delete_identities("s1") == 2
        assert store.subjects.identities("s1") == []

    def test_an_identity_is_deleted_as_one_subjects_only(self, store: RecordStore) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        with store.write() as tx:
            tx.subjects.insert_identity(IdentityRow("b1", "s2", IdentityKind.EMAIL, b"x"))
            assert not tx.subjects.delete_identity_of("s1", "b1")  # s2's, not s1's
        assert store.subjects.subject_id_by_index("b1") == "s2"
        with store.write() as tx:
            assert tx.subjects.delete_identity_of("s2", "b1")
        assert store.subjects.subject_id_by_index("b1") is None

    def test_an_identity_keeps_its_index_version_and_is_found_under_other_versions(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        with store.write() as tx:
            for index, version in (("a1", 1), ("b2", 2), ("c1", 1), ("d3", 3)):
                tx.subjects.insert_identity(
                    IdentityRow(index, "s1", IdentityKind.EMAIL, index.encode(), version)
                )
        assert [r.index_version for r in store.subjects.identities("s1")] == [1, 2, 1, 3]
        assert store.subjects.index_versions() == {1: 2, 2: 1, 3: 1}
        not_under = store.subjects.identities_not_under
        assert [r.blind_index for r in not_under(2, "", 10)] == ["a1", "c1", "d3"]
        assert [r.blind_index for r in not_under(2, "", 2)] == ["a1", "c1"]  # a page
        assert [r.blind_index for r in not_under(2, "c1", 10)] == ["d3"]  # the next
        assert not_under(2, "d3", 10) == []

    def test_a_reindexed_identity_keeps_its_place_and_refuses_a_taken_index(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        with store.write() as tx:
            for index in ("old1", "mid", "old2"):
                tx.subjects.insert_identity(IdentityRow(index, "s1", IdentityKind.EMAIL, b"x"))
            tx.subjects.insert_identity(IdentityRow("theirs", "s2", IdentityKind.EMAIL, b"y"))
        moved = IdentityRow("new1", "s1", IdentityKind.EMAIL, b"sealed anew", 2)
        with store.write() as tx:
            assert tx.subjects.reindex_identity("old1", moved)
            # Taken by another row: nothing changes.
            assert not tx.subjects.reindex_identity(
                "old2", IdentityRow("theirs", "s1", IdentityKind.EMAIL, b"z", 2)
            )
            # Gone meanwhile, or another subject's: nothing changes.
            assert not tx.subjects.reindex_identity("gone", moved)
            assert not tx.subjects.reindex_identity(
                "theirs", IdentityRow("new9", "s1", IdentityKind.EMAIL, b"z", 2)
            )
            # The same blind index under a new version (a format-1 keyring's key).
            assert tx.subjects.reindex_identity(
                "mid", IdentityRow("mid", "s1", IdentityKind.EMAIL, b"mid anew", 2)
            )
        assert store.subjects.identities("s1") == [
            moved,
            IdentityRow("mid", "s1", IdentityKind.EMAIL, b"mid anew", 2),
            IdentityRow("old2", "s1", IdentityKind.EMAIL, b"x", 1),
        ]
        assert store.subjects.subject_id_by_index("old1") is None
        assert store.subjects.subject_id_by_index("new1") == "s1"
        assert store.subjects.subject_id_by_index("theirs") == "s2"
        assert store.subjects.index_versions() == {1: 2, 2: 2}

    # ------------------------------------------------------------- records
    def test_a_record_reads_back_as_written_with_its_subjects_state(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        written = dataclasses.replace(record_row(), sealed_content=b"content")
        with store.write() as tx:
            tx.records.insert_records([written])
        stored = store.records.record("r1")
        assert same_record(stored, written)
        assert stored is not None and stored.subject_state is SubjectState.ACTIVE
        assert stored.legal_basis is LegalBasis.CONTRACT and stored.created_at == at(0)
        assert store.records.record("nope") is None

    def test_pages_follow_the_order_of_storing_and_never_reuse_a_place(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        rows = [
            record_row(f"r{n}", category="notes" if n % 2 else "contact", when=n) for n in range(5)
        ]
        with store.write() as tx:
            tx.records.insert_records(rows[:3])
            tx.records.insert_records([record_row("other", subject_id="s2")])
            tx.records.insert_records(rows[3:])
        first = store.records.records_page("s1", None, 0, 2)
        assert [r.record_id for r in first] == ["r0", "r1"]
        rest = store.records.records_page("s1", None, first[-1].seq, 10)
        assert [r.record_id for r in rest] == ["r2", "r3", "r4"]
        assert all(same_record(r, w) for r, w in zip(first + rest, rows, strict=True))
        notes = store.records.records_page("s1", "notes", 0, 10)
        assert [r.record_id for r in notes] == ["r1", "r3"]
        assert store.records.records_page("s1", "notes", notes[-1].seq, 10) == []
        assert store.records.records_page("nobody", None, 0, 10) == []
        assert [r.record_id for r in store.records.iter_records("s1")] == [
            f"r{n}" for n in range(5)
        ]
        assert [r.record_id for r in store.records.iter_records("s1", "contact")] == [
            "r0",
            "r2",
            "r4",
        ]
        # A deleted record's place is not given to a new one.
        last_seq = rest[-1].seq
        with store.write() as tx:
            tx.records.delete_category_records("s1", "contact")
            tx.records.insert_records([record_row("new")])
        (new,) = store.records.records_page("s1", "contact", 0, 10)
        assert new.record_id == "new" and new.seq > last_seq

    def test_iter_records_reads_more_than_a_page(self, store: RecordStore) -> None:
        self.add_subject(store)
        rows = [record_row(f"r{n:04}") for n in range(1234)]
        with store.write() as tx:
            tx.records.insert_records(rows)
        assert [r.record_id for r in store.records.iter_records("s1")] == [
            r.record_id for r in rows
        ]

    def test_counts_and_categories_follow_inserts_and_deletes(self, store: RecordStore) -> None:
        self.add_subject(store)
        assert store.records.count_records("s1") == 0 and store.records.categories("s1") == []
        with store.write() as tx:
            tx.records.insert_records([record_row(f"c{n}") for n in range(3)])
            tx.records.insert_records([record_row(f"n{n}", category="notes") for n in range(2)])
        assert store.records.count_records("s1") == 5
        assert store.records.count_records("s1", "notes") == 2
        assert store.records.count_records("s1", "none") == 0
        assert store.records.categories("s1") == ["contact", "notes"]
        with store.write() as tx:
            assert tx.records.delete_category_records("s1", "contact") == 3
            assert tx.records.delete_category_records("s1", "contact") == 0
        assert store.records.count_records("s1") == 2 and store.records.categories("s1") == [
            "notes"
        ]
        assert store.records.record("c0") is None

    def test_deleting_one_purpose_of_a_category_keeps_the_others_and_the_count_right(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        marketing = [
            dataclasses.replace(record_row(f"m{n}"), purpose="marketing", key_id="k2")
            for n in range(2)
        ]
        with store.write() as tx:
            tx.records.insert_records([record_row(f"c{n}") for n in range(3)])
            tx.records.insert_records([*marketing, record_row("n0", category="notes")])
            tx.records.insert_records(
                [dataclasses.replace(marketing[0], record_id="o1", subject_id="s2")]
            )
        assert store.records.purpose_counts("s1", "contact", "k1") == {"course_delivery": 3}
        assert store.records.purpose_counts("s1", "contact", "k2") == {"marketing": 2}
        assert store.records.purpose_counts("s1", "contact", "k9") == {}
        with store.write() as tx:
            assert tx.records.delete_category_records("s1", "contact", "marketing") == 2
            assert tx.records.delete_category_records("s1", "contact", "marketing") == 0
            assert tx.records.delete_category_records("s1", "contact", "unknown") == 0
        assert store.records.count_records("s1", "contact") == 3
        assert store.records.count_records("s1") == 4
        assert store.records.count_records("s2") == 1  # another subject's same purpose stays
        assert [r.record_id for r in store.records.iter_records("s1", "contact")] == [
            "c0",
            "c1",
            "c2",
        ]
        with store.write() as tx:
            assert tx.records.delete_category_records("s1", "contact", "course_delivery") == 3
        # The category's last purpose gone, the category is too.
        assert store.records.count_records("s1", "contact") == 0
        assert store.records.categories("s1") == ["notes"]

    def test_purpose_usage_counts_every_purpose_basis_and_system_across_subjects(
        self, store: RecordStore
    ) -> None:
        assert store.records.purpose_usage() == []
        self.add_subject(store)
        self.add_subject(store, "s2")
        marketing = dataclasses.replace(
            record_row("m0"), purpose="marketing", legal_basis=LegalBasis.CONSENT, key_id="k2"
        )
        with store.write() as tx:
            tx.records.insert_records([record_row("c0"), record_row("c1", category="notes")])
            tx.records.insert_records(
                [
                    dataclasses.replace(record_row("c2", subject_id="s2"), source_system="crm"),
                    marketing,
                    dataclasses.replace(marketing, record_id="m1", subject_id="s2"),
                    # The same purpose on another basis is a use of its own.
                    dataclasses.replace(marketing, record_id="m2", legal_basis=LegalBasis.CONTRACT),
                ]
            )
        assert store.records.purpose_usage() == [
            ("course_delivery", LegalBasis.CONTRACT, "crm", 1),
            ("course_delivery", LegalBasis.CONTRACT, "lms", 2),
            ("marketing", LegalBasis.CONSENT, "lms", 2),
            ("marketing", LegalBasis.CONTRACT, "lms", 1),
        ]
        with store.write() as tx:
            tx.records.delete_category_records("s1", "contact", "marketing")
        assert store.records.purpose_usage() == [
            ("course_delivery", LegalBasis.CONTRACT, "crm", 1),
            ("course_delivery", LegalBasis.CONTRACT, "lms", 2),
            ("marketing", LegalBasis.CONSENT, "lms", 1),
        ]

    def test_records_using_names_exactly_one_uses_records_by_record_id(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.records.records_using("marketing", LegalBasis.CONSENT, "lms") == []
        self.add_subject(store)
        self.add_subject(store, "s2")
        marketing = dataclasses.replace(
            record_row("m0"), purpose="marketing", legal_basis=LegalBasis.CONSENT, key_id="k2"
        )
        with store.write() as tx:
            # Stored out of record id order, across subjects and categories.
            tx.records.insert_records(
                [
                    dataclasses.replace(marketing, record_id="m3", subject_id="s2"),
                    marketing,
                    dataclasses.replace(marketing, record_id="m2", category="notes"),
                    dataclasses.replace(marketing, record_id="m1", subject_id="s2"),
                    # Another basis, another system, another purpose: other uses.
                    dataclasses.replace(
                        marketing, record_id="m1b", legal_basis=LegalBasis.CONTRACT
                    ),
                    dataclasses.replace(marketing, record_id="m1c", source_system="crm"),
                    record_row("m1d"),
                ]
            )
        every = [("s1", "m0"), ("s2", "m1"), ("s1", "m2"), ("s2", "m3")]
        for view in (store, other_store):
            using = functools.partial(view.records.records_using, "marketing", LegalBasis.CONSENT)
            assert using("lms") == every
            assert using("lms", limit=2) == every[:2]
            assert using("lms", "m1") == every[2:]
            assert using("lms", "m1", 1) == every[2:3]
            assert using("lms", "m3") == []
            assert using("crm") == [("s1", "m1c")]
            assert using("accounting") == []
            assert view.records.records_using("marketing", LegalBasis.CONTRACT, "lms") == [
                ("s1", "m1b")
            ]
            assert view.records.records_using("course_delivery", LegalBasis.CONTRACT, "lms") == [
                ("s1", "m1d")
            ]
        with store.write() as tx:
            tx.records.delete_category_records("s1", "contact", "marketing")
        assert store.records.records_using("marketing", LegalBasis.CONSENT, "lms") == [
            ("s2", "m1"),
            ("s1", "m2"),
            ("s2", "m3"),
        ]

    def test_purpose_holders_are_the_active_subjects_holding_its_records_each_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.records.purpose_holders("marketing") == []
        with store.write() as tx:
            for subject_id in ("s1", "s2", "s3", "s4", "s5"):
                tx.subjects.insert_subject(subject_row(subject_id))
            tx.subjects.insert_subject(
                dataclasses.replace(subject_row("s6"), protected_identity=False)
            )
            marketing = dataclasses.replace(record_row("m1"), purpose="marketing")
            tx.records.insert_records(
                [
                    # s1 holds three, in two categories, stored apart from each other.
                    marketing,
                    dataclasses.replace(marketing, record_id="m2", subject_id="s6"),
                    dataclasses.replace(marketing, record_id="m3", category="notes"),
                    dataclasses.replace(marketing, record_id="m4", subject_id="s2"),
                    dataclasses.replace(marketing, record_id="m5"),
                    record_row("c1", "s3"),  # another purpose only
                    record_row("c2", "s1"),
                    dataclasses.replace(marketing, record_id="m6", subject_id="s4"),
                    dataclasses.replace(marketing, record_id="m7", subject_id="s5"),
                ]
            )
            tx.subjects.set_subject_state("s4", SubjectState.ERASURE_PENDING, at(5))
            tx.subjects.set_subject_state("s5", SubjectState.ERASED, at(5))
        every = [("s1", True), ("s2", True), ("s6", False)]
        for view in (store, other_store):
            holders = view.records.purpose_holders
            assert holders("marketing") == every
            assert holders("marketing", limit=2) == every[:2]
            assert holders("marketing", "s1") == every[1:]
            assert holders("marketing", "s1", 1) == every[1:2]
            assert holders("marketing", "s2") == every[2:]
            assert holders("marketing", "s6") == []
            assert holders("course_delivery") == [("s1", True), ("s3", True)]
            assert holders("grading") == []
        with store.write() as tx:
            tx.records.delete_category_records("s1", "contact", "marketing")
            assert tx.records.purpose_holders("marketing") == every  # its notes stay
            tx.records.delete_category_records("s1", "notes", "marketing")
            assert tx.records.purpose_holders("marketing") == every[1:]
        assert other_store.records.purpose_holders("marketing") == every[1:]

    def test_an_updated_record_keeps_its_place_and_creation(self, store: RecordStore) -> None:
        self.add_subject(store)
        with store.write() as tx:
            tx.records.insert_records([record_row("r1"), record_row("r2")])
        before = store.records.record("r1")
        assert before is not None
        changed = dataclasses.replace(
            record_row("r1"),
            purpose="marketing",
            legal_basis=LegalBasis.CONSENT,
            source_system="salon",
            key_id="k2",
            sealed_payload=b"new payload",
            sealed_content=b"new content",
            updated_at=at(60),
        )
        with store.write() as tx:
            tx.records.update_record(changed)
        after = store.records.record("r1")
        assert same_record(after, changed)
        assert after is not None and after.seq == before.seq and after.created_at == at(0)
        assert same_record(store.records.record("r2"), record_row("r2"))
        assert store.records.count_records("s1") == 2

    # ------------------------------------------------------------ appending
    def test_a_record_is_appended_only_to_a_subject_in_the_state_asked_for(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        stored = store.records.append_record(NewRecord(record_row("r1")), SubjectState.ACTIVE)
        assert stored == AppendOutcome(SubjectState.ACTIVE, stored=True)
        assert same_record(store.records.record("r1"), record_row("r1"))
        assert store.records.count_records("s1") == 1
        refused = store.records.append_record(
            NewRecord(record_row("r2")), SubjectState.ERASURE_PENDING
        )
        assert refused == AppendOutcome(SubjectState.ACTIVE, stored=False)
        nobody = store.records.append_record(
            NewRecord(record_row("r3", subject_id="nobody")), SubjectState.ACTIVE
        )
        assert nobody == AppendOutcome(None, stored=False)
        assert store.records.record("r2") is None and store.records.record("r3") is None
        assert store.records.count_records("s1") == 1

    def test_an_appended_record_remembers_its_request_once(self, store: RecordStore) -> None:
        self.add_subject(store)
        request = remembered("req-1", operation="create_record")
        first = store.records.append_record(
            NewRecord(record_row("r1"), request), SubjectState.ACTIVE
        )
        assert first.stored and not first.request_taken
        assert store.replay.remembered(["req-1"]) == request
        again = store.records.append_record(
            NewRecord(record_row("r2"), request), SubjectState.ACTIVE
        )
        assert again == AppendOutcome(SubjectState.ACTIVE, stored=False, request_taken=True)
        assert store.records.record("r2") is None and store.records.count_records("s1") == 1

    def test_concurrent_appends_each_get_their_own_outcome(self, store: RecordStore) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        with store.write() as tx:
            tx.subjects.set_subject_state("s2", SubjectState.ERASED, at(1))
        outcomes: dict[str, AppendOutcome] = {}

        def append(n: int) -> None:
            subject_id = "s2" if n % 4 == 0 else "s1"
            row = record_row(f"r{n}", subject_id=subject_id)
            outcomes[row.record_id] = store.records.append_record(
                NewRecord(row), SubjectState.ACTIVE
            )

        threads = [threading.Thread(target=append, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for n in range(40):
            outcome = outcomes[f"r{n}"]
            if n % 4 == 0:
                assert outcome == AppendOutcome(SubjectState.ERASED, stored=False)
            else:
                assert outcome == AppendOutcome(SubjectState.ACTIVE, stored=True)
        assert store.records.count_records("s1") == 30 and store.records.count_records("s2") == 0

    def test_a_failed_append_stores_nothing_and_the_next_lands(self, store: RecordStore) -> None:
        self.add_subject(store)
        store.records.append_record(NewRecord(record_row("r1")), SubjectState.ACTIVE)
        with pytest.raises(Exception):  # noqa: B017 - each engine raises its own kind
            store.records.append_record(NewRecord(record_row("r1")), SubjectState.ACTIVE)
        assert store.records.count_records("s1") == 1
        assert store.records.append_record(NewRecord(record_row("r2")), SubjectState.ACTIVE).stored
        assert store.records.count_records("s1") == 2

    def test_an_appended_record_is_committed_when_the_call_returns(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        store.records.append_record(NewRecord(record_row("r1")), SubjectState.ACTIVE)
        seen: list[RecordRow | None] = []
        reader = threading.Thread(target=lambda: seen.append(store.records.record("r1")))
        reader.start()
        reader.join()
        assert same_record(seen[0], record_row("r1"))

    def test_appends_awaited_on_an_event_loop_keep_the_same_rules(self, store: RecordStore) -> None:
        self.add_subject(store)
        request = remembered("req-1", operation="create_record")

        async def appends() -> list[AppendOutcome]:
            return await asyncio.gather(
                *(
                    store.records.append_record_async(
                        NewRecord(record_row(f"r{n}")), SubjectState.ACTIVE
                    )
                    for n in range(20)
                ),
                store.records.append_record_async(
                    NewRecord(record_row("x1"), request), SubjectState.ACTIVE
                ),
                store.records.append_record_async(
                    NewRecord(record_row("x2"), request), SubjectState.ACTIVE
                ),
                store.records.append_record_async(
                    NewRecord(record_row("x3")), SubjectState.ERASURE_PENDING
                ),
                store.records.append_record_async(
                    NewRecord(record_row("x4", subject_id="nobody")), SubjectState.ACTIVE
                ),
            )

        *stored, first, second, refused, nobody = asyncio.run(appends())
        assert stored == [AppendOutcome(SubjectState.ACTIVE, stored=True)] * 20
        assert {first.request_taken, second.request_taken} == {False, True}
        assert refused == AppendOutcome(SubjectState.ACTIVE, stored=False)
        assert nobody == AppendOutcome(None, stored=False)
        assert store.records.count_records("s1") == 21
        assert store.replay.remembered(["req-1"]) == request

    # ------------------------------------------------------------ requests
    def test_a_request_is_remembered_once_and_forgotten_with_its_subject(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        with store.write() as tx:
            assert tx.replay.remember(remembered("a", operation="create_record"))
            assert not tx.replay.remember(remembered("a", operation="other"))
            assert tx.replay.remember(remembered("b", operation="erase_subject"))
            assert tx.replay.remember(remembered("c", operation="update_subject"))
            assert tx.replay.remember(remembered("d", subject_id="s2"))
        assert store.replay.remembered(["a"]) == remembered("a", operation="create_record")
        assert store.replay.remembered(["nope"]) is None
        with store.write() as tx:
            tx.replay.forget_requests_of("s1", keep=("erase_subject", "erase_everywhere"))
        assert store.replay.remembered(["a"]) is None and store.replay.remembered(["c"]) is None
        assert store.replay.remembered(["b"]) == remembered("b", operation="erase_subject")
        assert store.replay.remembered(["d"]) == remembered("d", subject_id="s2")

    def test_a_request_is_found_under_any_of_its_hashes(self, store: RecordStore) -> None:
        # One request id's hashes under each live keyring version: the row is
        # under one of them, whichever comes first.
        self.add_subject(store)
        with store.write() as tx:
            assert tx.replay.remember(remembered("under-v1"))
            assert tx.replay.remember(remembered("other", operation="other"))
        assert store.replay.remembered(["under-v2", "under-v1"]) == remembered("under-v1")
        assert store.replay.remembered(["under-v2", "under-v3"]) is None
        assert store.replay.remembered(["other"]) == remembered("other", operation="other")

    def test_a_subject_erased_keeps_no_roles(self, store: RecordStore) -> None:
        self.add_subject(store)
        with store.write() as tx:
            tx.subjects.update_subject("s1", None, False, at(4))
        stored = store.subjects.subject("s1")
        assert stored is not None and stored.sealed_roles is None
        # Nothing the core stores is in the clear, so the upgrade finds nothing to do.
        assert store.subjects.subjects_with_clear_roles(10) == []
        assert store.replay.requests_in_clear(10) == []
        with store.write() as tx:
            assert not tx.subjects.seal_clear_roles("s1", (), b"x")
            assert not tx.replay.hash_request_in_clear("nope", "h", 1, at(1))

    def test_requests_remembered_before_a_time_are_forgotten_in_batches(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        with store.write() as tx:
            for n in range(5):
                tx.replay.remember(remembered(f"old-{n}", when=n))
            tx.replay.remember(remembered("at-ten", when=10))
            tx.replay.remember(remembered("new", when=20))
        assert store.maintenance.forget_requests(at(10), 3) == 3
        assert store.maintenance.forget_requests(at(10), 3) == 2
        assert store.maintenance.forget_requests(at(10), 3) == 0
        for n in range(5):
            assert store.replay.remembered([f"old-{n}"]) is None
        # Remembered at the time itself, or after, stays.
        assert store.replay.remembered(["at-ten"]) == remembered("at-ten", when=10)
        assert store.replay.remembered(["new"]) == remembered("new", when=20)

    def test_an_erasure_receipt_is_kept(self, store: RecordStore) -> None:
        self.add_subject(store)
        assert store.receipts.erasure_receipt("s1") is None
        with store.write() as tx:
            tx.receipts.save_erasure_receipt("s1", '{"receipt": 1}', at(3))
        assert store.receipts.erasure_receipt("s1") == '{"receipt": 1}'

    # --------------------------------------------------------- transactions
    def test_a_write_commits_all_or_nothing_and_reads_its_own_writes(
        self, store: RecordStore
    ) -> None:
        self.add_subject(store)
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.records.insert_records([record_row("r1")])
            tx.subjects.insert_identity(IdentityRow("b1", "s1", IdentityKind.EMAIL, b"x"))
            tx.subjects.touch_subject("s1", at(9))
            assert tx.records.record("r1") is not None and tx.records.count_records("s1") == 1
            assert tx.subjects.subject_id_by_index("b1") == "s1"
            raise RuntimeError("the caller changed its mind")
        assert store.records.record("r1") is None and store.records.count_records("s1") == 0
        assert store.subjects.identities("s1") == []
        assert store.subjects.subject("s1") == subject_row()
        with store.write() as tx:
            tx.records.insert_records([record_row("r1")])
        assert store.records.count_records("s1") == 1

    def test_every_aggregate_reads_its_own_writes_inside_the_transaction(
        self, store: RecordStore
    ) -> None:
        identity = IdentityRow("b1", "s1", IdentityKind.EMAIL, b"x")
        with store.write() as tx:
            tx.subjects.insert_subject(subject_row())
            tx.subjects.insert_identity(identity)
            tx.records.insert_records([record_row("r1", category="notes")])
            tx.replay.remember(remembered("a"))
            tx.receipts.save_erasure_receipt("s1", "receipt", at(1))
            tx.subjects.set_subject_state("s1", SubjectState.ERASURE_PENDING, at(1))
            assert tx.subjects.subject("s1") == dataclasses.replace(
                subject_row(), state=SubjectState.ERASURE_PENDING, updated_at=at(1)
            )
            assert tx.subjects.subject_state("s1") is SubjectState.ERASURE_PENDING
            assert tx.subjects.subject_ids_in_state(SubjectState.ERASURE_PENDING) == ["s1"]
            assert tx.subjects.identities("s1") == [identity]
            assert [r.record_id for r in tx.records.records_page("s1", None, 0, 10)] == ["r1"]
            assert tx.records.categories("s1") == ["notes"]
            assert tx.replay.remembered(["a"]) == remembered("a")
            assert tx.receipts.erasure_receipt("s1") == "receipt"

    def test_the_step_store_shares_the_write_transaction(self, store: RecordStore) -> None:
        self.add_subject(store)
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.subjects.set_subject_state("s1", SubjectState.ERASURE_PENDING, at(1))
            assert tx.steps.request("none") is None
            raise RuntimeError("undo")
        assert store.subjects.subject_state("s1") is SubjectState.ACTIVE
        assert store.steps.request("none") is None

    # ---------------------------------------------------------- maintenance
    def test_records_of_subjects_in_a_state_are_purged_in_batches(self, store: RecordStore) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")
        with store.write() as tx:
            tx.records.insert_records([record_row(f"a{n}") for n in range(7)])
            tx.records.insert_records([record_row(f"b{n}", subject_id="s2") for n in range(3)])
            tx.subjects.set_subject_state("s1", SubjectState.ERASED, at(1))
        assert store.maintenance.purge_records(SubjectState.ERASED, 5) == 5
        assert store.maintenance.purge_records(SubjectState.ERASED, 5) == 2
        assert store.maintenance.purge_records(SubjectState.ERASED, 5) == 0
        assert (
            list(store.records.iter_records("s1")) == [] and store.records.count_records("s1") == 0
        )
        assert store.records.count_records("s2") == 3
        assert store.maintenance.purge_records(SubjectState.ERASURE_PENDING, 5) == 0

    def test_a_purge_finds_subjects_that_came_into_its_state_since_the_last(
        self, store: RecordStore
    ) -> None:
        for subject_id in ("s1", "s2", "s3"):
            self.add_subject(store, subject_id)
        with store.write() as tx:
            tx.records.insert_records([record_row(f"a{n}") for n in range(2)])
            tx.records.insert_records([record_row(f"c{n}", subject_id="s3") for n in range(2)])
            tx.subjects.set_subject_state("s1", SubjectState.ERASED, at(1))
            tx.subjects.set_subject_state("s2", SubjectState.ERASURE_PENDING, at(1))
        assert store.maintenance.purge_records(SubjectState.ERASED, 10) == 2
        assert store.maintenance.purge_records(SubjectState.ERASURE_PENDING, 10) == 0
        # s2 had nothing to purge then; it has now, in a state of its own.
        with store.write() as tx:
            tx.records.insert_records([record_row("b1", subject_id="s2")])
            tx.subjects.set_subject_state("s2", SubjectState.ERASED, at(2))
        assert store.maintenance.purge_records(SubjectState.ERASED, 10) == 1
        assert (
            store.records.count_records("s2") == 0 and list(store.records.iter_records("s2")) == []
        )
        assert store.records.count_records("s3") == 2

    def test_a_purge_stops_short_of_its_limit_only_when_no_subject_is_left(
        self, store: RecordStore
    ) -> None:
        # 150 erased subjects without records come first (by id), then 100 with
        # two each: a purge must not stop at the ones it finds nothing for.
        subject_ids = [f"e{n:03}" for n in range(250)]
        with store.write() as tx:
            for subject_id in subject_ids:
                tx.subjects.insert_subject(subject_row(subject_id))
            tx.subjects.insert_subject(subject_row("active"))
            tx.records.insert_records(
                [
                    record_row(f"{subject_id}-{n}", subject_id=subject_id)
                    for subject_id in [*subject_ids[150:], "active"]
                    for n in range(2)
                ]
            )
            for subject_id in subject_ids:
                tx.subjects.set_subject_state(subject_id, SubjectState.ERASED, at(1))
        assert store.maintenance.purge_records(SubjectState.ERASED, 10) == 10
        assert store.maintenance.purge_records(SubjectState.ERASED, 150) == 150
        assert store.maintenance.purge_records(SubjectState.ERASED, 150) == 40
        assert store.maintenance.purge_records(SubjectState.ERASED, 150) == 0
        assert all(store.records.count_records(subject_id) == 0 for subject_id in subject_ids)
        assert store.records.count_records("active") == 2

    def test_scrub_completes_when_no_one_reads(self, store: RecordStore) -> None:
        self.add_subject(store)
        with store.write() as tx:
            tx.records.insert_records([record_row("r1")])
            tx.records.delete_category_records("s1", "contact")
        assert store.maintenance.scrub() is True
        assert store.maintenance.scrub() is True  # nothing left to do is done

    # ------------------------------------------------- several store objects
    def test_grouped_appends_from_two_stores_at_once_each_land_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subject(store)
        self.add_subject(store, "s2")

        def appender(on: RecordStore, t: int) -> list[AppendOutcome]:
            return [
                on.records.append_record(
                    NewRecord(record_row(f"t{t}-{n}", subject_id=f"s{1 + n % 2}")),
                    SubjectState.ACTIVE,
                )
                for n in range(20)
            ]

        on = itertools.cycle((store, other_store))
        outcomes = race([functools.partial(appender, next(on), t) for t in range(8)])
        stored_once = AppendOutcome(SubjectState.ACTIVE, stored=True)
        assert all(o == stored_once for each in outcomes for o in each)
        written = {f"t{t}-{n}" for t in range(8) for n in range(20)}
        for view in (store, other_store):
            assert view.records.count_records("s1") == 80
            assert view.records.count_records("s2") == 80
            stored = [*view.records.iter_records("s1"), *view.records.iter_records("s2")]
            assert sorted(r.record_id for r in stored) == sorted(written)
            assert len({r.seq for r in stored}) == len(written)  # no place given twice
            assert all(same_record(r, record_row(r.record_id, r.subject_id)) for r in stored)

    def test_appends_awaited_through_two_stores_at_once_land_once_and_share_a_request_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subject(store)

        async def appends() -> list[AppendOutcome]:
            on = itertools.cycle((store, other_store))
            return await asyncio.gather(
                *(
                    next(on).records.append_record_async(
                        NewRecord(record_row(f"r{n}")), SubjectState.ACTIVE
                    )
                    for n in range(40)
                ),
                *(
                    next(on).records.append_record_async(
                        NewRecord(record_row(f"x{n}"), remembered("req", operation=f"op{n}")),
                        SubjectState.ACTIVE,
                    )
                    for n in range(4)
                ),
            )

        outcomes = asyncio.run(asyncio.wait_for(appends(), BOUND_SECONDS))
        assert outcomes[:40] == [AppendOutcome(SubjectState.ACTIVE, stored=True)] * 40
        (winner,) = [n for n, outcome in enumerate(outcomes[40:]) if outcome.stored]
        assert [o.request_taken for o in outcomes[40:]] == [n != winner for n in range(4)]
        for view in (store, other_store):
            assert view.records.count_records("s1") == 41
            assert view.replay.remembered(["req"]) == remembered("req", operation=f"op{winner}")
            assert sorted(r.record_id for r in view.records.iter_records("s1")) == sorted(
                [f"r{n}" for n in range(40)] + [f"x{winner}"]
            )

    def test_appends_racing_a_state_change_from_another_store_land_only_before_it(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subject(store)

        def appender(t: int) -> list[AppendOutcome]:
            return [
                store.records.append_record(NewRecord(record_row(f"t{t}-{n}")), SubjectState.ACTIVE)
                for n in range(20)
            ]

        def erase() -> None:
            with other_store.write() as tx:
                tx.subjects.set_subject_state("s1", SubjectState.ERASURE_PENDING, at(1))

        *outcomes, _ = race([*(functools.partial(appender, t) for t in range(4)), erase])
        landed = AppendOutcome(SubjectState.ACTIVE, stored=True)
        refused = AppendOutcome(SubjectState.ERASURE_PENDING, stored=False)
        for each in outcomes:
            assert set(each) <= {landed, refused}, each
            # Each appender's records land until the change, and none after it.
            assert each == sorted(each, key=lambda o: not o.stored), each
        stored = sum(o.stored for each in outcomes for o in each)
        assert (
            store.records.count_records("s1") == other_store.records.count_records("s1") == stored
        )
        assert len(list(other_store.records.iter_records("s1"))) == stored

    def test_a_request_id_raced_from_two_stores_is_remembered_once(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subject(store)

        def append(on: RecordStore, round_: int, contender: int) -> tuple[AppendOutcome, int]:
            request = dataclasses.replace(
                remembered(f"req-{round_}", operation="create_record"), result=f"c{contender}"
            )
            row = record_row(f"r{round_}-{contender}")
            return on.records.append_record(NewRecord(row, request), SubjectState.ACTIVE), contender

        for round_ in range(10):
            on = itertools.cycle((store, other_store))
            outcomes = race([functools.partial(append, next(on), round_, c) for c in range(4)])
            winners = [c for outcome, c in outcomes if outcome.stored]
            assert len(winners) == 1, outcomes
            losers = [outcome for outcome, c in outcomes if c != winners[0]]
            assert losers == [AppendOutcome(SubjectState.ACTIVE, False, request_taken=True)] * 3
            for view in (store, other_store):
                kept = view.replay.remembered([f"req-{round_}"])
                assert kept is not None and kept.result == f"c{winners[0]}"
                assert view.records.record(f"r{round_}-{winners[0]}") is not None
        assert store.records.count_records("s1") == other_store.records.count_records("s1") == 10

    def test_a_request_id_remembered_in_racing_transactions_is_taken_once_and_seen(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subject(store)

        def remember(on: RecordStore, n: int) -> tuple[bool, RememberedRequest | None]:
            with on.write() as tx:
                taken = tx.replay.remember(remembered("req", operation=f"op{n}"))
                # The loser sees the winner's, in its own transaction.
                return taken, tx.replay.remembered(["req"])

        on = itertools.cycle((store, other_store))
        outcomes = race([functools.partial(remember, next(on), n) for n in range(6)])
        winners = [n for n, (taken, _) in enumerate(outcomes) if taken]
        assert len(winners) == 1, outcomes
        winner = remembered("req", operation=f"op{winners[0]}")
        assert [seen for _, seen in outcomes] == [winner] * 6
        assert store.replay.remembered(["req"]) == other_store.replay.remembered(["req"]) == winner

    def test_two_intakes_for_one_subject_racing_are_serialised_by_the_unit_of_work(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        # An erasure's intake as the core makes it: read the subject's state and,
        # if it is still active, store the request and move the subject on, in one
        # write. A write takes the write lock at once, so of several intakes racing
        # from different processes exactly one finds the subject active.
        def intake(on: RecordStore, subject_id: str, request_id: str) -> bool:
            request = StoredRequest(
                request_id,
                "erasure",
                subject_id,
                RequestState.PENDING,
                at(1),
                at(3600),
                None,
                b"sealed",
                at(1),
                THE_VAULT,
            )
            with on.write() as tx:
                current = tx.subjects.subject(subject_id)
                if current is None or current.state is not SubjectState.ACTIVE:
                    return False
                tx.steps.insert_request(request, ["vault", "lms"], StepState.PENDING)
                tx.subjects.set_subject_state(subject_id, SubjectState.ERASURE_PENDING, at(1))
                return True

        for subject_id in ("s1", "s2", "s3", "s4", "s5"):
            self.add_subject(store, subject_id)
            on = itertools.cycle((store, other_store))
            accepted = race(
                [
                    functools.partial(intake, next(on), subject_id, f"{subject_id}-{n}")
                    for n in range(4)
                ]
            )
            assert accepted.count(True) == 1, (subject_id, accepted)
            winner = f"{subject_id}-{accepted.index(True)}"
            for view in (store, other_store):
                assert view.subjects.subject_state(subject_id) is SubjectState.ERASURE_PENDING
                latest = view.steps.latest_request("erasure", subject_id)
                assert latest is not None and latest.request_id == winner
                for n in range(4):
                    stored = view.steps.request(f"{subject_id}-{n}")
                    assert (stored is not None) == (f"{subject_id}-{n}" == winner)
