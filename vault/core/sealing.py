"""Sealing and opening the vault's rows: identities, roles and records encrypted
under their subject's data keys (a record under the key of its category and
purpose), each bound to where it belongs by its associated data.

The associated data names the row (its subject, category, record id and part),
so a sealed value copied into another row, or another subject's, never opens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import replace

from vault import crypto
from vault.core.drafts import CheckedDraft
from vault.core.errors import CategoryErased
from vault.core.identities import Identity, IdentityKind
from vault.core.keys import DataKey, KeyManager
from vault.core.model import Content, Record
from vault.crypto import KeyringError
from vault.keyring import Keyring, KeyringSource
from vault.storage.base import IdentityRow, RecordRow

# Identities are sealed under a data key of their own, so erasing any one
# record category never loses the means to recognise the person. It serves no
# purpose of a record: its purpose is "". A subject's roles are sealed under it
# too: they are facts about the person, not records.
IDENTITY_CATEGORY = "vault.identity"
IDENTITY_PURPOSE = ""

# Sealed roles are padded to a multiple of this many bytes, so that the length
# of the ciphertext does not tell one role from another (`["model"]` from
# `["salon_customer"]`); one or two roles of any name take one block.
ROLES_BLOCK = 64


class Sealing:
    def __init__(self, keys: KeyManager, keyrings: KeyringSource) -> None:
        self.keys = keys
        self.keyrings = keyrings

    @property
    def keyring(self) -> Keyring:
        return self.keyrings.current()

    # ---------------------------------------------------------- identities
    def identity_row(self, subject_id: str, identity: Identity) -> IdentityRow:
        """The identity sealed, found again only by its blind index (under the
        keyring's current version)."""
        data_key = self.keys.data_key(subject_id, IDENTITY_CATEGORY, IDENTITY_PURPOSE, create=True)
        return self._sealed_identity(subject_id, identity, data_key, self.keyring)

    def blind_indexes(self, identity: Identity, *, fresh: bool = False) -> list[str]:
        """The identity's blind index under every live version, the current
        first: a row not yet re-indexed is under an older one. `fresh` reads
        the keyring file again if it changed: inside a write, whose lock no
        re-index can commit under, so every row a rotation has moved is under
        a version this ring holds (a rotation saves the file before it moves
        anything)."""
        ring = self.keyrings.refresh() if fresh else self.keyring
        if fresh:
            self._check_not_behind(ring)
        return [index for _, index in ring.blind_indexes(identity.index_text)]

    def _check_not_behind(self, ring: Keyring) -> None:
        """A keyring that lacks the newest KEK version in the key database (a copy
        of its own, on another machine, or one given whole) cannot compute the
        blind indexes that version's rotation moved identities to: its "no one
        holds this identity" would be false, and registering the identity again
        would make a second person. KeyringError (KEYRING_UNUSABLE) instead."""
        newest = self.keys.store.newest_kek_version()
        if newest is not None and not ring.has(newest):
            raise KeyringError(
                f"the keyring ({ring.source}) lacks key-encryption key version {newest}, "
                "which the key database uses: it cannot look identities up; give this "
                "server the keyring file the others use"
            )

    def current_identity_row(
        self, subject_id: str, identity: Identity, row: IdentityRow
    ) -> IdentityRow:
        """`row`, or the identity sealed again if a rotation made another
        version current since it was sealed (call after `blind_indexes(fresh=True)`)."""
        if row.index_version == self.keyring.current_version:
            return row
        return self.identity_row(subject_id, identity)

    def reindexed_identity(self, row: IdentityRow, ring: Keyring | None = None) -> IdentityRow:
        """The same identity under the current version's index key (of `ring`,
        if given), sealed anew
        (its associated data names its blind index). Only the subject's data key
        is needed, never the old index key: a row left under a retired version
        is re-indexed like any other. CategoryErased or SubjectErased when the
        subject's keys are gone."""
        data_key = self.keys.data_key(
            row.subject_id, IDENTITY_CATEGORY, IDENTITY_PURPOSE, create=False
        )
        identity = self._opened_identity(row, data_key)
        return self._sealed_identity(row.subject_id, identity, data_key, ring or self.keyring)

    def open_identity(self, subject_id: str, row: IdentityRow) -> Identity:
        """One of `subject_id`'s identities: it opens only as that subject's."""
        data_key = self.keys.data_key(subject_id, IDENTITY_CATEGORY, IDENTITY_PURPOSE, create=False)
        return self._opened_identity(replace(row, subject_id=subject_id), data_key)

    @staticmethod
    def _sealed_identity(
        subject_id: str, identity: Identity, data_key: DataKey, ring: Keyring
    ) -> IdentityRow:
        version = ring.current_version
        blind_index = ring.blind_index(identity.index_text, version)
        sealed = crypto.seal(
            data_key.aead,
            json.dumps([identity.kind.value, identity.system, identity.value]).encode(),
            crypto.associated_data("identity", subject_id, blind_index),
        )
        return IdentityRow(blind_index, subject_id, identity.kind, sealed, version)

    @staticmethod
    def _opened_identity(row: IdentityRow, data_key: DataKey) -> Identity:
        kind, system, value = json.loads(
            crypto.unseal(
                data_key.aead,
                row.sealed_value,
                crypto.associated_data("identity", row.subject_id, row.blind_index),
            )
        )
        return Identity(IdentityKind(kind), value, system)

    # --------------------------------------------------------------- roles
    def seal_roles(self, subject_id: str, roles: tuple[str, ...]) -> bytes:
        """The roles sealed under the subject's identity key, padded (JSON
        ignores the trailing spaces) so their length shows next to nothing."""
        data_key = self.keys.data_key(subject_id, IDENTITY_CATEGORY, IDENTITY_PURPOSE, create=True)
        text = json.dumps(list(roles))
        text += " " * (-len(text) % ROLES_BLOCK)
        return crypto.seal(
            data_key.aead, text.encode(), crypto.associated_data("roles", subject_id)
        )

    def open_roles(self, subject_id: str, sealed: bytes | None) -> tuple[str, ...]:
        """The roles of `subject_id` (they open only as that subject's); none when
        nothing is sealed (an erased subject keeps none)."""
        if sealed is None:
            return ()
        data_key = self.keys.data_key(subject_id, IDENTITY_CATEGORY, IDENTITY_PURPOSE, create=False)
        return tuple(
            json.loads(
                crypto.unseal(data_key.aead, sealed, crypto.associated_data("roles", subject_id))
            )
        )

    # ------------------------------------------------------------- records
    def record_row(
        self,
        subject_id: str,
        checked: CheckedDraft,
        record_id: str,
        now: dt.datetime,
        data_key: DataKey | None = None,
        created_at: dt.datetime | None = None,
    ) -> RecordRow:
        """The record sealed: its fields and content's description as one payload,
        its content apart (it may be large); the rest stays clear for queries."""
        draft = checked.draft
        if data_key is None:
            data_key = self.keys.data_key(subject_id, draft.category, draft.purpose, create=True)
        content = draft.content
        content_meta = (
            "null"
            if content is None
            else json.dumps({"media_type": content.media_type, "filename": content.filename})
        )
        payload = f'{{"fields":{checked.fields_json},"content":{content_meta}}}'
        aad = ("record", subject_id, draft.category, record_id)
        return RecordRow(
            record_id=record_id,
            subject_id=subject_id,
            category=draft.category,
            purpose=draft.purpose,
            legal_basis=draft.legal_basis,
            source_system=draft.source_system,
            key_id=data_key.key_id,
            sealed_payload=crypto.seal(
                data_key.aead, payload.encode(), crypto.associated_data(*aad, "payload")
            ),
            sealed_content=None
            if content is None
            else crypto.seal(data_key.aead, content.data, crypto.associated_data(*aad, "content")),
            created_at=created_at or now,
            updated_at=now,
        )

    def open_record(self, row: RecordRow, data_key: DataKey | None = None) -> Record:
        if data_key is None:
            data_key = self.keys.data_key(row.subject_id, row.category, row.purpose, create=False)
        if data_key.key_id != row.key_id:
            # Sealed under a key of the category and purpose that has since been
            # destroyed (or under another purpose's: a row tampered with).
            raise CategoryErased(
                f"category {row.category} (purpose {row.purpose}) of subject "
                f"{row.subject_id} has been erased",
                subject=row.subject_id,
                category=row.category,
                purpose=row.purpose,
            )
        aad = ("record", row.subject_id, row.category, row.record_id)
        payload = json.loads(
            crypto.unseal(
                data_key.aead, row.sealed_payload, crypto.associated_data(*aad, "payload")
            )
        )
        content = None
        if payload["content"] is not None and row.sealed_content is not None:
            content = Content(
                crypto.unseal(
                    data_key.aead, row.sealed_content, crypto.associated_data(*aad, "content")
                ),
                payload["content"]["media_type"],
                payload["content"]["filename"],
            )
        return Record(
            record_id=row.record_id,
            subject_id=row.subject_id,
            category=row.category,
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            source_system=row.source_system,
            fields=payload["fields"],
            content=content,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def resealed(self, row: RecordRow, under: DataKey, into: DataKey) -> RecordRow:
        """The record sealed under `under` (its row's key) sealed again under
        `into`, as it was: the same associated data, fields, content and times.
        Only the key changes, for a record that moves to a key of its own."""
        if under.key_id != row.key_id:
            raise ValueError(f"record {row.record_id} is not sealed under key {under.key_id}")
        aad = ("record", row.subject_id, row.category, row.record_id)

        def again(sealed: bytes, part: str) -> bytes:
            data_aad = crypto.associated_data(*aad, part)
            return crypto.seal(into.aead, crypto.unseal(under.aead, sealed, data_aad), data_aad)

        return dataclasses.replace(
            row,
            key_id=into.key_id,
            sealed_payload=again(row.sealed_payload, "payload"),
            sealed_content=None
            if row.sealed_content is None
            else again(row.sealed_content, "content"),
        )
