"""KEK and blind-index versions over their life: a rotation makes a new version
and moves every key and index to it; a retirement destroys older versions once
nothing is left under them, so that a copy of the key database (or its WAL, or
a backup) from before holds only keys nobody can unwrap, and a copy of the
record database holds only blind indexes nobody can compute again.

A rotation: the new version (a KEK and an index key) is saved to the keyring
file first, then every subject key and job key is re-wrapped under the new KEK,
then every identity re-indexed under the new index key (and its sealed value
sealed anew, since its associated data names its blind index). A crash
part-way leaves some keys and indexes under the older version, still live:
running the rotation again finishes that one rather than making another
version. Running processes follow through `KeyringSource` (the file re-read)
and `KeyManager.kek` (a version the ring lacks is looked for in the file).

A retirement of the versions older than a given age (never the current one):
what is still under them is moved to the current version; the key store's
floor is raised, so that no process can store a key under them again (a put
below it is refused in its own transaction and made again under the current
version); what a process stored just before the floor is moved too; a last
check finds nothing under them; then the keyring file is written without their
keys (their numbers and dates kept) and the key store scrubbed. Signing keys
are not versions of this keyring and never retire with it (the audit trail's
Ed25519 key will be kept apart).

One process rotates or retires at a time: each holds the key store's rotation
lease while it works, renewed for every page it walks. Before it writes the
keyring file it renews the lease once more and stops (RotationBusy) if the
lease lapsed meanwhile, since another process may have taken it and changed
the keyring; what it writes is built from the file as read at that moment
(a retirement stops, RetirementBlocked, if that file's current version is not
the one it moved everything to), and `KeyringSource.replace` writes only over
the file it read. So no version another process made is ever dropped.

A key whose wrap does not open (tampered) is logged by its subject or job id
and left where it is: a rotation goes on without it, a retirement refuses. It
does not make the rotation unfinished: a rotation that finds nothing left under
an older version but keys and identities that do not open makes a new version.

A process killed while it held the lease (kill -9) leaves it held until it runs
out; a process on the same host (and pid namespace) that finds the owner's pid
gone takes it over at once.

A rotation or retirement is many writes in two databases and the keyring file,
not one transaction, so its audit event (ROTATE_KEYS, RETIRE_KEYS) is committed
once the lease is held and before the first change: if it cannot be written,
nothing is changed. Its detail says what the work set out to do.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vault.core.actor import THE_VAULT, Actor
from vault.core.audit.events import Operation, counted
from vault.core.audit.trail import AuditTrail
from vault.core.clock import Clock, utc_now
from vault.core.errors import CategoryErased, SubjectErased
from vault.core.keys import KeyManager, Rewrapped
from vault.core.sealing import Sealing
from vault.core.steps.engine import _process_alive, _this_host
from vault.crypto import TamperedError
from vault.keyring import Keyring
from vault.storage.base import IdentityRow, RecordStore

_log = logging.getLogger(__name__)

# How long the rotation lease lasts without being renewed; it is renewed every
# page, so only a process that died holds it this long.
LEASE = dt.timedelta(minutes=5)
_RENEW_SECONDS = 60.0

# Identities re-indexed in one record-store transaction.
REINDEX_PAGE = 500

# What a retirement does before it gives up when processes keep writing under
# a version it retires (each pass moves what they wrote).
_RETIRE_PASSES = 3


class RotationBusy(Exception):
    """Another process holds the rotation lease."""

    def __init__(self, owner: str, until: dt.datetime) -> None:
        super().__init__(
            f"another process ({owner}) is rotating or retiring keys, until "
            f"{until:%Y-%m-%d %H:%M:%S} UTC at the latest; try again once it is done"
        )


class LeaseLapsed(RotationBusy):
    """This process's rotation lease ran out while it worked (it was not renewed
    in time): another process may have taken it and changed the keyring, so
    this one stops before writing the keyring."""

    def __init__(self, until: dt.datetime) -> None:
        Exception.__init__(
            self,
            f"the rotation lease of this process ran out at {until:%Y-%m-%d %H:%M:%S} UTC "
            "while it worked, so another process may have changed the keys since: "
            "stopped before writing the keyring (nothing is lost); run it again",
        )


class RetirementBlocked(Exception):
    """Something is still under a version to retire after every pass: the
    keyring was left as it was (the versions stay live)."""


@dataclass(frozen=True)
class Progress:
    """How far a rotation or retirement is: `done` of `total` in `stage`
    ("keys": subject and job keys re-wrapped; "identities": re-indexed)."""

    stage: str
    done: int
    total: int


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Rotation:
    version: int
    # True: an unfinished rotation to `version` was finished, and no new version made.
    resumed: bool
    rewrapped: Rewrapped
    reindexed: int
    # Identities whose subject's keys were gone: they matched no readable person
    # and were removed rather than left under an old index.
    removed: int = 0


@dataclass(frozen=True)
class Retirement:
    retired: list[int]
    current: int
    rewrapped: Rewrapped
    reindexed: int
    removed: int
    # False when a reader kept the key database's files from being scrubbed
    # now; the next maintenance pass does it.
    scrubbed: bool
    # True when a version that stays shares its index key with a retired one (a
    # keyring of format 1 had one index key for every version): a copy of the
    # records from before still matches people by identity through that key
    # until every version holding it is retired.
    index_shared: bool = False
    # The live versions that stay, but the current one (made too recently, or
    # above one made too recently).
    kept: tuple[int, ...] = ()


# The longest duration taken: a cutoff that far back is still a date.
LONGEST = dt.timedelta(days=365_000)


def duration(text: str, what: str = "duration") -> dt.timedelta:
    """A duration as an operator writes it: a whole number and a unit, `90d`,
    `12h`, `2w`, `30min`, `10s`, with no space, at most `LONGEST`. ValueError,
    in one line, otherwise."""
    match = re.fullmatch(r"(\d+)(s|min|h|d|w)", text)
    if match is None:
        raise ValueError(
            f"{what} {text!r}: write a whole number and a unit, with no space, such as 90d "
            "(s, min, h, d or w: seconds, minutes, hours, days, weeks)"
        )
    number, unit = int(match[1]), match[2]
    seconds = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}[unit]
    if number * seconds > LONGEST.total_seconds():
        raise ValueError(f"{what} {text!r} is too large: at most {LONGEST.days}d (1000 years)")
    return dt.timedelta(seconds=number * seconds)


class KeyRotation:
    def __init__(
        self,
        records: RecordStore,
        keys: KeyManager,
        sealing: Sealing,
        clock: Clock,
        audit: AuditTrail,
        scrub_due: threading.Event | None = None,
    ) -> None:
        self.records = records
        self.keys = keys
        self.sealing = sealing
        self.clock = clock
        self.audit = audit
        self.scrub_due = scrub_due
        # The host and pid first: `_orphaned` reads them (as the step engine's
        # leases are read).
        self.owner = f"{_this_host()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._renewed = 0.0
        # Until when the lease this process holds runs (None: it holds none).
        self._until: dt.datetime | None = None
        # What a rotation found left under older versions of the current one
        # that did not open: (current version, keys left, identities left). A
        # schedule does not try them again every interval while nothing changed.
        self._stuck: tuple[int, int, int] | None = None

    # --------------------------------------------------------------- state
    def left_behind(self, ring: Keyring) -> tuple[int, int]:
        """How many keys, and how many identities, are under versions other than
        `ring`'s current one: an unfinished rotation when either is not 0."""
        current = ring.current_version
        keys = sum(n for v, n in self.keys.store.kek_versions().items() if v != current)
        identities = sum(
            n for v, n in self.records.subjects.index_versions().items() if v != current
        )
        return keys, identities

    # ------------------------------------------------------------ rotation
    def rotate(self, actor: Actor, progress: ProgressCallback | None = None) -> Rotation:
        """A new version made current, and everything moved to it; or, if the
        last rotation is unfinished (keys or identities left under an older
        version that open), that one finished, with no new version. What is
        left that does not open is logged and passed by: it does not keep a
        new version from being made."""
        rotation = self._rotate(actor, progress, new_version=True)
        assert rotation is not None
        return rotation

    def finish(self, actor: Actor, progress: ProgressCallback | None = None) -> Rotation | None:
        """An unfinished rotation finished, as `rotate` would, but no new
        version made: None when nothing that opens was left to move."""
        return self._rotate(actor, progress, new_version=False)

    def _rotate(
        self, actor: Actor, progress: ProgressCallback | None, *, new_version: bool
    ) -> Rotation | None:
        self.keys.keyrings.check_changeable()
        with self._lease():
            ring = self.keys.keyrings.refresh()
            keys_left, identities_left = self.left_behind(ring)
            if new_version or keys_left or identities_left:
                unfinished = (
                    f"; {counted(keys_left, 'key')} and {counted(identities_left, 'identity')} "
                    "under older versions"
                    if keys_left or identities_left
                    else ""
                )
                self.audit.commit(
                    self.audit.event(
                        actor,
                        Operation.ROTATE_KEYS,
                        detail=f"from version {ring.current_version}{unfinished}",
                    )
                )
            if keys_left or identities_left:
                rewrapped = self._rewrap(ring, None, keys_left, progress)
                reindexed, removed, unindexed = self._reindex(ring, None, identities_left, progress)
                if rewrapped.count or reindexed or removed:
                    self._stuck = None
                    return Rotation(ring.current_version, True, rewrapped, reindexed, removed)
                # Nothing moved: what is left does not open (logged by its id).
                self._stuck = (ring.current_version, *self.left_behind(ring))
                _log.warning(
                    "%s and %s under older key versions do not open (tampered or "
                    "damaged): a rotation passes them by",
                    counted(rewrapped.unopened, "key"),
                    counted(unindexed, "identity"),
                )
            if not new_version:
                return None
            # Saved before anything is re-wrapped under it: a crash part-way
            # leaves every key under a version the file holds.
            # From the file as it is now: no version in it is dropped.
            ring = self._keyring_to_change(None).with_new_version(utc_now(self.clock))
            self.keys.keyrings.replace(ring)
            keys_left, identities_left = self.left_behind(ring)
            rewrapped = self._rewrap(ring, None, keys_left, progress)
            reindexed, removed, _ = self._reindex(ring, None, identities_left, progress)
            left = self.left_behind(ring)
            self._stuck = (ring.current_version, *left) if any(left) else None
        return Rotation(ring.current_version, False, rewrapped, reindexed, removed)

    # ---------------------------------------------------------- retirement
    def retire(
        self, actor: Actor, older_than: dt.timedelta, progress: ProgressCallback | None = None
    ) -> Retirement:
        """Retire every live version made more than `older_than` ago, but the
        current one (see the module's docstring for the order of the steps).
        RetirementBlocked if something stays under them."""
        self.keys.keyrings.check_changeable()
        with self._lease():
            ring = self.keys.keyrings.refresh()
            cutoff = utc_now(self.clock) - older_than
            versions = self._retirable(ring, cutoff)
            retiring = (
                f"version{'s' if len(versions) > 1 else ''} {', '.join(map(str, versions))}"
                if versions
                else "no version"
            )
            self.audit.commit(
                self.audit.event(
                    actor,
                    Operation.RETIRE_KEYS,
                    detail=f"{retiring} made before {cutoff:%Y-%m-%d %H:%M:%S} UTC",
                )
            )
            if not versions:
                kept = tuple(sorted(v for v in ring.versions if v != ring.current_version))
                return Retirement([], ring.current_version, Rewrapped(0, 0), 0, 0, True, kept=kept)
            moving = set(versions)
            keys_left = self._count_under(self.keys.store.kek_versions(), moving)
            identities_left = self._count_under(self.records.subjects.index_versions(), moving)
            rewrapped = self._rewrap(ring, moving, keys_left, progress)
            reindexed, removed, unindexed = self._reindex(ring, moving, identities_left, progress)
            # From here no process can store a key under them: a put refused is
            # made again under the current version.
            self.keys.store.raise_kek_floor(max(versions) + 1)
            for _ in range(_RETIRE_PASSES):
                # What a process stored or indexed under them before the floor.
                keys_left = self._count_under(self.keys.store.kek_versions(), moving)
                identities_left = self._count_under(self.records.subjects.index_versions(), moving)
                if not keys_left and not identities_left:
                    break
                more = self._rewrap(ring, moving, keys_left, progress)
                rewrapped = Rewrapped(
                    rewrapped.subject_keys + more.subject_keys,
                    rewrapped.job_keys + more.job_keys,
                    more.unopened,  # the same keys each pass: the last pass's count
                    rewrapped.vault_keys + more.vault_keys,
                )
                moved, gone, unindexed = self._reindex(ring, moving, identities_left, progress)
                reindexed, removed = reindexed + moved, removed + gone
            self._refuse_if_left(moving, rewrapped.unopened, unindexed)
            # Built from the file as it is now, not as it was read at the start.
            fresh = self._keyring_to_change(ring.current_version)
            shared = self._index_shared(fresh, versions)
            self.keys.keyrings.replace(fresh.without(versions, utc_now(self.clock)))
            # A process whose ring was a moment behind may have indexed an
            # identity under a retired version since the check: its row opens
            # under the subject's data key alone, so it is moved still.
            self._reindex(ring, moving, 0, None)
            scrubbed = self.keys.store.scrub() and self.records.maintenance.scrub()
            if not scrubbed and self.scrub_due is not None:
                self.scrub_due.set()
        kept = tuple(sorted(set(ring.versions) - set(versions) - {ring.current_version}))
        return Retirement(
            versions, ring.current_version, rewrapped, reindexed, removed, scrubbed, shared, kept
        )

    def _keyring_to_change(self, current: int | None) -> Keyring:
        """The keyring file as it is now, to build the next one from, once the
        lease is renewed and found still ours (LeaseLapsed otherwise). If the
        work was done for `current`, RetirementBlocked when that is no longer
        the file's current version (another process rotated meanwhile)."""
        self._claim()
        fresh = self.keys.keyrings.refresh()
        if current is not None and fresh.current_version != current:
            raise RetirementBlocked(
                f"the keyring's current version is {fresh.current_version}, not {current} "
                "as when this began (another process rotated meanwhile): the keyring was "
                "left as it is; run again"
            )
        return fresh

    @staticmethod
    def _index_shared(ring: Keyring, retired: list[int]) -> bool:
        """Whether a version staying in `ring` has the index key of one retired."""
        gone = {ring.versions[v].index_key for v in retired if v in ring.versions}
        return any(keys.index_key in gone for v, keys in ring.versions.items() if v not in retired)

    @staticmethod
    def _retirable(ring: Keyring, cutoff: dt.datetime) -> list[int]:
        """The versions made before `cutoff`, but the current one, and below
        every version that stays (the floor refuses every version under it)."""
        versions = ring.older_than(cutoff)
        staying = set(ring.versions) - set(versions)
        lowest_staying = min(staying)
        return [v for v in versions if v < lowest_staying]

    @staticmethod
    def _count_under(counts: dict[int, int], versions: set[int]) -> int:
        return sum(n for v, n in counts.items() if v in versions)

    def _refuse_if_left(self, versions: set[int], unopened: int, unindexed: int) -> None:
        """RetirementBlocked if a key or identity is still under `versions`;
        `unopened` keys and `unindexed` identities of them did not open."""
        keys = self._count_under(self.keys.store.kek_versions(), versions)
        identities = self._count_under(self.records.subjects.index_versions(), versions)
        if keys or identities:
            tampered = (
                f" ({counted(unopened, 'key')} and {counted(unindexed, 'identity')} of "
                "them do not open: tampered or damaged)"
                if unopened or unindexed
                else ""
            )
            noun = "version" if len(versions) == 1 else "versions"
            raise RetirementBlocked(
                f"{counted(keys, 'key')} and {counted(identities, 'identity')} "
                f"are still under {noun} "
                f"{', '.join(map(str, sorted(versions)))} after every pass{tampered}; "
                "nothing was retired (the server log names what could not be moved)"
            )

    # -------------------------------------------------------- on a schedule
    def scheduled(
        self, rotate_every: dt.timedelta | None, retire_after: dt.timedelta | None
    ) -> list[Rotation | Retirement]:
        """What [keys] rotate_every and retire_after ask for now: a rotation if
        the current version is older than `rotate_every` (or the last rotation
        is unfinished), a retirement if a version is older than `retire_after`.
        Nothing while another process holds the lease (it does the work)."""
        done: list[Rotation | Retirement] = []
        try:
            ring = self.keys.keyrings.refresh()
            now = utc_now(self.clock)
            made = ring.versions[ring.current_version].created_at
            if rotate_every is not None:
                rotation: Rotation | None = None
                if made is None or now - made >= rotate_every:
                    rotation = self.rotate(THE_VAULT)
                elif self._unfinished(ring):
                    rotation = self.finish(THE_VAULT)
                if rotation is not None:
                    done.append(rotation)
                    ring = self.keys.keyrings.current()
            if retire_after is not None and self._retirable(ring, now - retire_after):
                done.append(self.retire(THE_VAULT, retire_after))
        except LeaseLapsed as lapsed:
            _log.warning("scheduled key rotation stopped: %s", lapsed)
        except RetirementBlocked as blocked:
            # One line, no traceback: the keys that did not open were logged.
            _log.error("scheduled key retirement refused: %s", blocked)
        except RotationBusy:
            pass
        return done

    def _unfinished(self, ring: Keyring) -> bool:
        """Whether something is left under an older version than `ring`'s
        current one, other than what this process found not to open."""
        left = self.left_behind(ring)
        return any(left) and (ring.current_version, *left) != self._stuck

    # ------------------------------------------------------------ the work
    @contextmanager
    def _lease(self) -> Iterator[None]:
        self._until = None
        self._claim()
        try:
            yield
        finally:
            self._until = None
            self.keys.store.release_rotation(self.owner)

    def _claim(self) -> None:
        """Claim the lease, or renew the one this process holds: RotationBusy if
        another holds it, LeaseLapsed if this process's ran out meanwhile (even
        if nobody holds it now: another may have held it, and changed things)."""
        now = utc_now(self.clock)
        if self._until is not None and now >= self._until:
            raise LeaseLapsed(self._until)
        lease = self.keys.store.claim_rotation(self.owner, now, now + LEASE)
        if lease.owner != self.owner and self._until is None and _orphaned(lease.owner):
            # Killed on this host (kill -9, a crash): its lease would hold
            # everyone off until it ran out. Released only if still its own.
            _log.warning(
                "the rotation lease of %s, a process of this host that is gone, was taken over",
                lease.owner,
            )
            self.keys.store.release_rotation(lease.owner)
            lease = self.keys.store.claim_rotation(self.owner, now, now + LEASE)
        if lease.owner != self.owner:
            raise RotationBusy(lease.owner, lease.until)
        self._until = lease.until
        self._renewed = time.monotonic()

    def _renew(self) -> None:
        if time.monotonic() - self._renewed >= _RENEW_SECONDS:
            self._claim()

    def _rewrap(
        self,
        ring: Keyring,
        versions: set[int] | None,
        total: int,
        progress: ProgressCallback | None,
    ) -> Rewrapped:
        def told(done: int) -> None:
            self._renew()
            if progress is not None:
                progress(Progress("keys", done, max(total, done)))

        return self.keys.rewrap(ring, versions, told, self._renew)

    def _reindex(
        self,
        ring: Keyring,
        versions: set[int] | None,
        total: int,
        progress: ProgressCallback | None,
    ) -> tuple[int, int, int]:
        """Re-index the identities under `versions` (every one but the current
        if None) a page at a time, the lease renewed for every page; how many
        were re-indexed, how many removed, and how many did not open."""
        after = ""
        reindexed = removed = unopened = 0
        while True:
            self._renew()
            page = self.records.subjects.identities_not_under(
                ring.current_version, after, REINDEX_PAGE
            )
            if not page:
                break
            after = page[-1].blind_index
            moves: list[tuple[str, IdentityRow]] = []
            gone: list[IdentityRow] = []
            for row in page:
                if versions is not None and row.index_version not in versions:
                    continue
                try:
                    moves.append((row.blind_index, self.sealing.reindexed_identity(row, ring)))
                except (SubjectErased, CategoryErased):
                    gone.append(row)
                except TamperedError:
                    # Left where it is; a retirement's check refuses to go on.
                    unopened += 1
                    _log.error(
                        "identity of subject %s does not open (tampered?); not re-indexed",
                        row.subject_id,
                    )
            with self.records.write() as tx:
                for old_index, row in moves:
                    reindexed += tx.subjects.reindex_identity(old_index, row)
                for row in gone:
                    # That subject's row only: the blind index may be another's by now.
                    removed += tx.subjects.delete_identity_of(row.subject_id, row.blind_index)
            self._renew()
            if progress is not None:
                done = reindexed + removed
                progress(Progress("identities", done, max(total, done)))
            if len(page) < REINDEX_PAGE:
                break
        if (reindexed or removed) and self.scrub_due is not None:
            self.scrub_due.set()
        return reindexed, removed, unopened


def _orphaned(owner: str) -> bool:
    """Whether the lease `owner` names a process of this host (and pid
    namespace) that no longer runs; a process elsewhere is never judged."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == _this_host() and pid.isdigit() and not _process_alive(int(pid))
