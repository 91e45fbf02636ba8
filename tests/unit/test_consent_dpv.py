"""The standard consent records (the DPV profile of ISO/IEC TS 27560): every
record has every field the profile requires, each typed; standings map to
DPV's status terms; the document round-trips as canonical JSON and names the
person only by the reference it is given. Then the audited export on both
engines, with the test's clock."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from vault import purposes_file
from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import AuditEvent
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent import dpv
from vault.core.consent.model import (
    Channel,
    ConsentEvent,
    ConsentInput,
    ConsentStatus,
    PolicyDraft,
    PolicyVersion,
    PurposeConsent,
    Standing,
)
from vault.core.errors import RoleNotAllowed
from vault.core.identities import IdentityKind
from vault.core.model import Controller
from vault.core.vault import IdentityInput, Vault

SCHOOL = Controller("Leep Yrkesutbildning AB (demo)", "dataskydd@example.se")
SUBJECT_ID = "7d1c2b9e-5a44-4f3e-9a51-0c6f1d2e3b4a"
SUBJECT_REF = "audit-pseudonym-5c0ffee"
OFFICER = Actor("dpo (tokens/officer)", Role.PRIVACY_OFFICER)
WEBSITE = Actor(
    "web form (tokens/website)",
    Role.INTEGRATOR,
    "website",
    frozenset({"marketing_email", "marketing_sms", "course_application"}),
)
DPV = dpv.CONTEXT["dpv"]
GIVEN, REFUSED = ConsentStatus.GIVEN, ConsentStatus.REFUSED
WITHDRAWN, RENEWED = ConsentStatus.WITHDRAWN, ConsentStatus.RENEWED


def policy(version: str, on: dt.date, seq: int, *material: str) -> PolicyVersion:
    return PolicyVersion(
        version=version,
        seq=seq,
        effective_from=on,
        published_at=dt.datetime.combine(on, dt.time(), dt.UTC),
        published_by=OFFICER.who,
        text_sha256="ab" * 32,
        url=f"https://example.se/integritet/{version}",
        changed_purposes=material,
        material_purposes=material,
    )


POLICIES = [
    policy("2026-01", dt.date(2026, 1, 1), 1),
    policy("2027-01", dt.date(2027, 1, 1), 2, "course_application"),
]


class History:
    """Events as the core records them, each at the test clock's time."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.events: list[ConsentEvent] = []

    def said(
        self,
        status: ConsentStatus,
        purpose: str,
        channel: Channel = Channel.WEB_FORM,
        expires_at: dt.datetime | None = None,
        version: str = "2026-01",
    ) -> ConsentEvent:
        event = ConsentEvent(
            event_id=str(uuid.uuid4()),
            subject_id=SUBJECT_ID,
            purpose=purpose,
            status=status,
            given_at=self.clock.now(),
            recorded_at=self.clock.now() + dt.timedelta(seconds=2),
            policy_version=version,
            channel=channel,
            evidence=f"form-{len(self.events) + 1}",
            recorded_by=WEBSITE.who,
            source_system="website",
            expires_at=expires_at,
            seq=len(self.events) + 1,
        )
        self.events.append(event)
        return event


@pytest.fixture
def history(clock: FixedClock) -> History:
    """Given, withdrawn, renewed, refused, one given with an end that passes
    and one given before a material policy change; a purpose never asked."""
    told = History(clock)
    told.said(GIVEN, "marketing_email")
    told.said(GIVEN, "marketing_sms")
    told.said(GIVEN, "marketing_post", expires_at=clock.now() + dt.timedelta(days=10))
    told.said(GIVEN, "course_application")
    clock.advance(days=8)
    told.said(WITHDRAWN, "marketing_email", Channel.EMAIL)
    told.said(REFUSED, "customer_surveys", Channel.PHONE)
    clock.advance(days=30)
    told.said(RENEWED, "marketing_sms", Channel.SMS)
    clock.advance(days=60)
    return told


