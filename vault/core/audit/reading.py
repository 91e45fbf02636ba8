"""The audit trail as the auditor reads it: events listed and filtered, the
signed tree heads, inclusion and consistency proofs, the public key, and the
whole log verified. Each read is itself an event, committed once its answer
is found and before it leaves the vault, as every read of the vault is (a
read that finds nothing is told by the edge, with the reason it answered).

A proof is computed from the leaf hashes the sequencer stored: all of them
up to the head's size are read for one proof (32 bytes each, a million in
about 32 MB), which is plain and enough for an auditor's occasional call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vault.core.actor import Actor
from vault.core.audit import merkle
from vault.core.audit.events import Operation
from vault.core.audit.heads import public_key_of
from vault.core.audit.log import Verification, verify
from vault.core.audit.pseudonyms import pseudonym
from vault.core.audit.store import AuditQuery, StoredEvent, StoredHead
from vault.core.audit.trail import AuditTrail
from vault.core.errors import AuditEntryNotFound, InvalidArgument, SubjectNotFound
from vault.storage.base import SubjectReads

# The vault key (vault.core.keys.vault_key) that signs the tree heads: an
# Ed25519 seed, wrapped under the KEK and re-wrapped, never retired, with it.
SIGNING_KEY = "audit-signing"


@dataclass(frozen=True)
class Inclusion:
    """The event at an index, the signed head it is proved in, its leaf hash
    and the audit path from the leaf up (RFC 9162 2.1.3)."""

    event: StoredEvent
    head: StoredHead
    leaf_hash: bytes
    path: list[bytes]


@dataclass(frozen=True)
class Consistency:
    """Two signed heads and the proof that the first's tree is a prefix of the
    second's (RFC 9162 2.1.4)."""

    first: StoredHead
    second: StoredHead
    proof: list[bytes]


class AuditLog:
    def __init__(
        self, trail: AuditTrail, subjects: SubjectReads, signing_key: Callable[[], bytes]
    ) -> None:
        self.trail = trail
        self.store = trail.store
        self.subjects = subjects
        self.signing_key = signing_key

    def public_key(self) -> bytes:
        """The raw Ed25519 key that verifies every head this vault signed."""
        return public_key_of(self.signing_key())

    def events(self, actor: Actor, query: AuditQuery) -> list[StoredEvent]:
        """Events in the order written, filtered; the listing's own event is
        committed first, so it can be among them."""
        self.trail.commit(self.trail.event(actor, Operation.LIST_AUDIT_EVENTS))
        return self.store.query(query)

    def subject_pseudonym(self, subject_id: str) -> str:
        """The pseudonym events name the subject by, to filter on: only while
        they exist (SubjectNotFound, or SubjectErased once their key is gone,
        when no event can be tied to them any more)."""
        if self.subjects.subject_state(subject_id) is None:
            raise SubjectNotFound(f"subject {subject_id} does not exist", subject=subject_id)
        return pseudonym(self.trail.keys.subject_key(subject_id), subject_id)

    def head(self, actor: Actor, size: int = 0) -> StoredHead:
        """The signed head of `size` events, or the latest for 0."""
        head = self._head(size)
        self.trail.commit(self.trail.event(actor, Operation.GET_TREE_HEAD))
        return head

    def inclusion(self, actor: Actor, index: int, tree_size: int = 0) -> Inclusion:
        """The proof that the event at `index` is in the signed head of `tree_size`."""
        if index < 0:
            raise InvalidArgument("index", "an event's index is 0 or more")
        head = self._head(tree_size)
        if index >= head.head.size:
            raise AuditEntryNotFound(
                f"event {index} is not in the tree head of {head.head.size} events"
            )
        event = self.store.at_index(index)
        if event is None or event.leaf_hash is None:
            raise AuditEntryNotFound(f"the log holds no event {index}")
        path = merkle.inclusion_proof(self._leaves(head.head.size), index)
        self.trail.commit(self.trail.event(actor, Operation.GET_INCLUSION_PROOF))
        return Inclusion(event, head, event.leaf_hash, path)

    def consistency(self, actor: Actor, first_size: int, second_size: int = 0) -> Consistency:
        """The proof that the head of `first_size` is a prefix of the one of `second_size`."""
        if first_size <= 0:
            raise InvalidArgument("first_size", "the earlier tree head's size is 1 or more")
        second = self._head(second_size)
        if first_size > second.head.size:
            raise InvalidArgument(
                "first_size",
                f"a tree head of {first_size} events is not earlier than one of {second.head.size}",
            )
        first = self._head(first_size)
        proof = merkle.consistency_proof(self._leaves(second.head.size), first_size)
        self.trail.commit(self.trail.event(actor, Operation.GET_CONSISTENCY_PROOF))
        return Consistency(first, second, proof)

    def verify(self) -> Verification:
        """Check every event against the signed heads (`consent-vault audit verify`)."""
        return verify(self.store, self.public_key())

    # ---------------------------------------------------------------- inside
    def _head(self, size: int) -> StoredHead:
        if size < 0:
            raise InvalidArgument("size", "a tree head's size is 0 or more (0: the latest)")
        head = self.store.head(size) if size else self.store.latest_head()
        if head is None:
            raise AuditEntryNotFound(
                f"no tree head of {size} events was signed"
                if size
                else "no tree head was signed yet: the log is empty"
            )
        return head

    def _leaves(self, size: int) -> list[bytes]:
        leaves = [event.leaf_hash for event in self.store.sequenced(0, size)]
        if len(leaves) != size or any(leaf is None for leaf in leaves):
            raise AuditEntryNotFound(
                f"the log no longer holds every event of its first {size}; "
                "run `consent-vault audit verify`"
            )
        return [leaf for leaf in leaves if leaf is not None]
