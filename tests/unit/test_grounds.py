"""The grounds a read or a write of a person's records is checked against
(vault.core.consent.grounds), on the core alone: the purpose a read is for,
what stops it, and what stops a write."""

from __future__ import annotations

import pytest

from vault.core.actor import LOCAL, Actor, Role
from vault.core.consent.grounds import RIGHTS_REQUESTS, Grounds
from vault.core.consent.model import Channel, ConsentInput, ConsentStatus
from vault.core.consent.purposes import Purposes
from vault.core.errors import (
    ConsentRequired,
    InvalidArgument,
    Objected,
    PurposeMismatch,
    PurposeNotAllowed,
    Restricted,
)
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault

LMS = Actor("lms", Role.INTEGRATOR, "lms", frozenset({"course_delivery", "grading"}))
OFFICER = Actor("dpo", Role.PRIVACY_OFFICER)


def person(vault: Vault) -> str:
    identity = IdentityInput(IdentityKind.EMAIL, "anna@example.se")
    return vault.create_subject(LOCAL, [identity], []).subject_id


def said(vault: Vault, subject_id: str, status: ConsentStatus, purpose: str) -> None:
    vault.record_consent(
        LOCAL, subject_id, ConsentInput((purpose,), status, Channel.WEB_FORM, "", "")
    )


def test_a_read_names_its_purpose_or_takes_its_callers_default(vault: Vault) -> None:
    grounds = vault.grounds
    assert grounds.read_purpose(LMS, "grading") == "grading"
    with pytest.raises(InvalidArgument, match="--default-purpose"):
        grounds.read_purpose(LMS, "")
    reading = Actor("lms", Role.INTEGRATOR, "lms", LMS.purposes, "course_delivery")
    assert grounds.read_purpose(reading, "") == "course_delivery"
    assert grounds.read_purpose(OFFICER, "") == RIGHTS_REQUESTS
    for purpose in ("billing", RIGHTS_REQUESTS):
        with pytest.raises(PurposeNotAllowed):
            grounds.read_purpose(LMS, purpose)


def test_a_compatible_purpose_whose_consent_was_withdrawn_stops_the_read(vault: Vault) -> None:
    # A catalogue where course records may also serve a consent-based mailing:
    # the mailing's consent, withdrawn, stops the read of them for it.
    purposes = Purposes.from_mapping(
        {
            "purposes": {
                "course_delivery": {
                    "description": {"en": "Courses"},
                    "legal_basis": "contract",
                    "categories": ["contact"],
                    "systems": ["lms"],
                    "compatible_with": ["marketing_email"],
                },
                "marketing_email": {
                    "description": {"en": "Mail"},
                    "legal_basis": "consent",
                    "categories": ["contact"],
                    "systems": ["vault"],
                },
            }
        }
    )
    grounds = Grounds(vault.records, purposes, vault.policies, vault.clock, vault.audit)
    anna = person(vault)
    said(vault, anna, ConsentStatus.GIVEN, "marketing_email")
    assert grounds.read_refusal(anna, "marketing_email", "course_delivery") is None
    said(vault, anna, ConsentStatus.WITHDRAWN, "marketing_email")
    refusal = grounds.read_refusal(anna, "marketing_email", "course_delivery")
    assert isinstance(refusal, ConsentRequired) and refusal.metadata["standing"] == "withdrawn"
    # Held for the contract, read for it: nothing stops it.
    assert grounds.read_refusal(anna, "course_delivery", "course_delivery") is None
    assert isinstance(
        grounds.read_refusal(anna, "course_delivery", "marketing_email"), PurposeMismatch
    )


def test_a_write_is_stopped_by_a_no_and_a_restriction_but_not_by_consent_not_yet_asked(
    vault: Vault,
) -> None:
    grounds = vault.grounds
    anna = person(vault)
    # Not asked yet: a form sends the data, then the consent it came with.
    assert grounds.write_refusal(LMS, anna, "marketing_email") is None
    said(vault, anna, ConsentStatus.REFUSED, "marketing_email")
    refused = grounds.write_refusal(LMS, anna, "marketing_email")
    assert isinstance(refused, ConsentRequired) and refused.metadata["standing"] == "refused"
    vault.record_restriction(OFFICER, anna, ("course_delivery",), "accuracy contested")
    assert isinstance(grounds.write_refusal(LMS, anna, "course_delivery"), Restricted)
    # The privacy officer's rectification is what a restriction waits for.
    assert grounds.write_refusal(OFFICER, anna, "course_delivery") is None
    vault.record_objection(OFFICER, anna, ("statistics",), "by letter")
    assert isinstance(grounds.write_refusal(OFFICER, anna, "statistics"), Objected)
