"""The log's order and its proof: the sequencer folds unsequenced events into
the Merkle tree and signs tree heads; `verify` checks a whole log against them.

A leaf is an event's index (8 bytes, big-endian) followed by its entry, hashed
as RFC 9162 hashes a leaf: `SHA-256(0x00 || index || entry)`. With the index
inside the leaf, an event moved to another place no longer matches the leaf
hash stored there, so a reordering is told apart from an edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vault.core.audit import merkle
from vault.core.audit.events import AuditEvent
from vault.core.audit.heads import SignedTreeHead, sign_head, verify_head
from vault.core.audit.store import AuditStore, Sequenced, StoredEvent, StoredHead
from vault.core.clock import Clock, utc_now

# How many events one round of the sequencer folds at most.
SEQUENCE_BATCH = 10_000
# How many mismatched events verify pairs up to tell moved ones from edited.
MOVES_LOOKED_FOR = 1_000


def leaf_of(index: int, entry: bytes) -> bytes:
    """The Merkle leaf hash of the event at `index` (the module's docstring)."""
    return merkle.leaf_hash(index.to_bytes(8, "big") + entry)


class Sequencer:
    """Gives unsequenced events their places in the log and signs the new head.

    Any number of server processes may run one on the same database: a round
    stores its work only if the log is still the size it started from
    (`AuditStore.sequence`), so the loser of a race stores nothing and the
    next round folds what is left onto the winner's head.
    """

    def __init__(
        self,
        store: AuditStore,
        signing_key: Callable[[], bytes],
        clock: Clock,
        batch: int = SEQUENCE_BATCH,
    ) -> None:
        self.store = store
        self.signing_key = signing_key
        self.clock = clock
        self.batch = batch

    def run_once(self) -> int:
        """Sequence up to `batch` waiting events under one new signed head;
        how many were sequenced (0: none waited, or another process won)."""
        latest = self.store.latest_head()
        waiting = self.store.unsequenced(self.batch)
        if not waiting:
            return 0
        size = latest.head.size if latest else 0
        tree = merkle.TreeBuilder.resume(size, latest.frontier) if latest else merkle.TreeBuilder()
        placed = []
        for offset, event in enumerate(waiting):
            leaf = leaf_of(size + offset, event.entry)
            tree.append(leaf)
            placed.append(Sequenced(event.row_id, size + offset, leaf))
        head = sign_head(self.signing_key(), tree.size, tree.root(), utc_now(self.clock))
        if not self.store.sequence(size, placed, StoredHead(head, tree.frontier)):
            return 0
        return len(placed)

    def run_until_done(self) -> int:
        """Sequence every waiting event (for tests, and before a verify); a
        round lost to another process is simply followed by the next."""
        total = 0
        while self.store.unsequenced(1):
            total += self.run_once()
        return total


@dataclass
class Finding:
    """Something verify found wrong, at an index (or a head's size)."""

    index: int
    what: str


@dataclass
class Verification:
    events: int = 0
    heads: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(store: AuditStore, public_key: bytes) -> Verification:
    """Check every sequenced event and every signed head; name each event
    edited, removed or out of its place, and each head that does not hold.

    The tree is rebuilt from the leaf hashes the sequencer stored and checked
    against every signed head: so a change that rewrote hashes as well is still
    found (by the first head it breaks). Each entry is hashed where it stands
    and compared with its stored leaf hash: so the event edited is named.
    """
    result = Verification()
    by_size = {stored.head.size: stored.head for stored in store.heads()}
    result.heads = len(by_size)
    for size, head in sorted(by_size.items()):
        if not verify_head(public_key, head):
            result.findings.append(
                Finding(size, f"tree head {size} is not signed by the audit key")
            )
    tree = merkle.TreeBuilder()
    # Events whose entry does not match the leaf hash stored at their index:
    # (index, entry, stored leaf hash); few, so moved ones are told apart below.
    mismatched: list[tuple[int, bytes, bytes]] = []
    # Once an event is missing, the tree past it cannot be rebuilt: the heads
    # past it are not checked (the removal is what is wrong with them).
    removed = False
    # Every sequenced event is under a head (a round stores both at once): one
    # past the last head was put there, or its index edited, behind the vault.
    signed = max(by_size, default=0)
    for stored in store.sequenced():
        index = stored.index
        assert index is not None and stored.leaf_hash is not None  # sequenced events only
        result.events += 1
        if index >= signed:
            result.findings.append(
                Finding(
                    index,
                    f"an event stands at index {index}, past the {signed} events the "
                    "last signed tree head covers: it was added, or its index edited",
                )
            )
            continue
        if tree.size < index:
            result.findings.append(_removed(tree.size, index))
            # Keeps the later events at their indexes.
            tree.extend(bytes(merkle.HASH_SIZE) for _ in range(index - tree.size))
            removed = True
        if leaf_of(index, stored.entry) != stored.leaf_hash:
            mismatched.append((index, stored.entry, stored.leaf_hash))
        elif not _columns_agree(stored):
            result.findings.append(
                Finding(
                    index,
                    f"event {index}'s filter columns were edited: they no longer say what its entry says",
                )
            )
        tree.append(stored.leaf_hash)
        if not removed:
            _check_head(tree, by_size, result)
    result.findings.extend(_edited_or_moved(mismatched))
    if signed > tree.size:
        cut = _removed(tree.size, signed)
        past = sum(1 for size in by_size if size > tree.size)
        heads = "1 signed tree head covers" if past == 1 else f"{past} signed tree heads cover"
        result.findings.append(
            Finding(cut.index, f"{cut.what} from the log's end: {heads} more than it holds")
        )
    result.findings.sort(key=lambda finding: finding.index)
    return result


def _removed(first: int, end: int) -> Finding:
    if end - first == 1:
        return Finding(first, f"event {first} was removed")
    return Finding(first, f"events {first} to {end - 1} were removed ({end - first} events)")


def _check_head(
    tree: merkle.TreeBuilder, by_size: dict[int, SignedTreeHead], result: Verification
) -> None:
    head = by_size.get(tree.size)
    if head is not None and head.root != tree.root():
        result.findings.append(
            Finding(
                tree.size,
                f"the log's first {tree.size} events do not make the root tree head {tree.size} signed: stored leaf hashes were rewritten",
            )
        )


def _edited_or_moved(mismatched: list[tuple[int, bytes, bytes]]) -> list[Finding]:
    """An entry that matches the leaf hash stored at another mismatched index
    was moved from there (two swapped events each name the other); any other
    was edited. Pairing is quadratic in the mismatches, so past
    `MOVES_LOOKED_FOR` of them (a log rewritten wholesale) each is named edited."""
    if len(mismatched) > MOVES_LOOKED_FOR:
        return [
            Finding(index, f"event {index} was edited: its entry is not what was signed")
            for index, _, _ in mismatched
        ]
    stored_at = {index: leaf for index, _, leaf in mismatched}
    findings = []
    for index, entry, _ in mismatched:
        origin = next(
            (
                other
                for other, leaf in stored_at.items()
                if other != index and leaf_of(other, entry) == leaf
            ),
            None,
        )
        if origin is not None:
            findings.append(
                Finding(index, f"event {index} is out of order: it is event {origin}, moved here")
            )
        else:
            findings.append(
                Finding(index, f"event {index} was edited: its entry is not what was signed")
            )
    return findings


def _columns_agree(stored: StoredEvent) -> bool:
    try:
        event = AuditEvent.from_entry(stored.entry)
    except ValueError:
        return False
    return (stored.actor, stored.operation, stored.subject, stored.sensitive) == (
        event.actor,
        event.operation,
        event.subject,
        event.sensitive,
    )
