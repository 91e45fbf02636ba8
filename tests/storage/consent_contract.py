"""The consent store's contract (`RecordStore.consents`, `Transaction.consents`):
what vault.core.consent relies on, whatever engine stores the histories.

Subclass `ConsentStoreContract` beside a record store's contract: it takes the
same `store` and `other_store` fixtures (a fresh RecordStore, and a second one
open on the same database, as a second server process would open it).

The store keeps what it is given: the rows carry statuses, policy versions
and times the way the core decides them, and must come back as written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from tests.storage.records_contract import subject_row
from vault.core.consent.model import ConsentStatus, LimitKind, PolicyVersion
from vault.core.consent.store import ConsentRow, LimitRow, StandingRow
from vault.core.model import SubjectState
from vault.storage.base import RecordStore

T0 = dt.datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=dt.UTC)
EMAIL = "marketing_email"
SMS = "marketing_sms"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def event(
    n: int,
    subject_id: str = "s1",
    purpose: str = EMAIL,
    status: ConsentStatus = ConsentStatus.GIVEN,
    policy_seq: int = 1,
    *,
    expires: dt.datetime | None = None,
) -> ConsentRow:
    """Event number `n`, given `n` seconds after T0 under the version of `policy_seq`."""
    return ConsentRow(
        event_id=f"event-{n}",
        subject_id=subject_id,
        purpose=purpose,
        status=status.value,
        given_at=at(n),
        recorded_at=at(n + 0.25),
        policy_version=f"2026-{policy_seq}" if policy_seq else "",
        policy_seq=policy_seq,
        expires_at=expires,
        key_id=f"key-{subject_id}",
        sealed=b"sealed \x00 channel and evidence " + str(n).encode(),
    )


def limit_row(
    n: int,
    subject_id: str = "s1",
    kind: LimitKind = LimitKind.OBJECTION,
    purposes: tuple[str, ...] = (EMAIL,),
    **changes: object,
) -> LimitRow:
    """Limit number `n`, recorded `n` seconds after T0, in effect."""
    row = LimitRow(
        limit_id=f"limit-{n}",
        subject_id=subject_id,
        kind=kind.value,
        purposes=purposes,
        recorded_at=at(n),
        lifted_at=None,
        overridden_at=None,
        key_id=f"key-{subject_id}",
        sealed=b"sealed \x00 reason and recorder " + str(n).encode(),
    )
    return row._replace(**changes)  # type: ignore[arg-type]


def standing_of(row: ConsentRow, protected: bool = False) -> StandingRow:
    """The standing `row` leaves, as stale() lists it."""
    return StandingRow(
        row.subject_id,
        row.purpose,
        row.event_id,
        row.status,
        row.given_at,
        row.policy_version,
        row.policy_seq,
        row.expires_at,
        protected,
    )


def unflagged(rows: list[StandingRow]) -> list[StandingRow]:
    # standing() need not join the subject's flag in: only lists promise it.
    return [row._replace(protected_identity=False) for row in rows]


def policy(version: str, seq: int, **fields: object) -> PolicyVersion:
    """A version with every field set, none to its default."""
    values: dict[str, object] = {
        "version": version,
        "seq": seq,
        "effective_from": dt.date(2026, 12, seq),
        "published_at": at(seq * 100.5),
        "published_by": "dpo (tok_2)",
        "text_sha256": f"{seq:064x}",
        "url": f"https://skolan.example.se/integritet/{version}",
        "text": f"Integritetspolicy {version}: vi behandlar dina uppgifter för … ",
        "changed_purposes": (EMAIL, SMS, "statistics"),
        "material_purposes": (SMS,),
        "summary": "Sms-utskick läggs till; e-post i fler ärenden.",
    }
    values.update(fields)
    return PolicyVersion(**values)  # type: ignore[arg-type]


def appended(rows: list[ConsentRow], seqs: list[int]) -> list[ConsentRow]:
    return [row._replace(seq=seq) for row, seq in zip(rows, seqs, strict=True)]


# A school's vault a while after a policy change, for the engines' plan tests:
# 100,000 people, a tenth of them erased, each with a standing for most of the
# consent-based purposes, given, renewed, withdrawn or refused, under the
# current version 2 or the one before it.
PEOPLE = 100_000
CONSENT_PURPOSES = ("course_application", "customer_surveys", EMAIL, "marketing_post", SMS)
STATUSES = ("given", "withdrawn", "renewed", "refused")


def many_people() -> Iterator[tuple[str, str]]:
    """Each person's (subject id, state)."""
    for n in range(PEOPLE):
        yield f"p{n:06d}", SubjectState.ERASED.value if n % 10 == 0 else SubjectState.ACTIVE.value