def standings(told: History) -> list[PurposeConsent]:
    latest = {event.purpose: event for event in told.events}
    now = {
        "marketing_email": Standing.WITHDRAWN,
        "marketing_sms": Standing.RENEWED,
        "marketing_post": Standing.EXPIRED,
        "course_application": Standing.RECONSENT_NEEDED,
        "customer_surveys": Standing.REFUSED,
    }
    states = [
        PurposeConsent(
            name,
            standing,
            latest[name],
            "2027-01" if standing is Standing.RECONSENT_NEEDED else "",
        )
        for name, standing in now.items()
    ]
    return [*states, PurposeConsent("model_bank", Standing.NOT_ASKED)]


def document_of(told: History, clock: FixedClock) -> dict[str, Any]:
    return dpv.consent_document(
        told.events,
        standings(told),
        purposes_file.school(),
        POLICIES,
        SCHOOL,
        SUBJECT_REF,
        clock.now(),
    )


def nodes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["@id"]: node for node in document["@graph"]}


def expanded(term: str) -> str:
    prefix, local = term.split(":", 1)
    return dpv.CONTEXT[prefix] + local


def a_time(value: Any) -> dt.datetime:
    """A typed xsd:dateTime literal, in UTC, as ISO 8601 with its zone."""
    assert set(value) == {"@type", "@value"} and value["@type"] == "xsd:dateTime"
    moment = dt.datetime.fromisoformat(value["@value"])
    assert moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(0)
    assert value["@value"].endswith("Z")
    return moment


def a_term(value: Any, prefix: str = "dpv") -> str:
    """A term written as an IRI node, in a namespace of the context."""
    assert isinstance(value, dict) and set(value) == {"@id"}, value
    assert value["@id"].startswith(f"{prefix}:") and prefix in dpv.CONTEXT
    return str(value["@id"])


