"""The readable page of an export (index.html) shows everything export.json holds:
the vault's records and every connected system, in words the person can read."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import zipfile

import pytest

from tests.readable_page import Page, read_page
from vault.connectors.base import ExportFile, ExportItem, HeldCategory, Holdings
from vault.core.export import SystemExport, SystemProgress, export_archive
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Content, LegalBasis, Record, Subject, SubjectState

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
ANNA = Subject(
    "s-anna",
    (
        Identity(IdentityKind.PERSONNUMMER, "198112189876"),
        Identity(IdentityKind.EMAIL, "anna@example.se"),
        Identity(IdentityKind.EXTERNAL_ID, "1001", "lms"),
    ),
    ("student", "salon_booking_user"),
    False,
    SubjectState.ACTIVE,
    NOW,
    NOW,
)
BOOKS_REASON = "Bokföringslagen (1999:1078) 7 kap. 2 §"


def holdings(system: str, description: str, *categories: HeldCategory) -> Holdings:
    return Holdings(system, description, "SE", categories)


LMS = holdings(
    "lms",
    "Learning platform (Moodle)",
    HeldCategory(
        "account",
        "Username and last IP address",
        "platform_access",
        LegalBasis.CONTRACT,
        "3 years after the course ended",
    ),
    HeldCategory(
        "student.coursework",
        "Assignment submissions",
        "course_delivery",
        LegalBasis.CONTRACT,
        "3 years after the course ended",
    ),
)
ACCOUNTING = holdings(
    "accounting",
    "Accounting",
    HeldCategory(
        "bookkeeping.invoices",
        "Invoices",
        "bookkeeping",
        LegalBasis.LEGAL_OBLIGATION,
        "end of the 7th year",
        erasable=False,
        legal_reason=BOOKS_REASON,
    ),
)
SALON = holdings(
    "salon",
    "Salon booking system",
    HeldCategory("contact", "Name and phone", "salon_booking", LegalBasis.CONTRACT, "3 years"),
)
GROUP = holdings(
    "facebook_group",
    "Facebook group",
    HeldCategory(
        "moderation",
        "Profile page of a blocked member",
        "group_moderation",
        LegalBasis.LEGITIMATE_INTEREST,
        "while blocked",
    ),
)


def record(record_id: str, fields: dict, content: Content | None = None) -> Record:
    return Record(
        record_id,
        ANNA.subject_id,
        "contact",
        "course_delivery",
        LegalBasis.CONTRACT,
        "lms",
        fields,
        content,
        NOW,
        NOW,
    )


def export(
    *systems: SystemExport | SystemProgress, records: tuple[Record, ...] = ()
) -> zipfile.ZipFile:
    events = export_archive(ANNA, iter(records), len(records), NOW, systems)
    return zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))


def page_of(archive: zipfile.ZipFile) -> tuple[str, Page]:
    markup = archive.read("index.html").decode()
    return markup, read_page(markup)


@pytest.fixture
def archive() -> zipfile.ZipFile:
    return export(
        SystemProgress("lms", "running"),
        SystemExport(
            "lms",
            (
                ExportItem("account", {"username": "anna.a", "lastip": "192.0.2.77"}),
                ExportItem(
                    "student.coursework",
                    {"assignment": 501, "submitted": True},
                    # Two names that clean to the same file name.
                    (
                        ExportFile("model photo.png", "image/png", b"\x89PNG one"),
                        ExportFile("model_photo.png", "image/png", b"\x89PNG two"),
                    ),
                ),
            ),
            notes=("the e-mail on a record found by personnummer differs from the vault's",),
            holdings=LMS,
        ),
        SystemExport(
            "accounting", error="ConnectorUnavailable: connection refused", holdings=ACCOUNTING
        ),
        SystemExport("salon", no_match=("phone", "email"), holdings=SALON),
        SystemExport(
            "facebook_group",
            (ExportItem("moderation", {"profile": "https://facebook.example/someone-else"}),),
            withheld="the personnummer on a record found by e-mail differs from the vault's",
            holdings=GROUP,
        ),
        records=(record("r1", {"city": "Malmö"}, Content(b"PNG", "image/png", "my model #1.png")),),
    )


def test_the_page_shows_what_only_a_connected_system_holds(archive: zipfile.ZipFile) -> None:
    markup, page = page_of(archive)
    assert "192.0.2.77" in page.text
    # As a key/value line, not inside one long "k: v; k: v" string.
    assert "<dt>lastip</dt><dd>192.0.2.77</dd>" in markup
    assert "<dt>submitted</dt><dd>yes</dd>" in markup
    assert "Learning platform (Moodle)" in page.text and "Sweden" in page.text
    assert "Username and last IP address" in page.text  # the category in words
    assert "Platform access" in page.text  # why it is held
    assert "3 years after the course ended" in page.text  # how long
    assert "the system lms" in page.text  # where it came from
    assert "The e-mail on a record found by personnummer differs from the vault's" in page.text


def test_legal_bases_are_in_words(archive: zipfile.ZipFile) -> None:
    markup, page = page_of(archive)
    assert "needed for a contract with you (GDPR art. 6(1)(b))" in page.text
    vault_part = read_page(markup.split('<section id="system-')[0] + "</main></body></html>")
    assert "needed for a contract with you (GDPR art. 6(1)(b))" in vault_part.text


def test_every_link_reaches_a_file_in_the_archive_or_a_section_of_the_page(
    archive: zipfile.ZipFile,
) -> None:
    _, page = page_of(archive)
    files = page.files(archive)
    assert {
        "content/r1/my model #1.png",
        "systems/lms/1/model_photo.png",
        "systems/lms/1/model_photo-2.png",
    } <= set(files)
    assert archive.read("systems/lms/1/model_photo-2.png") == b"\x89PNG two"
    anchors = [link[1:] for link in page.links if link.startswith("#")]
    assert set(anchors) == {
        "vault",
        "system-lms",
        "system-accounting",
        "system-salon",
        "system-facebook_group",
    }
    assert set(anchors) <= page.ids


def test_a_system_that_failed_found_nobody_or_was_withheld_says_so(
    archive: zipfile.ZipFile,
) -> None:
    _, page = page_of(archive)
    assert "This system could not be read for this export" in page.text
    assert "ConnectorUnavailable: connection refused" in page.text
    assert "No one was found in this system by phone or e-mail." in page.text
    assert "may belong to someone else" in page.text
    assert "the personnummer on a record found by e-mail differs from the vault's" in page.text
    # What may be someone else's is neither shown nor written.
    assert "someone-else" not in page.text
    assert b"someone-else" not in archive.read("export.json")


def test_export_json_carries_each_systems_status_and_holdings(archive: zipfile.ZipFile) -> None:
    systems = json.loads(archive.read("export.json"))["systems"]
    assert {name: part["status"] for name, part in systems.items()} == {
        "lms": "done",
        "accounting": "failed",
        "salon": "no_match",
        "facebook_group": "withheld",
    }
    assert systems["salon"]["tried"] == ["phone", "email"]
    assert systems["facebook_group"]["withheld_reason"].startswith("the personnummer")
    assert systems["facebook_group"]["items"] == []
    assert systems["lms"]["notes"] == [
        "the e-mail on a record found by personnummer differs from the vault's"
    ]
    assert systems["lms"]["description"] == "Learning platform (Moodle)"
    assert systems["lms"]["location"] == "SE"
    assert systems["accounting"]["holdings"] == [
        {
            "category": "bookkeeping.invoices",
            "description": "Invoices",
            "purpose": "bookkeeping",
            "legal_basis": "legal_obligation",
            "retention": "end of the 7th year",
            "erasable": False,
            "legal_reason": BOOKS_REASON,
        }
    ]


def test_what_people_and_systems_typed_is_escaped() -> None:
    typed = "<script>alert(1)</script> & co"
    archive = export(
        SystemExport(
            "salon", (ExportItem("contact", {"note<b>": typed, "colour": None}),), holdings=SALON
        ),
        records=(record("r1", {"note": typed, "n": 2}),),
    )
    markup, page = page_of(archive)
    assert "<script" not in markup and "<b>" not in markup
    assert (
        "<dt>note</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</dd><dt>n</dt><dd>2</dd>"
        in markup
    )
    assert "<dt>note&lt;b&gt;</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</dd>" in markup
    assert typed in page.text


def test_the_page_stands_alone_and_fits_a_phone(archive: zipfile.ZipFile) -> None:
    markup, page = page_of(archive)
    assert page.sources == []  # nothing fetched from elsewhere
    assert "script" not in page.tags
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in markup
    assert "@media (max-width:" in markup


@pytest.mark.parametrize("basis", list(LegalBasis))
def test_every_legal_basis_has_words_and_its_article(basis: LegalBasis) -> None:
    assert "GDPR art. 6(1)(" in basis.describe()


def test_values_from_other_systems_read_as_text_whatever_their_type() -> None:
    archive = export(
        SystemExport(
            "salon",
            (
                ExportItem(
                    "contact",
                    {
                        "note": "before\x00after",  # another system's column may hold a NUL
                        "paid": decimal.Decimal("4950.50"),
                        "booked": dt.datetime(2026, 3, 15, 10, 30),
                        "raw": b"\x01\x02",
                        "tags": ["colour", "<cut>"],
                    },
                ),
            ),
            holdings=SALON,
        )
    )
    markup, page = page_of(archive)
    assert "before\ufffdafter" in page.text  # control characters have no place in HTML text
    assert "<dt>paid</dt><dd>4950.50</dd>" in markup
    assert "<dt>booked</dt><dd>2026-03-15T10:30:00</dd>" in markup
    assert "<dt>raw</dt><dd>0102</dd>" in markup
    assert "<dt>tags</dt><dd>[&quot;colour&quot;, &quot;&lt;cut&gt;&quot;]</dd>" in markup
    assert (
        json.loads(archive.read("export.json"))["systems"]["salon"]["items"][0]["data"]["paid"]
        == "4950.50"
    )
