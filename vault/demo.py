"""The built-in demo: people of the vocational school in Malmö that runs the vault first.

Seeded through the same core calls any integrator uses; skipped for a person
who is already there, so restarting the demo server adds nothing twice. A demo
person erased once stays erased: the vault cannot recognise them any more
(their index rows are gone, by design), so the demo keeps a note of its own in
the data directory, the subject id it seeded for each demo person, and asks
the vault at start which of those are erased or being erased.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from vault.core.actor import LOCAL
from vault.core.consent.model import Channel, ConsentInput, ConsentStatus, PolicyDraft
from vault.core.consent.purposes import Purposes
from vault.core.errors import FailedPrecondition, InvalidArgument, SubjectNotFound
from vault.core.identities import IdentityKind
from vault.core.model import Content, LegalBasis, RecordDraft
from vault.core.vault import IdentityInput, Vault

# A 1x1 PNG, standing in for a photo of a student's model for a distance assignment.
_PHOTO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

PNR = IdentityKind.PERSONNUMMER
EMAIL = IdentityKind.EMAIL
PHONE = IdentityKind.PHONE

NOTE_FILE = "demo-people.json"
NOTE_FORMAT = "consent-vault-demo-note/1"


class DemoPerson(NamedTuple):
    identities: list[IdentityInput]
    roles: list[str]
    protected: bool
    records: list[RecordDraft]
    # The stand-ins' key for the same person (vault_standins.people.Person.key),
    # so a person left out of the vault is left out of every system too.
    key: str
    # What the demo prints about them: a fictional name, or for the person
    # with a protected identity a description, as a real one would need.
    called: str
    # What they said about the purposes that rest on consent.
    consents: tuple[ConsentInput, ...] = ()


# Each record's purpose and legal basis are the school's configured ones
# (vault/school_purposes.toml), and its category one the purpose may use:
# the vault refuses any other.
PEOPLE: list[DemoPerson] = [
    DemoPerson(
        [
            IdentityInput(PNR, "19811218-9876"),
            IdentityInput(EMAIL, "anna.andersson@example.se"),
            IdentityInput(PHONE, "070-123 45 67"),
            IdentityInput(IdentityKind.EXTERNAL_ID, "1001", "lms"),
        ],
        ["student", "lms_user", "salon_booking_user"],
        False,
        [
            RecordDraft(
                "contact",
                "course_delivery",
                LegalBasis.CONTRACT,
                "lms",
                {"name": "Anna Andersson", "address": "Kalendegatan 1, 211 35 Malmö"},
            ),
            RecordDraft(
                "student.grading",
                "grading",
                LegalBasis.LEGAL_OBLIGATION,
                "lms",
                {"course": "Hårfärgning 1", "grade": "B", "set_on": "2026-06-10"},
            ),
            RecordDraft(
                "media",
                "distance_assignment",
                LegalBasis.CONTRACT,
                "lms",
                {"assignment": "Uppsättning 3", "model_consented": True},
                Content(_PHOTO, "image/png", "uppsattning-3.png"),
            ),
            RecordDraft(
                "billing",
                "bookkeeping",
                LegalBasis.LEGAL_OBLIGATION,
                "accounting",
                {"invoice": "F-2026-0142", "amount_sek": 4950, "paid_with": "swish"},
            ),
            RecordDraft(
                "marketing",
                "marketing_email",
                LegalBasis.CONSENT,
                "website",
                {"channel": "email", "policy_version": "2026-01"},
            ),
        ],
        "anna",
        "Anna Andersson",
        (
            ConsentInput(
                ("marketing_email",),
                ConsentStatus.GIVEN,
                Channel.WEB_FORM,
                "newsletter sign-up form, submission 2026-0142",
                given_at=dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC),
            ),
        ),
    ),
    DemoPerson(
        [IdentityInput(PHONE, "+46 40 12 34 56"), IdentityInput(EMAIL, "Bo.Berg@Example.com")],
        ["salon_customer"],
        False,
        [
            RecordDraft(
                "contact", "salon_booking", LegalBasis.CONTRACT, "salon", {"name": "Bo Berg"}
            ),
            RecordDraft(
                "notes",
                "salon_booking",
                LegalBasis.CONTRACT,
                "salon",
                {"colour_recipe": "7.1 + 8.11, 6 % oxidant, 35 min"},
            ),
        ],
        "bo",
        "Bo Berg",
    ),
    DemoPerson(
        [
            IdentityInput(PNR, "701063-2391"),
            IdentityInput(EMAIL, "cecilia@example.org"),
            IdentityInput(
                IdentityKind.EXTERNAL_ID, "https://www.facebook.com/example.cecilia", "facebook"
            ),
        ],
        ["model"],
        False,
        [
            RecordDraft(
                "contact",
                "model_bank",
                LegalBasis.CONSENT,
                "facebook_group",
                {"name": "Cecilia Lind", "profile": "https://www.facebook.com/example.cecilia"},
            ),
        ],
        "cecilia",
        "Cecilia Lind",
        (
            ConsentInput(
                ("model_bank",),
                ConsentStatus.GIVEN,
                Channel.IN_PERSON,
                "signed the model bank form at the salon desk",
                given_at=dt.datetime(2026, 2, 3, 14, 0, tzinfo=dt.UTC),
            ),
        ),
    ),
    DemoPerson(
        [IdentityInput(PNR, "121212-1212"), IdentityInput(EMAIL, "skyddad@example.se")],
        ["student", "komvux"],
        True,
        [
            RecordDraft(
                "student.grading_basis",
                "komvux_documentation",
                LegalBasis.LEGAL_OBLIGATION,
                "lms",
                {"course": "Frisör grund", "basis": "practical exam passed"},
            ),
        ],
        "protected",
        "the komvux student with a protected identity",
    ),
    DemoPerson(
        [IdentityInput(EMAIL, "david.ek@example.se"), IdentityInput(PHONE, "0735-55 66 77")],
        ["employee", "internship_supervisor"],
        False,
        [
            RecordDraft(
                "contact",
                "staff_administration",
                LegalBasis.CONTRACT,
                "vault",
                {"name": "David Ek", "employment": "freelance teacher"},
            ),
        ],
        "david",
        "David Ek",
    ),
]


class DemoPurposesError(Exception):
    """The vault's configured purposes cannot hold the demo's records."""


def check_purposes(purposes: Purposes) -> None:
    """Refuse, before anyone is seeded, purposes ([purposes] file) that lack
    one the demo's records are held for or rest it on another basis: the
    demo is the school's, and half a demo person helps nobody."""
    for person in PEOPLE:
        for draft in person.records:
            try:
                purposes.check_record(draft.purpose, draft.legal_basis)
            except InvalidArgument as error:
                raise DemoPurposesError(
                    f"the demo's records are held for the school's purposes, and the "
                    f"configured ones do not hold them ({error.rule}): leave [purposes] "
                    "file out to run the demo"
                ) from None


