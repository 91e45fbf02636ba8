"""Through the real server: a person's consent, recorded by the website's
integrator, is in their ExportSubject archive (consent.jsonld, the same
records as ExportConsentRecords; a section on the page and in export.json,
in words), and ExportConsentRecords answers the standard records on their own."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from tests.readable_page import read_page
from tests.serving import UNLIMITED, channel_to, served
from vault.core.actor import LOCAL, Role
from vault.core.clock import FixedClock
from vault.core.consent import dpv
from vault.core.consent.model import PolicyDraft
from vault.core.identities import IdentityKind
from vault.core.model import Controller
from vault.core.vault import IdentityInput, Vault
from vault.runtime import build_services
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

# The website's integrator records the consent its newsletter form collects.
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"website": frozenset({"marketing_email"})}),
)
SCHOOL = Controller("Leep Yrkesutbildning AB, Malmö (demo)", "dataskydd@example.se")
SAID = (
    "Marketing and newsletters by e-mail: given on 24 November 2026 via web form under "
    "policy 2026-01; withdrawn on 2 December 2026 via e-mail."
)


@dataclass
class Served:
    subject_id: str
    officer: grpc.Channel
    website: grpc.Channel


@pytest.fixture
def served_person(vault: Vault, clock: FixedClock, engine: str | None) -> Iterator[Served]:
    vault.publish_policy(LOCAL, PolicyDraft("2026-01", dt.date(2026, 1, 1), text="policy"))
    anna = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], ["student"]
    ).subject_id
    services = build_services(vault, controller=SCHOOL, stores_embedded=engine is None)
    with (
        served(services, SETTINGS) as running,
        channel_to(running) as officer,
        channel_to(running, Role.INTEGRATOR, "website") as website,
    ):
        yield Served(anna, officer, website)


def record(channel: grpc.Channel, subject_id: str, status: int, via: int, evidence: str) -> None:
    pb_grpc.ConsentServiceStub(channel).RecordConsent(
        pb.RecordConsentRequest(
            subject=f"subjects/{subject_id}",
            purposes=["marketing_email"],
            status=status,  # type: ignore[arg-type]
            channel=via,  # type: ignore[arg-type]
            evidence=evidence,
        )
    )


def given_then_withdrawn(person: Served, clock: FixedClock) -> None:
    record(
        person.website,
        person.subject_id,
        pb.CONSENT_STATUS_GIVEN,
        pb.CONSENT_CHANNEL_WEB_FORM,
        "form-17",
    )
    clock.advance(days=8)
    record(
        person.website,
        person.subject_id,
        pb.CONSENT_STATUS_WITHDRAWN,
        pb.CONSENT_CHANNEL_EMAIL,
        "mail 2026-12-02",
    )


def exported(person: Served) -> zipfile.ZipFile:
    messages = pb_grpc.SubjectServiceStub(person.officer).ExportSubject(
        pb.ExportSubjectRequest(name=f"subjects/{person.subject_id}"), timeout=30
    )
    return zipfile.ZipFile(io.BytesIO(b"".join(m.archive_chunk for m in messages)))


def test_the_subjects_export_carries_their_consent_records_and_says_them_in_words(
    served_person: Served, clock: FixedClock, vault: Vault
) -> None:
    given_then_withdrawn(served_person, clock)
    archive = exported(served_person)
    assert "consent.jsonld" in archive.namelist()
    data = archive.read("consent.jsonld")
    document = json.loads(data)
    records = dpv.records_of(document)
    assert [r["dpv:hasConsentStatus"]["@type"] for r in records] == [
        "dpv:ConsentGiven",
        "dpv:ConsentWithdrawn",
    ]
    assert {r["dct:conformsTo"]["@id"] for r in records} == {dpv.PROFILE}
    assert [r["dpv:hasConsentStatus"]["dct:source"] for r in records] == [
        "form-17",
        "mail 2026-12-02",
    ]
    # The person by their audit pseudonym; the vault's id for them is nowhere.
    pseudonym = vault.audit.pseudonym_of(served_person.subject_id)
    [subject] = [n for n in document["@graph"] if n["@id"] == dpv.SUBJECT]
    assert subject["dct:identifier"] == pseudonym
    assert served_person.subject_id.encode() not in data
    [controller] = [n for n in document["@graph"] if n["@id"] == dpv.CONTROLLER]
    assert controller["dpv:hasName"] == SCHOOL.name

    section = json.loads(archive.read("export.json"))["consent"]
    assert section["records"] == "consent.jsonld"
    [email] = [p for p in section["purposes"] if p["purpose"] == "marketing_email"]
    assert email["standing"] == "withdrawn"
    assert email["summary"] == SAID
    assert [e["source_system"] for e in email["events"]] == ["website", "website"]
    assert all(e["recorded_by"].startswith("test integrator") for e in email["events"])

    page = read_page(archive.read("index.html").decode())
    assert "consent" in page.ids and "#consent" in page.links
    assert SAID in page.text
    assert "We have never asked you about: The course application form" in page.text
    assert "Evidence: form-17" not in page.text and "evidence: form-17." in page.text
    assert "consent.jsonld" in page.files(archive)


def test_export_consent_records_answers_the_same_records_on_their_own(
    served_person: Served, clock: FixedClock
) -> None:
    given_then_withdrawn(served_person, clock)
    answer = pb_grpc.ConsentServiceStub(served_person.officer).ExportConsentRecords(
        pb.ExportConsentRecordsRequest(subject=f"subjects/{served_person.subject_id}")
    )
    assert answer.media_type == dpv.MEDIA_TYPE
    assert answer.record_count == 2
    alone = dpv.records_of(json.loads(answer.document))
    in_export = dpv.records_of(json.loads(exported(served_person).read("consent.jsonld")))
    assert alone == in_export