def their_standing() -> Iterator[tuple[str, str, str, str, int]]:
    """Each person's (subject id, purpose, event id, status, policy seq) by purpose."""
    for n in range(PEOPLE):
        for i, purpose in enumerate(CONSENT_PURPOSES):
            if (n + i) % 4 != 0:
                seq = 1 if (n + 2 * i) % 3 == 0 else 2
                yield f"p{n:06d}", purpose, f"e{n}-{i}", STATUSES[(n * 7 + i) % 4], seq


# The purpose of most of their records: the contact stream's people, for a
# purpose resting on another basis than consent, are those who hold one.
HELD = "course_delivery"


def their_records() -> Iterator[tuple[str, str, str]]:
    """(record id, subject id, purpose): every third person holds two records
    for HELD; every other person one for another purpose."""
    for n in range(PEOPLE):
        if n % 3 == 0:
            yield f"r{n}-1", f"p{n:06d}", HELD
            yield f"r{n}-2", f"p{n:06d}", HELD
        if n % 2 == 0:
            yield f"r{n}-3", f"p{n:06d}", "grading"


def their_limits() -> Iterator[tuple[str, str, str, bool]]:
    """(limit id, subject id, kind, lifted): every seventh person objected or
    had processing restricted once; one in fifty of those limits is in effect."""
    for n in range(0, PEOPLE, 7):
        kind = "objection" if n % 2 else "restriction"
        yield f"l{n}", f"p{n:06d}", kind, (n // 7) % 50 != 1


class ConsentStoreContract:
    def add_subjects(self, store: RecordStore, *subject_ids: str, protected: bool = True) -> None:
        with store.write() as tx:
            for subject_id in subject_ids:
                row = dataclasses.replace(subject_row(subject_id), protected_identity=protected)
                tx.subjects.insert_subject(row)

    def append(self, store: RecordStore, *rows: ConsentRow) -> None:
        with store.write() as tx:
            tx.consents.append(list(rows))

    # --------------------------------------------------------------- events
    def test_events_read_back_as_written_in_the_order_appended(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        assert store.consents.events("s1") == []
        first = [
            event(3, purpose=EMAIL),
            event(1, purpose=SMS, expires=at(86_400)),  # given earlier, recorded later
            event(2, subject_id="s2"),
        ]
        later = [event(4, purpose=EMAIL, status=ConsentStatus.WITHDRAWN, policy_seq=0)]
        self.append(store, *first)
        self.append(other_store, *later)
        for view in (store, other_store):
            stored = view.consents.events("s1")
            seqs = [row.seq for row in stored]
            assert seqs == sorted(set(seqs)) and seqs[0] > 0
            assert stored == appended([first[0], first[1], later[0]], seqs)
            assert all(row.given_at.utcoffset() == dt.timedelta(0) for row in stored)
            assert all(isinstance(row.sealed, bytes) for row in stored)
            assert stored[1].expires_at == at(86_400) and stored[0].expires_at is None
            # Across subjects too, seq is the order events were recorded in.
            (other,) = view.consents.events("s2")
            assert other == first[2]._replace(seq=other.seq)
            assert seqs[1] < other.seq < seqs[2]
            assert view.consents.events("nobody") == []

    def test_events_page_by_seq_and_pick_one_purpose(self, store: RecordStore) -> None:
        self.add_subjects(store, "s1", "s2")
        rows = [event(n, purpose=(EMAIL, SMS)[n % 2]) for n in range(7)]
        self.append(store, *rows[:4], event(99, subject_id="s2"), *rows[4:])
        everything = store.consents.events("s1")
        assert [row.event_id for row in everything] == [f"event-{n}" for n in range(7)]
        assert store.consents.events("s1", limit=3) == everything[:3]
        assert store.consents.events("s1", after_seq=everything[2].seq) == everything[3:]
        assert store.consents.events("s1", after_seq=everything[2].seq, limit=2) == everything[3:5]
        assert store.consents.events("s1", after_seq=everything[-1].seq) == []
        sms = store.consents.events("s1", SMS)
        assert [row.event_id for row in sms] == ["event-1", "event-3", "event-5"]
        assert store.consents.events("s1", SMS, after_seq=sms[0].seq, limit=1) == sms[1:2]
        assert store.consents.events("s1", "statistics") == []
        assert [row.event_id for row in store.consents.events("s2", EMAIL)] == ["event-99"]

    def test_events_named_are_exactly_the_subjects_events_of_those_ids_in_seq_order(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        rows = [
            event(5, purpose=SMS),
            event(1),  # given earlier, recorded later
            event(2, subject_id="s2"),
            event(3, purpose=SMS, status=ConsentStatus.WITHDRAWN, policy_seq=0),
            event(4, expires=at(86_400)),
        ]
        self.append(store, *rows)
        for view in (store, other_store):
            everything = view.consents.events("s1")
            by_id = {row.event_id: row for row in everything}
            # Named in any order, read back in the order recorded, as written.
            named = view.consents.events_named("s1", ["event-4", "event-5", "event-1"])
            assert named == [by_id["event-5"], by_id["event-1"], by_id["event-4"]]
            assert named[2].expires_at == at(86_400) and named[1].sealed == rows[1].sealed
            # Another subject's event is not theirs, even named; nor an id of none.
            assert view.consents.events_named("s1", ["event-2", "event-3", "event-9"]) == [
                by_id["event-3"]
            ]
            (other,) = view.consents.events_named("s2", ["event-2", "event-1"])
            assert other == rows[2]._replace(seq=other.seq)
            assert view.consents.events_named("s2", ["event-1"]) == []
            assert view.consents.events_named("nobody", ["event-1"]) == []
            assert view.consents.events_named("s1", []) == []
            # Every one of theirs, named (a tuple will do), is the whole history.
            ids = tuple(row.event_id for row in reversed(everything))
            assert view.consents.events_named("s1", ids) == everything

    # ------------------------------------------------------------- standing
    def test_standing_is_each_purposes_latest_event(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        assert store.consents.standing("s1") == []
        given = event(1, purpose=SMS)
        withdrawn = event(2, purpose=SMS, status=ConsentStatus.WITHDRAWN, policy_seq=0)
        # In one list, the later row for a purpose is its standing.
        self.append(store, given, event(3, purpose=EMAIL), withdrawn, event(4, subject_id="s2"))
        renewed = event(5, purpose=EMAIL, status=ConsentStatus.RENEWED, policy_seq=2)
        renewed = renewed._replace(expires_at=at(1_000))
        self.append(other_store, renewed)
        for view in (store, other_store):
            assert unflagged(view.consents.standing("s1")) == [
                standing_of(renewed),
                standing_of(withdrawn),
            ]
            assert unflagged(view.consents.standing("s2")) == [standing_of(event(4, "s2"))]
            assert view.consents.standing("nobody") == []

    # ---------------------------------------------------------------- stale
    def test_stale_lists_exactly_the_active_people_given_under_an_older_version(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        people = "abcdefghij"
        self.add_subjects(store, *people)
        self.add_subjects(store, "k", protected=False)
        rows = {
            "a": [event(1, "a")],  # given under 1
            "b": [event(2, "b", status=ConsentStatus.RENEWED)],  # renewed under 1
            "c": [event(3, "c", policy_seq=2)],  # given under 2: current
            "d": [event(4, "d", status=ConsentStatus.WITHDRAWN)],
            "e": [event(5, "e", status=ConsentStatus.REFUSED)],
            # Given, then withdrawn: the latest is what counts.
            "f": [event(6, "f"), event(7, "f", status=ConsentStatus.WITHDRAWN)],
            # Withdrawn, then given before any version was published.
            "g": [event(8, "g", status=ConsentStatus.WITHDRAWN), event(9, "g", policy_seq=0)],
            "h": [event(10, "h", purpose=SMS)],  # another purpose's
            "i": [event(11, "i")],  # erasure pending
            "j": [event(12, "j")],  # erased
            "k": [event(13, "k"), event(14, "k", purpose=SMS, policy_seq=2)],  # not protected
        }
        self.append(store, *(row for person in sorted(rows) for row in rows[person]))
        with store.write() as tx:
            tx.subjects.set_subject_state("i", SubjectState.ERASURE_PENDING, at(20))
            tx.subjects.set_subject_state("j", SubjectState.ERASED, at(20))
        a, b, g = (standing_of(rows[p][-1], True) for p in "abg")
        k = standing_of(rows["k"][0], False)
        for view in (store, other_store):
            assert view.consents.stale(EMAIL, 2) == [a, b, g, k]
            assert view.consents.stale(EMAIL, 2, limit=2) == [a, b]
            assert view.consents.stale(EMAIL, 2, after_subject="b") == [g, k]
            assert view.consents.stale(EMAIL, 2, after_subject="b", limit=1) == [g]
            assert view.consents.stale(EMAIL, 2, after_subject="k") == []
            # Given under no version: before even the first.
            assert view.consents.stale(EMAIL, 1) == [g]
            assert view.consents.stale(EMAIL, 0) == []
            c = standing_of(rows["c"][0], True)
            assert view.consents.stale(EMAIL, 3) == [a, b, c, g, k]
            assert view.consents.stale(SMS, 2) == [standing_of(rows["h"][0], True)]
            assert view.consents.stale(SMS, 3) == [
                standing_of(rows["h"][0], True),
                standing_of(rows["k"][1], False),
            ]
            assert view.consents.stale("statistics", 9) == []

    # -------------------------------------------------------- standing_page
    def test_standing_page_lists_exactly_the_active_people_given_under_a_version_since(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        people = "abcdefghij"
        self.add_subjects(store, *people)
        self.add_subjects(store, "k", "l", protected=False)
        rows = {
            "a": [event(1, "a")],  # given under 1
            "b": [event(2, "b", status=ConsentStatus.RENEWED)],  # renewed under 1
            # Given under 2, expired: expiry is the caller's to check.
            "c": [event(3, "c", policy_seq=2, expires=at(-1))],
            "d": [event(4, "d", status=ConsentStatus.WITHDRAWN, policy_seq=2)],
            "e": [event(5, "e", status=ConsentStatus.REFUSED, policy_seq=2)],
            # Given, then withdrawn: the latest is what counts.
            "f": [event(6, "f", policy_seq=2), event(7, "f", status=ConsentStatus.WITHDRAWN)],
            # Withdrawn, then given before any version was published.
            "g": [event(8, "g", status=ConsentStatus.WITHDRAWN), event(9, "g", policy_seq=0)],
            "h": [event(10, "h", purpose=SMS, policy_seq=2)],  # another purpose's
            "i": [event(11, "i", policy_seq=2)],  # erasure pending
            "j": [event(12, "j", policy_seq=2)],  # erased
            "k": [event(13, "k"), event(14, "k", purpose=SMS, policy_seq=2)],  # not protected
            "l": [event(15, "l", status=ConsentStatus.RENEWED, policy_seq=3)],
        }
        self.append(store, *(row for person in sorted(rows) for row in rows[person]))
        with store.write() as tx:
            tx.subjects.set_subject_state("i", SubjectState.ERASURE_PENDING, at(20))
            tx.subjects.set_subject_state("j", SubjectState.ERASED, at(20))
        a, b, c, g = (standing_of(rows[p][-1], True) for p in "abcg")
        k, l_ = standing_of(rows["k"][0], False), standing_of(rows["l"][0], False)
        for view in (store, other_store):
            page = view.consents.standing_page
            assert page(EMAIL, 2) == [c, l_]
            assert page(EMAIL, 1) == [a, b, c, k, l_]
            # From no version on: consent given before any was published too.
            assert page(EMAIL, 0) == [a, b, c, g, k, l_]
            assert page(EMAIL, 0, limit=2) == [a, b]
            assert page(EMAIL, 0, after_subject="b") == [c, g, k, l_]
            assert page(EMAIL, 0, after_subject="b", limit=2) == [c, g]
            assert page(EMAIL, 0, after_subject="g", limit=2) == [k, l_]
            assert page(EMAIL, 0, after_subject="l") == []
            assert page(EMAIL, 3) == [l_]
            assert page(EMAIL, 4) == []
            assert page(SMS, 2) == [
                standing_of(rows["h"][0], True),
                standing_of(rows["k"][1], False),
            ]
            assert page("statistics", 0) == []
            # The pages of a run, each after the last one's last, are the whole list.
            seen, after = [], ""
            while batch := page(EMAIL, 0, after_subject=after, limit=4):
                seen += batch
                after = batch[-1].subject_id
            assert seen == page(EMAIL, 0)

    # --------------------------------------------------------------- limits
    def test_limits_read_back_as_written_oldest_first(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        assert store.consents.limits("s1") == []
        first = [
            # Recorded later, stored first: the order stored is the order read.
            limit_row(5, kind=LimitKind.RESTRICTION, purposes=()),  # every purpose
            limit_row(1, purposes=(SMS, EMAIL, "customer_surveys")),
            limit_row(2, "s2"),
        ]
        with store.write() as tx:
            for row in first:
                tx.consents.insert_limit(row)
        # Stored already lifted or overridden: kept as given.
        later = [
            limit_row(3, lifted_at=at(10)),
            limit_row(4, kind=LimitKind.RESTRICTION, overridden_at=at(11)),
        ]
        with other_store.write() as tx:
            for row in later:
                tx.consents.insert_limit(row)
        for view in (store, other_store):
            stored = view.consents.limits("s1")
            seqs = [row.seq for row in stored]
            assert seqs == sorted(set(seqs)) and seqs[0] > 0
            written = [first[0], first[1], *later]
            assert stored == [row._replace(seq=seq) for row, seq in zip(written, seqs, strict=True)]
            assert all(isinstance(row.purposes, tuple) for row in stored)
            assert all(isinstance(row.sealed, bytes) for row in stored)
            times = [row.recorded_at for row in stored] + [
                stored[2].lifted_at,
                stored[3].overridden_at,
            ]
            assert all(t is not None and t.utcoffset() == dt.timedelta(0) for t in times)
            (other,) = view.consents.limits("s2")
            assert other == first[2]._replace(seq=other.seq)
            assert seqs[1] < other.seq < seqs[2]
            assert view.consents.limits("nobody") == []

    def test_a_limit_is_updated_only_while_in_effect_and_only_its_times_and_sealed_part(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        objection, restriction = limit_row(1), limit_row(2, kind=LimitKind.RESTRICTION)
        stored_lifted = limit_row(3, lifted_at=at(5))
        with store.write() as tx:
            for row in (objection, restriction, stored_lifted, limit_row(4, "s2")):
                tx.consents.insert_limit(row)
        before = {row.limit_id: row for row in store.consents.limits("s1")}
        # Re-sealed while it stays in effect (a new key, say): allowed.
        resealed = before["limit-1"]._replace(key_id="key-s1-2", sealed=b"resealed")
        with store.write() as tx:
            assert tx.consents.update_limit(resealed)
        overridden = resealed._replace(overridden_at=at(20), sealed=b"with the grounds")
        lifted = before["limit-2"]._replace(lifted_at=at(21), sealed=b"lifted by the dpo")
        with other_store.write() as tx:
            assert tx.consents.update_limit(overridden)
            assert tx.consents.update_limit(lifted)
        # No longer in effect: refused, nothing written, whoever asks.
        with store.write() as tx:
            assert not tx.consents.update_limit(overridden._replace(lifted_at=at(30)))
            assert not tx.consents.update_limit(lifted._replace(lifted_at=at(31), sealed=b"x"))
            assert not tx.consents.update_limit(lifted._replace(overridden_at=at(32)))
            assert not tx.consents.update_limit(before["limit-3"]._replace(lifted_at=at(33)))
            # Another subject's limit is not theirs; no limit of that id is none.
            assert not tx.consents.update_limit(limit_row(4, "s1", lifted_at=at(34)))
            assert not tx.consents.update_limit(limit_row(9, lifted_at=at(35)))
        # What the update names changes; its kind, purposes and recording do not.
        with store.write() as tx:
            changed = limit_row(
                4, "s2", kind=LimitKind.RESTRICTION, purposes=(), recorded_at=at(99)
            )
            assert tx.consents.update_limit(changed._replace(lifted_at=at(40)))
        for view in (store, other_store):
            assert view.consents.limits("s1") == [overridden, lifted, before["limit-3"]]
            (s2,) = view.consents.limits("s2")
            assert s2 == limit_row(4, "s2", lifted_at=at(40))._replace(seq=s2.seq)

    def test_limits_in_effect_are_those_neither_lifted_nor_overridden_of_active_people(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2", "s3", "s4", "s5")
        assert store.consents.limits_in_effect() == []
        rows = [
            limit_row(1, kind=LimitKind.RESTRICTION, purposes=()),
            limit_row(2, lifted_at=at(10)),
            limit_row(3, overridden_at=at(11)),
            limit_row(4, "s2", purposes=(SMS,)),
            limit_row(5, "s3"),  # erasure pending
            limit_row(6, "s4"),  # erased
            limit_row(7, "s5", lifted_at=at(12), overridden_at=at(13)),
            limit_row(8, "s2", kind=LimitKind.RESTRICTION),
        ]
        with store.write() as tx:
            for row in rows:
                tx.consents.insert_limit(row)
            tx.subjects.set_subject_state("s3", SubjectState.ERASURE_PENDING, at(20))
            tx.subjects.set_subject_state("s4", SubjectState.ERASED, at(20))
        for view in (store, other_store):
            in_effect = sorted(view.consents.limits_in_effect(), key=lambda row: row.seq)
            assert [row._replace(seq=0) for row in in_effect] == [rows[0], rows[3], rows[7]]
            by_id = {row.limit_id: row for p in ("s1", "s2") for row in view.consents.limits(p)}
            assert in_effect == [by_id["limit-1"], by_id["limit-4"], by_id["limit-8"]]
        (s2,) = [row for row in store.consents.limits("s2") if row.limit_id == "limit-4"]
        with store.write() as tx:
            assert tx.consents.update_limit(s2._replace(lifted_at=at(30)))
            ids = {row.limit_id for row in tx.consents.limits_in_effect()}
            assert ids == {"limit-1", "limit-8"}
            # Their erasure begun, a person's limits are no longer listed.
            tx.subjects.set_subject_state("s1", SubjectState.ERASURE_PENDING, at(31))
        assert [row.limit_id for row in other_store.consents.limits_in_effect()] == ["limit-8"]

    # ------------------------------------------------------- policy versions
    def test_policy_versions_round_trip_every_field_in_the_order_published(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.consents.policy_versions() == []
        assert store.consents.policy_version("2026-1") is None
        first = policy("2026-1", 1)
        second = policy("2026-2", 2, changed_purposes=(), material_purposes=(), url="", text="")
        third = policy("2026-3", 3, text_sha256="", changed_purposes=(SMS,), summary="")
        # Inserted out of order: read back by seq.
        with store.write() as tx:
            assert tx.consents.insert_policy_version(second)
            assert tx.consents.insert_policy_version(first)
        with other_store.write() as tx:
            assert tx.consents.insert_policy_version(third)
        for view in (store, other_store):
            versions = view.consents.policy_versions()
            assert versions == [first, second, third]
            assert view.consents.policy_version("2026-2") == second
            assert view.consents.policy_version("2026-9") is None
            for read in versions:
                assert type(read.effective_from) is dt.date
                assert read.published_at.utcoffset() == dt.timedelta(0)
                assert isinstance(read.changed_purposes, tuple)
                assert isinstance(read.material_purposes, tuple)

    def test_a_taken_version_name_answers_false_and_writes_nothing(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1")
        first = policy("2026-1", 1)
        with store.write() as tx:
            assert tx.consents.insert_policy_version(first)
        again = policy("2026-1", 2, text="another text", summary="another summary")
        with other_store.write() as tx:
            assert not tx.consents.insert_policy_version(again)
            # The transaction goes on: what else it writes commits.
            tx.consents.append([event(1)])
        for view in (store, other_store):
            assert view.consents.policy_versions() == [first]
            assert view.consents.policy_version("2026-1") == first
            assert [row.event_id for row in view.consents.events("s1")] == ["event-1"]

    # -------------------------------------------------------------- erasure
    def test_deleting_a_subject_takes_their_events_standing_and_limits_only(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1", "s2")
        version = policy("2026-1", 1)
        with store.write() as tx:
            tx.consents.insert_policy_version(version)
            tx.consents.insert_limit(limit_row(1))
            tx.consents.insert_limit(limit_row(2, "s2"))
            tx.consents.insert_limit(limit_row(3, lifted_at=at(5)))
        s1 = [event(1), event(2, purpose=SMS), event(3, status=ConsentStatus.WITHDRAWN)]
        s2 = [event(4, "s2"), event(5, "s2", purpose=SMS)]
        self.append(store, *s1[:2], *s2, s1[2])
        with store.write() as tx:
            assert tx.consents.delete_subject("s1") == 3
            assert tx.consents.events("s1") == [] and tx.consents.standing("s1") == []
            assert tx.consents.limits("s1") == []
        for view in (store, other_store):
            assert view.consents.events("s1") == [] and view.consents.standing("s1") == []
            assert [row.event_id for row in view.consents.events("s2")] == ["event-4", "event-5"]
            assert unflagged(view.consents.standing("s2")) == [standing_of(r) for r in s2]
            assert [row.subject_id for row in view.consents.stale(EMAIL, 2)] == ["s2"]
            assert [row.subject_id for row in view.consents.standing_page(SMS, 0)] == ["s2"]
            assert view.consents.limits("s1") == []
            assert [row.limit_id for row in view.consents.limits("s2")] == ["limit-2"]
            assert [row.limit_id for row in view.consents.limits_in_effect()] == ["limit-2"]
            assert view.consents.policy_versions() == [version]
        with store.write() as tx:
            assert tx.consents.delete_subject("s1") == 0  # twice is harmless
            assert tx.consents.delete_subject("nobody") == 0

    # --------------------------------------------------------- transactions
    def test_reads_in_a_transaction_see_its_writes_and_others_only_once_committed(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1")
        with store.write() as tx:
            tx.consents.append([event(1), event(2, purpose=SMS)])
            tx.consents.insert_policy_version(policy("2026-1", 1))
            tx.consents.insert_limit(limit_row(1))
            assert [row.event_id for row in tx.consents.events("s1")] == ["event-1", "event-2"]
            assert [row.event_id for row in tx.consents.standing("s1")] == ["event-1", "event-2"]
            assert [row.subject_id for row in tx.consents.stale(EMAIL, 2)] == ["s1"]
            assert [row.subject_id for row in tx.consents.standing_page(SMS, 1)] == ["s1"]
            assert [row.limit_id for row in tx.consents.limits("s1")] == ["limit-1"]
            assert [row.limit_id for row in tx.consents.limits_in_effect()] == ["limit-1"]
            assert [v.version for v in tx.consents.policy_versions()] == ["2026-1"]
            assert tx.consents.policy_version("2026-1") == policy("2026-1", 1)
            # Another process sees none of it before the commit.
            assert other_store.consents.events("s1") == []
            assert other_store.consents.standing("s1") == []
            assert other_store.consents.standing_page(SMS, 1) == []
            assert other_store.consents.limits("s1") == []
            assert other_store.consents.limits_in_effect() == []
            assert other_store.consents.policy_versions() == []
        assert [row.event_id for row in other_store.consents.events("s1")] == [
            "event-1",
            "event-2",
        ]
        assert [v.version for v in other_store.consents.policy_versions()] == ["2026-1"]
        assert [row.limit_id for row in other_store.consents.limits_in_effect()] == ["limit-1"]

    def test_a_transaction_that_fails_leaves_nothing(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        self.add_subjects(store, "s1")
        kept = event(1)
        self.append(store, kept)
        with store.write() as tx:
            tx.consents.insert_limit(limit_row(1))
        (kept_limit,) = store.consents.limits("s1")
        with pytest.raises(RuntimeError), store.write() as tx:
            tx.subjects.insert_subject(subject_row("s2"))
            tx.consents.append([event(2, "s2"), event(3, status=ConsentStatus.WITHDRAWN)])
            tx.consents.insert_policy_version(policy("2026-1", 1))
            tx.consents.insert_limit(limit_row(2, "s2"))
            assert tx.consents.update_limit(kept_limit._replace(lifted_at=at(10)))
            raise RuntimeError("the core refused the change after writing it")
        with pytest.raises(RuntimeError), store.write() as tx:
            assert tx.consents.delete_subject("s1") == 1
            raise RuntimeError("undo")
        for view in (store, other_store):
            (stored,) = view.consents.events("s1")
            assert stored == kept._replace(seq=stored.seq)
            assert unflagged(view.consents.standing("s1")) == [standing_of(kept)]
            assert view.consents.events("s2") == [] and view.consents.standing("s2") == []
            assert view.consents.limits("s1") == [kept_limit] and view.consents.limits("s2") == []
            assert view.consents.limits_in_effect() == [kept_limit]
            assert view.consents.policy_versions() == []
            assert view.consents.policy_version("2026-1") is None
        # The name the failed transaction wrote was never taken.
        with store.write() as tx:
            assert tx.consents.insert_policy_version(policy("2026-1", 1))