def refs(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def test_every_record_has_every_field_the_profile_requires_each_typed(
    history: History, clock: FixedClock
) -> None:
    document = document_of(history, clock)
    graph = nodes(document)
    records = dpv.records_of(document)
    assert [r["dct:identifier"] for r in records] == [e.event_id for e in history.events]
    for record, event in zip(records, history.events, strict=True):
        # Metadata: the profile, the record's own id, the person.
        assert record["@type"] == "dpv:ConsentRecord"
        assert record["dct:conformsTo"] == {"@id": dpv.PROFILE}
        assert str(uuid.UUID(record["dct:identifier"], version=4)) == record["dct:identifier"]
        subject = graph[record["dpv:hasDataSubject"]["@id"]]
        assert subject["@type"] == "dpv:DataSubject"
        assert subject["dct:identifier"] == SUBJECT_REF
        # The notice: the policy version consent was given under, and its language.
        notice = record["dpv:hasNotice"]
        assert notice["@type"] == "dpv:ConsentNotice"
        assert notice["dct:identifier"] == event.policy_version == "2026-01"
        assert notice["dct:language"] == "sv"
        assert notice["dct:date"] == {"@type": "xsd:date", "@value": "2026-01-01"}
        assert notice["schema:url"] == {"@id": "https://example.se/integritet/2026-01"}
        # The legal basis, the jurisdiction and the law.
        assert {"@id": "eu-gdpr:A6-1-a"} in record["dpv:hasLegalBasis"]
        assert a_term(record["dpv:hasJurisdiction"], "loc") == "loc:EU"
        assert a_term(record["dpv:hasApplicableLaw"], "eu-gdpr") == "eu-gdpr:GDPR"
        # The controller, with its name, identifier and contact.
        controller = graph[record["dpv:hasDataController"]["@id"]]
        assert "dpv:DataController" in controller["@type"]
        assert controller["dpv:hasName"] == SCHOOL.name
        assert isinstance(controller["dpv:hasIdentifier"], str)
        assert controller["schema:contactPoint"]["schema:email"] == SCHOOL.contact
        # Processing: purpose, personal data with their type, storage,
        # controller, recipients, withdrawal, jurisdiction, rights.
        process = record["dpv:hasProcess"]
        assert process["@type"] == "dpv:Process"
        assert process["dpv:hasPurpose"]["dct:identifier"] == event.purpose
        described = {d["@language"] for d in process["dpv:hasPurpose"]["dct:description"]}
        assert described == {"sv", "en"}
        assert process["dpv:hasPersonalData"]
        for data in process["dpv:hasPersonalData"]:
            assert data["@type"] == "dpv:PersonalData"
            assert a_term(data["skos:broader"], data["skos:broader"]["@id"].split(":")[0])
        assert process["dpv:hasStorageCondition"]
        assert process["dpv:hasDataController"] == {"@id": dpv.CONTROLLER}
        assert process["dpv:hasRecipient"]
        withdrawal = graph[process["dpv:hasConsentControl"]["@id"]]
        assert withdrawal["@type"] == "dpv:WithdrawConsent"
        assert withdrawal["dpv:isExercisedAt"] == {"@id": "mailto:dataskydd@example.se"}
        assert a_term(process["dpv:hasJurisdiction"], "loc") == "loc:EU"
        rights = {t for ref in process["dpv:hasRight"] for t in graph[ref["@id"]]["@type"]}
        assert {"dpv:DataSubjectRight", "eu-gdpr:A7-3", "eu-gdpr:A15", "eu-gdpr:A77"} <= rights
        # The event: its status term, when, who, how, for how long, the evidence.
        status = record["dpv:hasConsentStatus"]
        assert expanded(status["@type"]) == DPV + dpv.EVENT_STATUS[event.status][4:]
        assert a_time(status["dpv:isIndicatedAtTime"]) == event.given_at
        assert status["dpv:isIndicatedBy"] == {"@id": dpv.SUBJECT}
        assert status["dpv:hasIndicationMethod"] == event.channel.value
        assert status["dpv:hasDuration"]["@type"] in (
            "dpv:UntilEventDuration",
            "dpv:UntilTimeDuration",
        )
        assert status["dct:source"] == event.evidence
        # Beyond the profile: when the vault recorded it, and who did.
        assert a_time(record["dct:created"]) == event.recorded_at
        assert record["dct:creator"]["dpv:hasName"] == WEBSITE.who


def test_statuses_are_dpvs_terms(history: History, clock: FixedClock) -> None:
    document = document_of(history, clock)
    said = [r["dpv:hasConsentStatus"]["@type"] for r in dpv.records_of(document)]
    assert [expanded(term) for term in said] == [
        DPV + "ConsentGiven",
        DPV + "ConsentGiven",
        DPV + "ConsentGiven",
        DPV + "ConsentGiven",
        DPV + "ConsentWithdrawn",
        DPV + "ConsentRefused",
        DPV + "RenewedConsentGiven",
    ]
    stands = {
        c["dpv:hasPurpose"]["dct:identifier"]: expanded(a_term(c["dpv:hasConsentStatus"]))
        for c in dpv.consents_of(document)
    }
    assert stands == {
        "marketing_email": DPV + "ConsentWithdrawn",
        "marketing_sms": DPV + "RenewedConsentGiven",
        "marketing_post": DPV + "ConsentExpired",
        "course_application": DPV + "ConsentInvalidated",
        "customer_surveys": DPV + "ConsentRefused",
        "model_bank": DPV + "ConsentUnknown",
    }


def test_re_consent_needed_is_invalidated_with_the_reason_and_the_version(
    history: History, clock: FixedClock
) -> None:
    consents = {
        c["dpv:hasPurpose"]["dct:identifier"]: c
        for c in dpv.consents_of(document_of(history, clock))
    }
    application = consents["course_application"]
    assert "material change" in application["rdfs:comment"]
    assert "consent to be given again" in application["rdfs:comment"]
    assert application["dpv:hasNotice"]["dct:identifier"] == "2027-01"
    latest = history.events[3]
    assert application["dct:references"] == {"@id": f"urn:uuid:{latest.event_id}"}
    # An end that passed says when it was.
    post = consents["marketing_post"]
    assert history.events[2].expires_at is not None
    assert history.events[2].expires_at.isoformat().replace("+00:00", "Z") in post["rdfs:comment"]
    assert a_time(post["dct:date"]) == clock.now()
    # A consent given with an end carries it as its duration.
    given_until = dpv.records_of(document_of(history, clock))[2]
    assert given_until["dct:identifier"] == history.events[2].event_id
    duration = given_until["dpv:hasConsentStatus"]["dpv:hasDuration"]
    assert duration["@type"] == "dpv:UntilTimeDuration"
    assert a_time(duration["rdf:value"]) == history.events[2].expires_at


def test_every_reference_names_a_node_of_the_document(history: History, clock: FixedClock) -> None:
    document = document_of(history, clock)
    defined = set(nodes(document))

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"@id"} and value["@id"].startswith("_:"):
                assert value["@id"] in defined, value
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(document["@graph"])
    listed = {ref["@id"] for ref in graph_node(document, dpv.DOCUMENT)["dct:hasPart"]}
    assert listed == {r["@id"] for r in dpv.records_of(document)}


