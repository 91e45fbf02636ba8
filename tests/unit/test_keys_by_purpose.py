"""Data keys per (subject, category, purpose): erasing one purpose of a category
leaves its others readable, erasing the category takes them all, a record is
sealed under its purpose's key and moves with its purpose, and neither a
wrapped key nor a record opens when moved to another purpose. On both engines."""

from __future__ import annotations

import dataclasses

import pytest

from vault import crypto, purposes_file
from vault.core.actor import LOCAL
from vault.core.errors import CategoryErased, InvalidArgument, RecordNotFound, RequestIdReused
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, NewSubject, RecordChanges, SubjectBatch, Vault
from vault.storage.base import DataKeyScope

ANNA = [IdentityInput(IdentityKind.EMAIL, "anna@example.se")]


def draft(category: str, purpose: str, n: int = 0) -> RecordDraft:
    """A record for one of the school's purposes, on that purpose's basis."""
    return RecordDraft(category, purpose, _basis(purpose), "lms", {"n": n})


def _basis(purpose: str) -> LegalBasis:
    found = purposes_file.school().get(purpose)
    return found.legal_basis if found else LegalBasis.CONTRACT


def readable(vault: Vault, subject_id: str) -> list[tuple[str, str, int]]:
    return sorted(
        (r.category, r.purpose, r.fields["n"]) for r in vault.readable_records(LOCAL, subject_id)
    )


def anna_with_records(vault: Vault) -> tuple[str, dict[str, list[str]]]:
    """Anna's contact records for two purposes and a notes record; their ids by purpose."""
    anna = vault.create_subject(LOCAL, ANNA, []).subject_id
    ids: dict[str, list[str]] = {}
    for n, (category, purpose) in enumerate(
        [
            ("contact", "course_delivery"),
            ("contact", "marketing_email"),
            ("contact", "marketing_email"),
            ("notes", "marketing_email"),
        ]
    ):
        record = vault.create_record(LOCAL, anna, draft(category, purpose, n))
        ids.setdefault(f"{category}/{purpose}", []).append(record.record_id)
    return anna, ids


def test_each_purpose_of_a_category_has_a_key_of_its_own(vault: Vault) -> None:
    anna, _ = anna_with_records(vault)
    scopes = vault.keys.scopes(anna)
    assert [(s.category, s.purpose) for s in scopes] == [
        ("contact", "course_delivery"),
        ("contact", "marketing_email"),
        ("notes", "marketing_email"),
        ("vault.identity", ""),
    ]
    key_ids = {vault.keys.store.data_key(s).key_id for s in scopes}  # type: ignore[union-attr]
    assert len(key_ids) == 4


def test_erasing_one_purpose_leaves_the_categorys_other_purposes_readable(vault: Vault) -> None:
    anna, ids = anna_with_records(vault)
    erased = vault.erase_category(LOCAL, anna, "contact", purpose="marketing_email")
    assert (erased.category, erased.purposes) == ("contact", ("marketing_email",))
    assert (erased.records_shredded, erased.keys_destroyed) == (2, 1)
    assert readable(vault, anna) == [
        ("contact", "course_delivery", 0),
        ("notes", "marketing_email", 3),
    ]
    for record_id in ids["contact/marketing_email"]:
        with pytest.raises(RecordNotFound):
            vault.get_record(LOCAL, record_id)
    # The counts are per category: what is left of it is counted.
    assert vault.records.records.count_records(anna, "contact") == 1
    assert vault.count_records(LOCAL, anna) == 2
    assert DataKeyScope(anna, "contact", "marketing_email") not in vault.keys.scopes(anna)
    # The purpose may hold records again, under a new key; nothing old comes back.
    again = vault.create_record(LOCAL, anna, draft("contact", "marketing_email", 9))
    assert vault.get_record(LOCAL, again.record_id).fields == {"n": 9}
    assert readable(vault, anna)[1] == ("contact", "marketing_email", 9)


def test_erasing_a_category_destroys_the_keys_of_all_its_purposes(vault: Vault) -> None:
    anna, ids = anna_with_records(vault)
    erased = vault.erase_category(LOCAL, anna, "contact")
    assert erased.purposes == ("course_delivery", "marketing_email")
    assert (erased.records_shredded, erased.keys_destroyed) == (3, 2)
    assert [s.category for s in vault.keys.store.data_key_scopes(anna)] == [
        "notes",
        "vault.identity",
    ]
    for purpose in ("course_delivery", "marketing_email"):
        assert vault.keys.store.data_key(DataKeyScope(anna, "contact", purpose)) is None
    assert readable(vault, anna) == [("notes", "marketing_email", 3)]
    for record_id in ids["contact/course_delivery"] + ids["contact/marketing_email"]:
        with pytest.raises(RecordNotFound):
            vault.get_record(LOCAL, record_id)
    assert vault.records.records.count_records(anna, "contact") == 0


