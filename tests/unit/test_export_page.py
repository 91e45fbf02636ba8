"""The readable page of an export (index.html) shows everything export.json holds:
the vault's records and every connected system, in words the person can read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import io
import json
import zipfile

import pytest

from tests.readable_page import Page, read_page
from vault.connectors.base import ExportFile, ExportItem, HeldCategory, Holdings
from vault.core.export import SubjectExport, SystemExport, SystemProgress
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Content, Controller, LegalBasis, Record, Subject, SubjectState
from vault.reports import words
from vault.reports.archive import export_archive

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


def record(
    record_id: str, fields: dict, content: Content | None = None, source_system: str = "lms"
) -> Record:
    return Record(
        record_id,
        ANNA.subject_id,
        "contact",
        "course_delivery",
        LegalBasis.CONTRACT,
        source_system,
        fields,
        content,
        NOW,
        NOW,
    )


def export(
    *systems: SystemExport | SystemProgress,
    records: tuple[Record, ...] = (),
    controller: Controller | None = None,
) -> zipfile.ZipFile:
    events = export_archive(
        SubjectExport(ANNA, iter(records), len(records), NOW, systems, controller or Controller())
    )
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
    assert "<dt>Lastip</dt><dd>192.0.2.77</dd>" in markup
    assert "<dt>Submitted</dt><dd>yes</dd>" in markup
    assert "Learning platform (Moodle)" in page.text and "Sweden" in page.text
    assert "Username and last IP address" in page.text  # the category in words
    assert "Platform access" in page.text  # why it is held
    assert "3 years after the course ended" in page.text  # how long
    assert "From this system" in page.text  # where it came from
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
        "rights",
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
        "<dt>Note</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</dd><dt>N</dt><dd>2</dd>"
        in markup
    )
    assert "<dt>Note&lt;b&gt;</dt><dd>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</dd>" in markup
    assert typed in page.text


def test_the_page_stands_alone_and_fits_a_phone(archive: zipfile.ZipFile) -> None:
    markup, page = page_of(archive)
    assert page.sources == []  # nothing fetched from elsewhere
    assert "script" not in page.tags
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in markup
    assert "@media (max-width:" in markup


@pytest.mark.parametrize("basis", list(LegalBasis))
def test_every_legal_basis_has_words_and_its_article(basis: LegalBasis) -> None:
    assert "GDPR art. 6(1)(" in words.legal_basis(basis.value)


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
    assert "<dt>Paid</dt><dd>4950.50</dd>" in markup
    assert "<dt>Booked</dt><dd>2026-03-15T10:30:00</dd>" in markup
    assert "<dt>Raw</dt><dd>0102</dd>" in markup
    assert "<dt>Tags</dt><dd>[&quot;colour&quot;, &quot;&lt;cut&gt;&quot;]</dd>" in markup
    assert (
        json.loads(archive.read("export.json"))["systems"]["salon"]["items"][0]["data"]["paid"]
        == "4950.50"
    )


# ------------------------------------------------ who "we" are, and the rights
SCHOOL = Controller("Leep Yrkesutbildning AB", "dataskydd@example.se")


def test_the_page_names_the_controller_and_where_to_ask() -> None:
    archive = export(records=(record("r1", {"city": "Malmö"}),), controller=SCHOOL)
    _, page = page_of(archive)
    assert "We are Leep Yrkesutbildning AB" in page.text
    assert "mailto:dataskydd@example.se" in page.links
    page.files(archive)  # a mailto: link is no file
    controller = json.loads(archive.read("export.json"))["controller"]
    assert controller == {
        "name": "Leep Yrkesutbildning AB",
        "contact": "dataskydd@example.se",
        "supervisory_authority": "Integritetsskyddsmyndigheten (IMY), www.imy.se",
    }


def test_the_page_says_what_the_persons_rights_are_and_whom_to_complain_to() -> None:
    _, page = page_of(export(controller=SCHOOL))
    assert "rights" in page.ids and "#rights" in page.links
    rights = page.text[page.text.rindex("Your rights") :].lower()
    for right in ("see", "correct", "erase", "restrict", "object", "take your data with you"):
        assert right in rights
    assert "withdraw your consent at any time" in rights
    assert "does not undo what was lawful before" in rights
    assert "complain to the supervisory authority, integritetsskyddsmyndigheten (imy)" in rights
    assert "write to dataskydd@example.se" in rights


def test_without_a_controller_the_page_says_none_is_configured() -> None:
    archive = export()
    _, page = page_of(archive)
    assert "This vault has not been told who is responsible for your data" in page.text
    assert "We are" not in page.text
    assert not [link for link in page.links if link.startswith("mailto:")]
    # The rights stand whoever "we" are, and so does the authority.
    assert "ask the organisation that gave you this export" in page.text
    assert "Integritetsskyddsmyndigheten (IMY)" in page.text
    assert json.loads(archive.read("export.json"))["controller"]["name"] == ""


def test_a_controller_typed_into_the_config_is_escaped() -> None:
    markup, page = page_of(
        export(controller=Controller("<b>Skola</b>", 'x@y.se"><script>', "<i>IMY</i>"))
    )
    assert "<b>" not in markup and "<script" not in markup and "<i>" not in markup
    assert "<b>Skola</b>" in page.text and "<i>IMY</i>" in page.text
    assert not [link for link in page.links if link.startswith("mailto:")]


# ------------------------------------------------ fields, sources and identities in words
@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("phone1", "Phone"),
        ("last_ip", "Last IP"),
        ("set_on", "Set on"),
        ("graded_on", "Graded on"),
        ("model_consented", "Model consented"),
        ("DocumentNumber", "Document number"),
        ("VoucherSeries", "Voucher series"),
        ("ZipCode", "Zip code"),
        ("amount_sek", "Amount SEK"),
        ("profileURL", "Profile URL"),
        ("customer_id", "Customer ID"),
        ("Address1", "Address"),
        ("2024", "2024"),
        ("_", "_"),
    ],
)
def test_field_names_read_as_words_and_the_json_keeps_them(key: str, label: str) -> None:
    archive = export(
        SystemExport("salon", (ExportItem("contact", {key: "x"}),), holdings=SALON),
        records=(record("r1", {key: "y"}),),
    )
    markup, _ = page_of(archive)
    assert f"<dt>{label}</dt><dd>x</dd>" in markup
    assert f"<dt>{label}</dt><dd>y</dd>" in markup
    document = json.loads(archive.read("export.json"))
    assert document["systems"]["salon"]["items"][0]["data"] == {key: "x"}
    assert document["records"][0]["fields"] == {key: "y"}


def test_the_table_an_sql_item_came_from_is_where_it_came_from_not_a_field() -> None:
    item = ExportItem("contact", {"table": "salon_days", "day": "2026-12-01"})
    archive = export(SystemExport("salon", (item,), holdings=SALON))
    markup, page = page_of(archive)
    assert "<dt>Table</dt>" not in markup
    assert "From its table salon_days" in page.text
    assert "<dt>Day</dt><dd>2026-12-01</dd>" in markup
    items = json.loads(archive.read("export.json"))["systems"]["salon"]["items"]
    assert items[0]["data"] == {"table": "salon_days", "day": "2026-12-01"}


def test_a_vault_record_names_the_system_it_came_from_in_words() -> None:
    archive = export(
        SystemExport("lms", holdings=LMS),
        records=(record("r1", {"city": "Malmö"}), record("r2", {"page": "/"}, None, "website")),
    )
    markup, page = page_of(archive)
    assert "From Learning platform (Moodle) , which gave it to the vault" in page.text
    assert '<a href="#system-lms">Learning platform (Moodle)</a>' in markup
    # A source no installed connector answers for: its name, in words.
    assert "From Website, which gave it to the vault" in page.text
    assert "<code>lms</code>, which" not in markup and "<code>website</code>" not in markup


def test_every_vault_record_says_how_long_it_is_kept() -> None:
    _, page = page_of(export(records=(record("r1", {"city": "Malmö"}),)))
    vault_part = page.text[page.text.index("In the vault:") : page.text.rindex("Your rights")]
    assert "Kept until you ask for erasure or the purpose ends" in vault_part
    assert "No retention rule is configured for the vault's own records yet" in vault_part


def test_the_personnummer_reads_as_people_write_it_and_the_json_keeps_it_canonical() -> None:
    archive = export(
        SystemExport(
            "lms",
            (ExportItem("account", {"personnummer": "198112189876", "username": "198112189876"}),),
            holdings=LMS,
        )
    )
    markup, page = page_of(archive)
    assert "<dt>Personnummer</dt><dd>19811218-9876</dd>" in markup  # who you are, and the item
    assert markup.count("<dt>Personnummer</dt><dd>19811218-9876</dd>") == 2
    assert "<dt>Username</dt><dd>198112189876</dd>" in markup  # only a personnummer is
    assert "<dt>E-mail</dt><dd>anna@example.se</dd>" in markup  # as it is
    assert "User ID in Learning platform (Moodle) 1001" in page.text
    document = json.loads(archive.read("export.json"))
    assert document["subject"]["identities"][0]["value"] == "198112189876"
    assert document["systems"]["lms"]["items"][0]["data"]["personnummer"] == "198112189876"


def test_roles_read_as_words() -> None:
    subject = dataclasses.replace(ANNA, roles=("lms_user", "salon_customer"))
    events = export_archive(SubjectExport(subject, iter(()), 0, NOW))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    _, page = page_of(archive)
    assert "Roles LMS user, salon customer" in page.text
    assert json.loads(archive.read("export.json"))["subject"]["roles"] == list(subject.roles)