def graph_node(document: dict[str, Any], node_id: str) -> dict[str, Any]:
    return nodes(document)[node_id]


def test_the_document_round_trips_as_canonical_json_and_names_no_subject_id(
    history: History, clock: FixedClock
) -> None:
    document = document_of(history, clock)
    data = dpv.document_bytes(document)
    assert json.loads(data.decode("utf-8")) == document
    assert dpv.document_bytes(json.loads(data)) == data  # the same bytes every time
    assert "Marknadsföring".encode() in data  # UTF-8, not escaped
    assert data.startswith(b'{"@context":{')
    assert SUBJECT_ID.encode() not in data
    assert SUBJECT_REF.encode() in data


def test_a_document_needs_a_reference_for_the_person(history: History, clock: FixedClock) -> None:
    with pytest.raises(ValueError):
        dpv.consent_document(
            history.events, [], purposes_file.school(), POLICIES, SCHOOL, "", clock.now()
        )


# --------------------------------------------------------- through the vault
def test_the_export_holds_one_record_per_event_and_is_audited_first(
    vault: Vault, clock: FixedClock
) -> None:
    vault.publish_policy(OFFICER, PolicyDraft("2026-01", dt.date(2026, 1, 1), text="policy"))
    anna = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], []
    ).subject_id
    said = ConsentInput(("marketing_email",), GIVEN, Channel.WEB_FORM, "form-17")
    vault.record_consent(WEBSITE, anna, said)
    clock.advance(days=3)
    vault.record_consent(
        WEBSITE, anna, ConsentInput(("marketing_email",), WITHDRAWN, Channel.EMAIL)
    )
    data, count = vault.export_consent_records(OFFICER, anna, SCHOOL)
    assert count == 2
    document = json.loads(data)
    assert len(dpv.records_of(document)) == 2
    assert anna.encode() not in data
    pseudonym = vault.audit.pseudonym_of(anna)
    assert nodes(document)[dpv.SUBJECT]["dct:identifier"] == pseudonym
    [told] = [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.records.audit.query(
            AuditQuery(subject=pseudonym, operation="export consent records")
        )
    ]
    assert told.detail == "2 consent records"
    assert told.actor == OFFICER.who


def test_only_a_caller_who_may_see_anyone_exports_consent_records(vault: Vault) -> None:
    anna = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], []
    ).subject_id
    with pytest.raises(RoleNotAllowed):
        vault.export_consent_records(WEBSITE, anna, SCHOOL)
