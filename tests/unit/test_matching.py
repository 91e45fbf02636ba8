"""Examining a system's matches: what is a conflict, what is only a note."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vault.connectors.base import HeldCategory, Holdings, Match
from vault.core import matching
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis

PNR = Identity(IdentityKind.PERSONNUMMER, "199001012385")
OTHER_PNR = Identity(IdentityKind.PERSONNUMMER, "199001010017")
EMAIL = Identity(IdentityKind.EMAIL, "eva@example.se")
OTHER_EMAIL = Identity(IdentityKind.EMAIL, "bo@example.se")
PHONE = Identity(IdentityKind.PHONE, "+46701234567")
USER = Identity(IdentityKind.EXTERNAL_ID, "17", "crm")
OTHER_USER = Identity(IdentityKind.EXTERNAL_ID, "18", "crm")
ELSEWHERE = Identity(IdentityKind.EXTERNAL_ID, "99", "lms")

HOLDINGS = Holdings(
    "crm",
    "a CRM",
    "SE",
    (HeldCategory("contact", "contact details", "billing", LegalBasis.CONTRACT, "1 year"),),
    identified_by=(IdentityKind.EMAIL, IdentityKind.PERSONNUMMER),
)


def test_a_record_found_by_email_whose_personnummer_differs_is_a_conflict() -> None:
    report = matching.examine(
        "crm", [PNR, EMAIL], [Match("customer:1", (EMAIL,), (OTHER_PNR, EMAIL))]
    )
    assert report.conflicts == (
        "the personnummer on a record found by e-mail differs from the vault's",
    )
    assert IdentityKind.PERSONNUMMER in report.conflict_kinds
    # Texts name kinds, never values.
    assert "1990" not in " ".join(report.conflicts)


def test_the_systems_own_user_id_that_differs_is_a_conflict_another_systems_is_not() -> None:
    mine = matching.examine("crm", [USER, EMAIL], [Match("u:18", (EMAIL,), (OTHER_USER,))])
    assert mine.conflicts == (
        "the crm user id on a record found by e-mail differs from the vault's",
    )
    theirs = matching.examine("crm", [ELSEWHERE, EMAIL], [Match("u:18", (EMAIL,), (OTHER_USER,))])
    assert theirs.conflicts == ()


def test_two_identities_leading_to_records_of_two_people_conflict() -> None:
    # The e-mail finds one customer; the personnummer finds a customer with another e-mail.
    report = matching.examine(
        "crm",
        [PNR, EMAIL],
        [Match("customer:1", (EMAIL,), (EMAIL,)), Match("customer:2", (PNR,), (PNR, OTHER_EMAIL))],
    )
    assert report.conflicts == ("the e-mail and the personnummer lead to different records",)


def test_complementary_records_of_one_person_do_not_conflict() -> None:
    # A salon customer row found by e-mail and a student row found by personnummer:
    # neither holds the other's kind of identity.
    report = matching.examine(
        "salon",
        [PNR, EMAIL, PHONE],
        [
            Match("customers:3", (EMAIL, PHONE), (EMAIL, PHONE)),
            Match("students:1", (PNR,), (PNR,)),
        ],
    )
    assert report == matching.MatchReport()


def test_identities_sharing_one_record_do_not_conflict() -> None:
    report = matching.examine(
        "crm",
        [PNR, EMAIL],
        [Match("customer:1", (EMAIL, PNR), (PNR, EMAIL)), Match("customer:2", (PNR,), (PNR,))],
    )
    assert report == matching.MatchReport()


def test_a_different_email_or_phone_alone_is_a_note_not_a_conflict() -> None:
    report = matching.examine(
        "crm",
        [PNR, EMAIL, PHONE],
        [
            Match(
                "customer:1",
                (PNR,),
                (PNR, OTHER_EMAIL, Identity(IdentityKind.PHONE, "+46709999999")),
            )
        ],
    )
    assert report.conflicts == ()
    assert report.notes == (
        "the e-mail on a record found by personnummer differs from the vault's",
        "the phone number on a record found by personnummer differs from the vault's",
    )


def test_what_the_vault_does_not_hold_cannot_disagree() -> None:
    report = matching.examine("crm", [EMAIL], [Match("customer:1", (EMAIL,), (OTHER_PNR,))])
    assert report.conflicts == ()


def test_a_connector_that_says_nothing_of_what_found_what_never_conflicts() -> None:
    # Connector.match()'s default: every reference found by all identities.
    everyone = (PNR, EMAIL)
    report = matching.examine("crm", list(everyone), [Match("a", everyone), Match("b", everyone)])
    assert report.conflicts == ()


identities = st.sampled_from([PNR, OTHER_PNR, EMAIL, OTHER_EMAIL, PHONE, USER, OTHER_USER])


@given(st.lists(identities, min_size=1, max_size=4, unique=True))
def test_a_record_holding_exactly_the_persons_identities_never_conflicts(
    person: list[Identity],
) -> None:
    report = matching.examine("crm", person, [Match("r:1", tuple(person), tuple(person))])
    assert report.conflicts == () and report.notes == ()


def test_no_match_names_the_kinds_tried() -> None:
    tried = matching.tried_kinds(HOLDINGS, [PHONE, EMAIL, PNR])
    assert tried == (IdentityKind.EMAIL, IdentityKind.PERSONNUMMER)
    assert matching.no_match_text(HOLDINGS, [PHONE, EMAIL, PNR], tried) == (
        "no one found by e-mail or personnummer"
    )
    only_phone = matching.tried_kinds(HOLDINGS, [PHONE])
    assert matching.no_match_text(HOLDINGS, [PHONE], only_phone).startswith(
        "no one found: the system finds people by e-mail or personnummer"
    )
    undeclared = Holdings("x", "x", "SE", HOLDINGS.categories)
    assert matching.tried_kinds(undeclared, [PHONE]) == (IdentityKind.PHONE,)


def test_a_record_they_share_does_not_hide_another_persons_record() -> None:
    # A household phone leads to Eva's row and to Bo's, which holds another e-mail;
    # Eva's e-mail leads to her row alone. Bo's row must not be taken for hers.
    report = matching.examine(
        "salon",
        [EMAIL, PHONE],
        [
            Match("customers:1", (EMAIL, PHONE), (EMAIL, PHONE)),
            Match("customers:2", (PHONE,), (OTHER_EMAIL, PHONE)),
        ],
    )
    assert report.conflicts == ("the e-mail and the phone number lead to different records",)


def test_another_systems_user_id_is_not_counted_as_tried() -> None:
    facebook = Holdings(
        "facebook_group",
        "a group",
        "SE",
        HOLDINGS.categories,
        identified_by=(IdentityKind.EMAIL, IdentityKind.EXTERNAL_ID),
    )
    lms_user = Identity(IdentityKind.EXTERNAL_ID, "1001", "lms")
    tried = matching.tried_kinds(facebook, [EMAIL, lms_user])
    assert tried == (IdentityKind.EMAIL,)
    assert matching.no_match_text(facebook, [EMAIL, lms_user], tried) == "no one found by e-mail"
