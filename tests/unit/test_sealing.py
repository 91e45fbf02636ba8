"""Sealing: a sealed row opens only where it was sealed for (its subject,
category, record and part), so a value moved to another row never opens."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from vault.core import drafts
from vault.core.actor import LOCAL
from vault.core.identities import IdentityKind
from vault.core.model import Content, LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, Vault
from vault.crypto import TamperedError

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def subject(vault: Vault, address: str) -> str:
    return vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, address)], []).subject_id


def test_a_record_opens_as_sealed_and_only_in_its_own_row(vault: Vault) -> None:
    anna = subject(vault, "anna@example.se")
    checked = drafts.check(
        RecordDraft(
            "contact",
            "course_delivery",
            LegalBasis.CONTRACT,
            "lms",
            {"city": "Malmö"},
            Content(b"%PDF", "application/pdf", "a.pdf"),
        ),
        "record",
        vault.purposes,
    )
    row = vault.sealing.record_row(anna, checked, "r1", NOW)
    opened = vault.sealing.open_record(row)
    assert (opened.fields, opened.content) == ({"city": "Malmö"}, checked.draft.content)
    for moved in (
        dataclasses.replace(row, record_id="r2"),
        dataclasses.replace(row, sealed_content=row.sealed_payload),
    ):
        with pytest.raises(TamperedError):
            vault.sealing.open_record(moved)


def test_an_identity_opens_only_as_its_own_subjects(vault: Vault) -> None:
    anna, bo = subject(vault, "anna@example.se"), subject(vault, "bo@example.se")
    [row] = vault.records.subjects.identities(anna)
    assert vault.sealing.open_identity(anna, row).value == "anna@example.se"
    with pytest.raises(TamperedError):
        # Bo's key cannot open it, nor could Anna's under Bo's name.
        vault.sealing.open_identity(bo, row)
