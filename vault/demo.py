"""The built-in demo: people of the vocational school in Malmö that runs the vault first.

Seeded through the same core calls any integrator uses; skipped for a person
who is already there, so restarting the demo server adds nothing twice.
"""

from __future__ import annotations

import base64

from vault.core.errors import SubjectNotFound
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

# (identities, roles, protected identity, records)
PEOPLE: list[tuple[list[IdentityInput], list[str], bool, list[RecordDraft]]] = [
    (
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
                LegalBasis.PUBLIC_TASK,
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
                "newsletter",
                LegalBasis.CONSENT,
                "website",
                {"channel": "email", "policy_version": "2026-01"},
            ),
        ],
    ),
    (
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
    ),
    (
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
    ),
    (
        [IdentityInput(PNR, "121212-1212"), IdentityInput(EMAIL, "skyddad@example.se")],
        ["student", "komvux"],
        True,
        [
            RecordDraft(
                "student.grading_basis",
                "komvux_documentation",
                LegalBasis.PUBLIC_TASK,
                "lms",
                {"course": "Frisör grund", "basis": "practical exam passed"},
            ),
        ],
    ),
    (
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
    ),
]


def seed(vault: Vault) -> int:
    """Register the demo people who are not there yet; return how many were added."""
    added = 0
    for identities, roles, protected, records in PEOPLE:
        try:
            vault.find_subject(identities[0])
            continue
        except SubjectNotFound:
            pass
        subject = vault.create_subject(identities, roles, protected)
        for draft in records:
            vault.create_record(subject.subject_id, draft)
        added += 1
    return added
