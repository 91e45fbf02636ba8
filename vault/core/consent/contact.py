"""Who may be contacted for a purpose: the people a mailing may reach, as a
stream of pages that an interrupted run resumes from.

A person may be contacted exactly when a read for the purpose would be
allowed (vault.core.consent.grounds): for a purpose resting on consent, their
consent stands (given or renewed, not expired, not outdated by a material
policy change: `Policies.standing`); for another basis, the vault holds data
of theirs for the purpose; and in either case no restriction or objection in
effect covers it. A person in erasure is no longer active, and the store
leaves them out. A protected identity is given only to a caller who may see
who they are.

Each page's audit event (the purpose and how many people, never who) is
committed before the page leaves; a stream that finds nobody still tells one.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

from vault.core import paging, rules
from vault.core.access import AccessNotes
from vault.core.actor import Actor
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.grounds import RIGHTS_REQUESTS
from vault.core.consent.model import Contactable, ContactPage
from vault.core.consent.policy import Policies
from vault.core.consent.purposes import Purpose, Purposes
from vault.core.errors import InvalidArgument, PurposeNotAllowed
from vault.storage.base import RecordStore

# People per page unless the caller asks (the API's default), and at most.
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
# Rows read from the store at a time, whatever the page size: fewer, larger
# reads, and the people left out never shrink a read to nothing.
_READ = 1000


class Contacts:
    def __init__(
        self,
        store: RecordStore,
        purposes: Purposes,
        policies: Policies,
        clock: Clock,
        audit: AuditTrail,
        access_notes: AccessNotes,
    ) -> None:
        self.store = store
        self.purposes = purposes
        self.policies = policies
        self.clock = clock
        self.audit = audit
        self.notes = access_notes

    def stream(
        self, actor: Actor, purpose: str, resume_token: str = "", page_size: int = 0
    ) -> Iterator[ContactPage]:
        """The people who may be contacted for `purpose` now, by subject id, a
        page at a time; each page's `resume_token` continues after it. The
        request is checked here, before the first page is asked for."""
        wanted = self._mailing_purpose(actor, purpose)
        size = _page_size(page_size)
        query = {"contactable": wanted.name}
        after = _resumed_after(resume_token, query)
        return self._pages(actor, wanted, query, after, size)

    def _mailing_purpose(self, actor: Actor, name: str) -> Purpose:
        if not name:
            raise InvalidArgument("purpose", "name the purpose of the mailing")
        rules.purpose(name)
        if name == RIGHTS_REQUESTS:
            # Answering a person's request is not a reason to write to others.
            raise InvalidArgument(
                "purpose",
                f"{RIGHTS_REQUESTS} is the vault's own purpose of answering data-subject "
                "requests, not a purpose anyone is contacted for",
            )
        found = self.purposes.named(name)
        if actor.system and found.name not in actor.purposes:
            raise PurposeNotAllowed("purpose", actor.system, found.name)
        return found

    def _pages(
        self, actor: Actor, purpose: Purpose, query: dict[str, str], after: str, size: int
    ) -> Iterator[ContactPage]:
        people = self._people(actor, purpose, after)
        page = list(itertools.islice(people, size))
        while True:
            # One person looked at ahead: a page is the last (its token "")
            # only when nobody follows it.
            following = next(people, None)
            token = paging.token(query, [page[-1].subject_id]) if following is not None else ""
            self._told(actor, purpose.name, page)
            yield ContactPage(page, token)
            if following is None:
                return
            page = [following, *itertools.islice(people, size - 1)]

    def _people(self, actor: Actor, purpose: Purpose, after: str) -> Iterator[Contactable]:
        # The stream's one moment, and the limits in effect, read once: every
        # page is judged as of the stream's start.
        now = utc_now(self.clock)
        stopped = {
            limit.subject_id
            for limit in self.store.consents.limits_in_effect()
            if not limit.purposes or purpose.name in limit.purposes
        }
        found = (
            self._consenting(purpose.name, now, after)
            if purpose.rests_on_consent
            else self._holding(purpose.name, after)
        )
        sees_protected = actor.sees_protected
        for person in found:
            if person.subject_id in stopped:
                continue
            if person.protected_identity and not sees_protected:
                continue
            yield person

    def _consenting(self, purpose: str, now: dt.datetime, after: str) -> Iterator[Contactable]:
        """The people whose consent for `purpose` stands at `now`, as
        `Policies.standing` judges it for a read: given or renewed (the store
        gives no other), under a version no material change in effect has
        outdated (the store gives none older than the latest such change),
        and not expired (checked here, as `standing` checks it)."""
        versions = self.policies.versions()
        changed = self.policies.material_change_since(
            purpose, 0, self.policies.day_of(now), versions
        )
        since = changed.seq if changed else 0
        while True:
            rows = self.store.consents.standing_page(purpose, since, after, _READ)
            for row in rows:
                if row.expires_at is None or row.expires_at > now:
                    yield Contactable(
                        row.subject_id, row.given_at, row.policy_version, row.protected_identity
                    )
            if len(rows) < _READ:
                return
            after = rows[-1].subject_id

    def _holding(self, purpose: str, after: str) -> Iterator[Contactable]:
        """The people the vault holds data of for `purpose`: its basis is
        not the person's consent but the processing itself."""
        while True:
            holders = self.store.records.purpose_holders(purpose, after, _READ)
            for subject_id, protected in holders:
                yield Contactable(subject_id, protected_identity=protected)
            if len(holders) < _READ:
                return
            after = holders[-1][0]

    def _told(self, actor: Actor, purpose: str, people: list[Contactable]) -> None:
        protected = [p.subject_id for p in people if p.protected_identity]
        self.audit.commit(
            self.audit.event(
                actor,
                Operation.STREAM_CONTACTABLE,
                purpose=purpose,
                sensitive=bool(protected),
                detail=counted(len(people), "person", "people"),
            )
        )
        # Every access to a protected identity is noted, the officer's too.
        for subject_id in protected:
            self.notes.note(actor, subject_id, "stream_contactable")


def _page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    if value > MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be at most {MAX_PAGE_SIZE}")
    return value or DEFAULT_PAGE_SIZE


def _resumed_after(token: str, query: dict[str, str]) -> str:
    """The subject id a resume token continues after ("" for none); a token
    of another purpose, another list or none at all is refused."""
    try:
        after = paging.read(token, query, (str,))
    except InvalidArgument:
        raise InvalidArgument(
            "resume_token", "not a resume_token from an earlier stream for the same purpose"
        ) from None
    return str(after[0]) if after else ""