def test_a_purpose_the_category_lacks_is_erased_as_an_absent_category_is(vault: Vault) -> None:
    anna, _ = anna_with_records(vault)
    before = readable(vault, anna)
    absent = vault.erase_category(LOCAL, anna, "grades")
    unknown = vault.erase_category(LOCAL, anna, "contact", purpose="statistics")
    for erased in (absent, unknown):
        assert (erased.records_shredded, erased.keys_destroyed) == (0, 0)
    assert unknown.purposes == ("statistics",) and absent.purposes == ()
    assert readable(vault, anna) == before


def test_a_purpose_that_breaks_the_rule_is_refused_naming_the_field(vault: Vault) -> None:
    anna, _ = anna_with_records(vault)
    with pytest.raises(InvalidArgument) as refused:
        vault.erase_category(LOCAL, anna, "contact", purpose="Not A Word")
    assert refused.value.metadata["field"] == "purpose"


def test_a_retried_erasure_of_one_purpose_answers_as_the_first(vault: Vault) -> None:
    anna, _ = anna_with_records(vault)
    first = vault.erase_category(LOCAL, anna, "contact", "e-1", purpose="marketing_email")
    again = vault.erase_category(LOCAL, anna, "contact", "e-1", purpose="marketing_email")
    assert again == first
    # The same id for another purpose is another request.
    with pytest.raises(RequestIdReused):
        vault.erase_category(LOCAL, anna, "contact", "e-1", purpose="course_delivery")
    assert readable(vault, anna)[0] == ("contact", "course_delivery", 0)


def test_a_record_whose_purpose_changes_moves_to_that_purposes_key(vault: Vault) -> None:
    anna, ids = anna_with_records(vault)
    (moved,) = ids["contact/course_delivery"]
    vault.update_record(
        LOCAL, moved, RecordChanges(purpose="marketing_email", legal_basis=LegalBasis.CONSENT)
    )
    row = vault.records.records.record(moved)
    assert row is not None and row.purpose == "marketing_email"
    marketing = vault.keys.store.data_key(DataKeyScope(anna, "contact", "marketing_email"))
    assert marketing is not None and row.key_id == marketing.key_id
    # Erasing its old purpose no longer touches it; erasing its new one does.
    vault.erase_category(LOCAL, anna, "contact", purpose="course_delivery")
    assert vault.get_record(LOCAL, moved).fields == {"n": 0}
    vault.erase_category(LOCAL, anna, "contact", purpose="marketing_email")
    with pytest.raises(RecordNotFound):
        vault.get_record(LOCAL, moved)


def test_a_record_moved_to_another_purpose_does_not_open(vault: Vault) -> None:
    anna, ids = anna_with_records(vault)
    row = vault.records.records.record(ids["contact/course_delivery"][0])
    assert row is not None
    other = vault.keys.data_key(anna, "contact", "marketing_email", create=False)
    # Relabelled alone, it names a key its purpose does not have.
    with pytest.raises(CategoryErased):
        vault.sealing.open_record(dataclasses.replace(row, purpose="marketing_email"))
    # Relabelled with the other purpose's key id, that key does not open it.
    with pytest.raises(crypto.TamperedError):
        vault.sealing.open_record(
            dataclasses.replace(row, purpose="marketing_email", key_id=other.key_id)
        )
    assert vault.sealing.open_record(row).fields == {"n": 0}  # as it was, it opens


def test_a_wrapped_key_copied_to_another_purpose_does_not_unwrap(vault: Vault) -> None:
    anna, _ = anna_with_records(vault)
    store = vault.keys.store
    stored = store.data_key(DataKeyScope(anna, "contact", "marketing_email"))
    assert stored is not None
    # Copied to a scope of its own, as a key-store row edited by hand would be.
    copy = DataKeyScope(anna, "contact", "statistics")
    assert store.put_data_key(copy, stored) == stored
    fresh = Vault(vault.records, store, vault.keyrings, purposes=purposes_file.school())  # no cache
    with pytest.raises(crypto.TamperedError):
        fresh.keys.data_key(anna, "contact", "statistics", create=False)
    assert fresh.keys.data_key(anna, "contact", "marketing_email", create=False).key_id == (
        stored.key_id
    )


def test_an_import_seals_each_purposes_records_under_its_own_key(vault: Vault) -> None:
    batch = SubjectBatch(
        [
            NewSubject(
                ANNA,
                [],
                records=[
                    draft("contact", "course_delivery", 1),
                    draft("contact", "marketing_email", 2),
                ],
            )
        ]
    )
    (anna,) = vault.import_subjects(LOCAL, [batch]).subject_ids
    assert [(s.category, s.purpose) for s in vault.keys.scopes(anna)] == [
        ("contact", "course_delivery"),
        ("contact", "marketing_email"),
        ("vault.identity", ""),
    ]
    vault.erase_category(LOCAL, anna, "contact", purpose="marketing_email")
    assert readable(vault, anna) == [("contact", "course_delivery", 1)]
