"""The token store's contract (`RecordStore.tokens`): what vault.core.tokens
relies on, whatever engine stores the tokens.

Subclass `TokenStoreContract` beside a record store's contract: it takes the
same `store` and `other_store` fixtures (a fresh RecordStore, and a second one
open on the same database, as a second server process would open it).
"""

from __future__ import annotations

import datetime as dt

from tests.storage.racing import race
from vault.storage.base import RecordStore, TokenRow

T0 = dt.datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def token_row(token_id: str = "aaaaaaaaaaaa", created: float = 0, **changes: object) -> TokenRow:
    row = TokenRow(
        token_id=token_id,
        secret_hash=b"hash of " + token_id.encode(),
        role="integrator",
        system="lms",
        name=f"the {token_id} token",
        created_at=at(created),
        expires_at=at(created + 86_400),
    )
    return row._replace(**changes)  # type: ignore[arg-type]


class TokenStoreContract:
    def test_a_token_reads_back_as_written_for_every_store(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.tokens.token("aaaaaaaaaaaa") is None
        written = token_row(last_used_at=at(5))
        store.tokens.insert_token(written)
        plain = token_row("bbbbbbbbbbbb", role="admin", system="", name="", expires_at=None)
        store.tokens.insert_token(plain)
        for view in (store, other_store):
            assert view.tokens.token("aaaaaaaaaaaa") == written
            assert view.tokens.token("bbbbbbbbbbbb") == plain
            assert view.tokens.token("cccccccccccc") is None
        stored = store.tokens.token("aaaaaaaaaaaa")
        assert stored is not None and stored.created_at.tzinfo is not None
        assert isinstance(stored.secret_hash, bytes)

    def test_a_default_purpose_reads_back_and_outlives_revocation_and_use(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.tokens.insert_token(token_row(default_purpose="course_delivery"))
        store.tokens.insert_token(token_row("bbbbbbbbbbbb"))  # none: ""
        for view in (store, other_store):
            stored = view.tokens.token("aaaaaaaaaaaa")
            assert stored is not None and stored.default_purpose == "course_delivery"
            plain = view.tokens.token("bbbbbbbbbbbb")
            assert plain is not None and plain.default_purpose == ""
            listed = {row.token_id: row.default_purpose for row in view.tokens.tokens()}
            assert listed == {"aaaaaaaaaaaa": "course_delivery", "bbbbbbbbbbbb": ""}
        store.tokens.touch_token("aaaaaaaaaaaa", at(10))
        revoked = other_store.tokens.revoke_token("aaaaaaaaaaaa", at(20))
        assert revoked == token_row(
            default_purpose="course_delivery", last_used_at=at(10), revoked_at=at(20)
        )

    def test_tokens_are_listed_newest_first_inactive_ones_too(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        assert store.tokens.tokens() == []
        store.tokens.insert_token(token_row("aaaaaaaaaaaa", created=10))
        store.tokens.insert_token(token_row("bbbbbbbbbbbb", created=30))
        store.tokens.insert_token(token_row("cccccccccccc", created=20, revoked_at=at(25)))
        # Made in one instant (a fixed clock, a coarse one): the later stored first.
        store.tokens.insert_token(token_row("zzzzzzzzzzzz", created=30))
        store.tokens.insert_token(token_row("dddddddddddd", created=30))
        listed = [row.token_id for row in other_store.tokens.tokens()]
        assert listed == [
            "dddddddddddd",
            "zzzzzzzzzzzz",
            "bbbbbbbbbbbb",
            "cccccccccccc",
            "aaaaaaaaaaaa",
        ]

    def test_a_revocation_keeps_the_first_time_and_changes_nothing_else(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.tokens.insert_token(token_row())
        revoked = store.tokens.revoke_token("aaaaaaaaaaaa", at(60))
        assert revoked == token_row(revoked_at=at(60))
        # Again, later and earlier, through another process: the first time stays.
        assert other_store.tokens.revoke_token("aaaaaaaaaaaa", at(120)) == revoked
        assert store.tokens.revoke_token("aaaaaaaaaaaa", at(30)) == revoked
        assert store.tokens.token("aaaaaaaaaaaa") == revoked
        assert store.tokens.revoke_token("cccccccccccc", at(60)) is None
        assert store.tokens.token("cccccccccccc") is None

    def test_revocations_at_once_from_two_stores_keep_one_time(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.tokens.insert_token(token_row())
        results = race(
            [
                lambda: store.tokens.revoke_token("aaaaaaaaaaaa", at(60)),
                lambda: other_store.tokens.revoke_token("aaaaaaaaaaaa", at(90)),
            ]
        )
        first = results[0].revoked_at
        assert first in (at(60), at(90))
        assert [row.revoked_at for row in results] == [first, first]
        assert store.tokens.token("aaaaaaaaaaaa").revoked_at == first  # type: ignore[union-attr]

    def test_a_last_use_only_moves_forward(
        self, store: RecordStore, other_store: RecordStore
    ) -> None:
        store.tokens.insert_token(token_row())
        store.tokens.touch_token("aaaaaaaaaaaa", at(100))
        assert other_store.tokens.token("aaaaaaaaaaaa") == token_row(last_used_at=at(100))
        # A server whose clock is behind, or whose touch landed late.
        other_store.tokens.touch_token("aaaaaaaaaaaa", at(50))
        assert store.tokens.token("aaaaaaaaaaaa").last_used_at == at(100)  # type: ignore[union-attr]
        store.tokens.touch_token("aaaaaaaaaaaa", at(100.5))
        assert store.tokens.token("aaaaaaaaaaaa").last_used_at == at(100.5)  # type: ignore[union-attr]
        store.tokens.touch_token("nobodys12345", at(200))  # no such token: nothing happens
        assert store.tokens.token("nobodys12345") is None

    def test_touches_and_a_revocation_leave_each_other_be(self, store: RecordStore) -> None:
        store.tokens.insert_token(token_row())
        store.tokens.revoke_token("aaaaaaaaaaaa", at(60))
        store.tokens.touch_token("aaaaaaaaaaaa", at(70))
        assert store.tokens.token("aaaaaaaaaaaa") == token_row(
            revoked_at=at(60), last_used_at=at(70)
        )