# The privacy policy the demo people consented under: the school's, published
# on its site (the text is not in the vault, its hash and address are).
POLICY = PolicyDraft(
    version="2026-01",
    effective_from=dt.date(2026, 1, 1),
    text_sha256=hashlib.sha256(b"Leep Yrkesutbildning integritetspolicy 2026-01").hexdigest(),
    url="https://leep.example.se/integritetspolicy",
    summary="The school's privacy policy as the demo people were shown it.",
)


def seed(vault: Vault) -> int:
    """Register the demo people who are not there yet; return how many were added."""
    check_purposes(vault.purposes)
    _publish_policy(vault)
    return sum(_seed(vault, person)[1] for person in PEOPLE)


@dataclass(frozen=True)
class Seeding:
    """What seeding the demo did, in the words the demo prints."""

    added: list[str]
    already_there: list[str]
    left_out: list[str]  # erased (or being erased) earlier: not seeded again
    left_out_keys: frozenset[str]


class DemoNoteError(Exception):
    """The demo's note of the people it seeded cannot be read."""


def seed_remembering(vault: Vault, directory: Path) -> Seeding:
    """Seed the demo people, leaving out those the note in `directory` says
    were seeded once and the vault now has as erased or being erased."""
    check_purposes(vault.purposes)
    _publish_policy(vault)
    path = directory / NOTE_FILE
    seeded = _read_note(path)
    added: list[str] = []
    already: list[str] = []
    left_out: list[DemoPerson] = []
    for person in PEOPLE:
        if person.key in seeded and _gone(vault, seeded[person.key]):
            left_out.append(person)
            continue
        subject_id, was_added = _seed(vault, person)
        if subject_id is None:
            left_out.append(person)
            continue
        seeded[person.key] = subject_id
        (added if was_added else already).append(person.called)
    _write_note(path, seeded)
    return Seeding(
        added,
        already,
        [p.called for p in left_out],
        frozenset(p.key for p in left_out),
    )


def _seed(vault: Vault, person: DemoPerson) -> tuple[str | None, bool]:
    """(subject id, whether it was added now); no id for a person the vault has
    as erased or being erased (found while their index rows still stood). The
    demo seeds as the local operator who started it."""
    try:
        return vault.find_subject(LOCAL, person.identities[0]).subject_id, False
    except SubjectNotFound:
        pass
    except FailedPrecondition:
        return None, False
    subject = vault.create_subject(LOCAL, person.identities, person.roles, person.protected)
    for draft in person.records:
        vault.create_record(LOCAL, subject.subject_id, draft)
    for given in person.consents:
        vault.record_consent(LOCAL, subject.subject_id, given)
    return subject.subject_id, True


def _publish_policy(vault: Vault) -> None:
    """The demo's policy version, once."""
    if not any(v.version == POLICY.version for v in vault.policies.versions()):
        vault.publish_policy(LOCAL, POLICY)


def _gone(vault: Vault, subject_id: str) -> bool:
    """Whether the vault has this subject as erased or being erased. A subject
    it does not know at all (a fresh record store beside an old note) is not
    gone: that person is seeded afresh."""
    try:
        vault.get_subject(LOCAL, subject_id)
    except SubjectNotFound:
        return False
    except FailedPrecondition:
        return True
    return False


def _read_note(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != NOTE_FORMAT:
            raise ValueError(f"not a {NOTE_FORMAT}")
        subjects = data["subjects"]
        if not all(isinstance(v, str) for v in subjects.values()):
            raise ValueError("a subject id is not text")
        return dict(subjects)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise DemoNoteError(
            f"the demo's note {path} cannot be read ({error}); removing it lets "
            "demo people erased earlier come back"
        ) from None


def _write_note(path: Path, seeded: dict[str, str]) -> None:
    # Subject ids only, no personal data; written aside and renamed, so a
    # crash never leaves half a note.
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps({"format": NOTE_FORMAT, "subjects": seeded}, indent=2) + "\n")
    os.replace(part, path)
