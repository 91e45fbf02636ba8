"""Policy versions: published once, never changed, each naming the purposes it
changed and which of them changed materially.

A consent given under an older version for a purpose a version in effect
changed materially no longer covers what is done now: the person's standing
is "re-consent needed" until they consent again (`material_change_since`),
and `reconsent_needed` lists the people, for the mailing that asks them.
What that standing stops is the job of the purpose checks on reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zoneinfo
from collections.abc import Iterator

from vault.core import paging, rules
from vault.core.actor import Actor, Role
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.consent.model import (
    STANDING,
    ConsentStatus,
    PolicyDraft,
    PolicyVersion,
    ReconsentNeeded,
    Standing,
)
from vault.core.consent.purposes import BASIS_WORDS, Purpose, Purposes
from vault.core.consent.store import LimitRow, StandingRow
from vault.core.errors import InvalidArgument, PolicyVersionExists, PurposeNotAllowed
from vault.core.replay import Raced, Replay
from vault.core.subjects import ANSWERED_AGAIN
from vault.storage.base import RecordStore

MAX_TEXT = 1 << 20
MAX_SUMMARY = 2000
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_URL = re.compile(r"https?://[^\s]{1,2000}", re.ASCII)


def version_name(value: str, field: str = "version") -> str:
    if not _VERSION.fullmatch(value or ""):
        raise InvalidArgument(
            field, "must be a version name like 2026-02: ASCII letters, digits, '.', '_', '-'"
        )
    return value


class Policies:
    def __init__(
        self,
        store: RecordStore,
        purposes: Purposes,
        replay: Replay,
        clock: Clock,
        audit: AuditTrail,
        time_zone: str,
    ) -> None:
        self.store = store
        self.purposes = purposes
        self.replay = replay
        self.clock = clock
        self.audit = audit
        # A version takes effect on a day of the controller's, not of UTC.
        self.zone = zoneinfo.ZoneInfo(time_zone)

    def day_of(self, moment: dt.datetime) -> dt.date:
        """The controller's day `moment` falls on: the day a version's
        effective date is compared with."""
        return moment.astimezone(self.zone).date()

    # ------------------------------------------------------------ reading
    def versions(self) -> list[PolicyVersion]:
        """Every published version, the first published first."""
        return self.store.consents.policy_versions()

    def list_versions(self, actor: Actor) -> list[PolicyVersion]:
        versions = self.versions()
        self.audit.commit(
            self.audit.event(
                actor, Operation.LIST_POLICY_VERSIONS, detail=counted(len(versions), "version")
            )
        )
        return versions

    def list_purposes(self, actor: Actor) -> list[Purpose]:
        """The configured purposes, by name: configuration, no one's personal
        data, so every role that may ask sees all of it."""
        purposes = list(self.purposes)
        self.audit.commit(
            self.audit.event(
                actor, Operation.LIST_PURPOSES, detail=counted(len(purposes), "purpose")
            )
        )
        return purposes

    def in_effect(
        self, on: dt.date, versions: list[PolicyVersion] | None = None
    ) -> PolicyVersion | None:
        """The version in effect on `on`: the last published of those in effect."""
        effective = [v for v in versions or self.versions() if v.in_effect(on)]
        return effective[-1] if effective else None

    def material_change_since(
        self,
        purpose: str,
        policy_seq: int,
        on: dt.date,
        versions: list[PolicyVersion] | None = None,
    ) -> PolicyVersion | None:
        """The latest version in effect on `on`, published after the one of
        `policy_seq`, that changed `purpose` materially; None if there is none."""
        changed = [
            v
            for v in versions or self.versions()
            if v.seq > policy_seq and v.in_effect(on) and purpose in v.material_purposes
        ]
        return changed[-1] if changed else None

    def standing(
        self, row: StandingRow, now: dt.datetime, versions: list[PolicyVersion] | None = None
    ) -> tuple[Standing, str]:
        """How a person's consent for the row's purpose stands at `now`, from
        their latest event: expired, outdated by a material change (with the
        version that made it), or as the event left it."""
        status = ConsentStatus(row.status)
        if status not in STANDING:
            return Standing(status.value), ""
        if row.expires_at is not None and row.expires_at <= now:
            return Standing.EXPIRED, ""
        changed = self.material_change_since(
            row.purpose, row.policy_seq, self.day_of(now), versions
        )
        if changed is not None:
            return Standing.RECONSENT_NEEDED, changed.version
        return Standing(status.value), ""

    # ------------------------------------------------------------ publishing
    def publish(self, actor: Actor, draft: PolicyDraft, request_id: str = "") -> PolicyVersion:
        """Publish a version; its name is taken once (POLICY_VERSION_EXISTS)."""
        checked = self._checked(draft)
        fingerprint = self.replay.fingerprint(request_id, "publish_policy", checked)
        if self.replay.replayed(request_id, "publish_policy", fingerprint) is not None:
            return self._answered_again(actor, checked.version)
        try:
            with self.store.write() as tx:
                versions = tx.consents.policy_versions()
                if any(v.version == checked.version for v in versions):
                    raise PolicyVersionExists(checked.version)
                last = versions[-1] if versions else None
                if last is not None and checked.effective_from < last.effective_from:
                    raise InvalidArgument(
                        "effective_date",
                        f"must not be before {last.effective_from.isoformat()}, when version "
                        f"{last.version} takes effect: versions take effect in the order "
                        "they are published",
                    )
                version = PolicyVersion(
                    version=checked.version,
                    seq=(last.seq if last else 0) + 1,
                    effective_from=checked.effective_from,
                    published_at=utc_now(self.clock),
                    published_by=actor.who,
                    text_sha256=checked.text_sha256,
                    url=checked.url,
                    text=checked.text,
                    changed_purposes=checked.changed_purposes,
                    material_purposes=checked.material_purposes,
                    summary=checked.summary,
                )
                if not tx.consents.insert_policy_version(version):
                    raise PolicyVersionExists(checked.version)
                self.replay.remember(
                    tx, request_id, "publish_policy", fingerprint, "", checked.version
                )
                self.audit.written(
                    tx.audit,
                    self.audit.event(
                        actor, Operation.PUBLISH_POLICY_VERSION, detail=_told(version)
                    ),
                )
        except Raced:
            # A copy with the same request id committed first: asked again, the
            # replay answers it, or refuses the id if the copy asked otherwise.
            return self.publish(actor, draft, request_id)
        return version

    def _answered_again(self, actor: Actor, version: str) -> PolicyVersion:
        found = self.store.consents.policy_version(version)
        assert found is not None  # remembered with the version it published
        self.audit.commit(
            self.audit.event(actor, Operation.PUBLISH_POLICY_VERSION, detail=ANSWERED_AGAIN)
        )
        return found

    def _checked(self, draft: PolicyDraft) -> PolicyDraft:
        version_name(draft.version)
        text, digest, url = draft.text, draft.text_sha256.lower(), draft.url.strip()
        if len(text) > MAX_TEXT:
            raise InvalidArgument("text", f"must be at most {MAX_TEXT} characters")
        if digest and not _SHA256.fullmatch(digest):
            raise InvalidArgument("text_sha256", "must be 64 hexadecimal digits (SHA-256)")
        if text:
            actual = hashlib.sha256(text.encode()).hexdigest()
            if digest and digest != actual:
                raise InvalidArgument("text_sha256", "is not the SHA-256 of the text given")
            digest = actual
        elif not (digest and url):
            raise InvalidArgument(
                "text", "give the policy's text, or its text_sha256 and the url it is published at"
            )
        if url and not _URL.fullmatch(url):
            raise InvalidArgument("url", "must be an http or https URL")
        if len(draft.summary) > MAX_SUMMARY:
            raise InvalidArgument("summary", f"must be at most {MAX_SUMMARY} characters")
        changed = self._purposes(draft.changed_purposes, "changed_purposes")
        material = self._purposes(draft.material_purposes, "material_purposes")
        # A changed purpose whose changes are material by its configuration is
        # materially changed; one listed as material is changed too.
        material = tuple(
            sorted({*material, *(p for p in changed if self.purposes.named(p).material_changes)})
        )
        return PolicyDraft(
            version=draft.version,
            effective_from=draft.effective_from,
            text=text,
            text_sha256=digest,
            url=url,
            changed_purposes=tuple(sorted({*changed, *material})),
            material_purposes=material,
            summary=draft.summary.strip(),
        )

    def _purposes(self, names: tuple[str, ...], field: str) -> tuple[str, ...]:
        for index, name in enumerate(names):
            self.purposes.named(name, f"{field}[{index}]")
        if len(set(names)) != len(names):
            raise InvalidArgument(field, "must not repeat a purpose")
        return names

    # ------------------------------------------------------ who must re-consent
    def reconsent_needed(
        self, actor: Actor, purpose: str, page_size: int, page_token: str
    ) -> tuple[list[ReconsentNeeded], str]:
        """One page of the people who must consent again, for `purpose` or
        ("") every consent-based purpose, by purpose and subject id."""
        size = rules.page_size(page_size)
        query = {"purpose": purpose}
        after = paging.read(page_token, query, (str, str), "purpose")
        found = list(self._needing(actor, purpose, tuple(after) if after else ("", ""), size + 1))
        page, more = found[:size], len(found) > size
        self._listed(actor, Operation.LIST_RECONSENT_NEEDED, purpose, page)
        token = paging.token(query, [page[-1].purpose, page[-1].subject_id]) if more else ""
        return page, token

    def stream_reconsent_needed(self, actor: Actor, purpose: str) -> Iterator[ReconsentNeeded]:
        """Every person who must consent again, as a stream, in batches whose
        event is committed before the batch leaves."""
        after = ("", "")
        first = True
        # Read once for the whole stream, as the contact stream does: a
        # stream of many batches does not read every limit again for each.
        limits = self.store.consents.limits_in_effect()
        while True:
            batch = list(self._needing(actor, purpose, after, 500, limits))
            if not batch and not first:
                return
            # The first batch is told even when empty: the call was made.
            self._listed(actor, Operation.STREAM_RECONSENT_NEEDED, purpose, batch)
            first = False
            yield from batch
            if not batch:
                return
            after = (batch[-1].purpose, batch[-1].subject_id)

    def _needing(
        self,
        actor: Actor,
        purpose: str,
        after: tuple[str, str],
        limit: int,
        limits: list[LimitRow] | None = None,
    ) -> Iterator[ReconsentNeeded]:
        today = self.day_of(utc_now(self.clock))
        now = utc_now(self.clock)
        versions = self.versions()
        wanted = [self._consent_based(purpose)] if purpose else self.purposes.consent_based()
        if actor.system:
            for p in wanted:
                if purpose and p.name not in actor.purposes:
                    raise PurposeNotAllowed("purpose", actor.system, p.name)
            wanted = [p for p in wanted if p.name in actor.purposes]
        # Whoever objected to a purpose, or had it restricted, is not asked
        # to consent to it again: that mailing would be the processing they stopped.
        if limits is None:
            limits = self.store.consents.limits_in_effect()
        given = 0
        for p in wanted:
            if p.name < after[0]:
                continue
            stopped = {
                row.subject_id for row in limits if not row.purposes or p.name in row.purposes
            }
            changed = self.material_change_since(p.name, 0, today, versions)
            if changed is None:
                continue
            start = after[1] if p.name == after[0] else ""
            while given < limit:
                rows = self.store.consents.stale(p.name, changed.seq, start, limit)
                for row in rows:
                    start = row.subject_id
                    # An end that has passed: expired, not a consent to renew.
                    if row.expires_at is not None and row.expires_at <= now:
                        continue
                    # A mailing run by an integrator never reaches a protected identity.
                    if row.protected_identity and actor.role is Role.INTEGRATOR:
                        continue
                    if row.subject_id in stopped:
                        continue
                    yield _needed(row, changed.version)
                    given += 1
                    if given == limit:
                        return
                if len(rows) < limit:
                    break

    def _consent_based(self, name: str) -> Purpose:
        found = self.purposes.named(name)
        if not found.rests_on_consent:
            raise InvalidArgument(
                "purpose",
                f"{name} rests on {BASIS_WORDS[found.legal_basis]}, not on consent: "
                "nobody consents to it, so nobody must consent again",
            )
        return found

    def _listed(
        self, actor: Actor, operation: Operation, purpose: str, people: list[ReconsentNeeded]
    ) -> None:
        self.audit.commit(
            self.audit.event(
                actor,
                operation,
                purpose=purpose,
                sensitive=any(p.protected_identity for p in people),
                detail=counted(len(people), "person", "people"),
            )
        )


def _needed(row: StandingRow, changed_by: str) -> ReconsentNeeded:
    return ReconsentNeeded(
        subject_id=row.subject_id,
        purpose=row.purpose,
        given_under=row.policy_version,
        changed_by=changed_by,
        given_at=row.given_at,
        protected_identity=row.protected_identity,
    )


def _told(version: PolicyVersion) -> str:
    material = ", ".join(version.material_purposes) or "none"
    return (
        f"version {version.version}, in effect from {version.effective_from.isoformat()}; "
        f"materially changed: {material}"
    )
