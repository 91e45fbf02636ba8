"""A person's consent as standard consent records: the W3C Data Privacy
Vocabulary's profile of ISO/IEC TS 27560:2023, as the DPVCG guide "Consent
Records and Receipts as per ISO/IEC TS 27560:2023 using DPV"
(https://w3id.org/dpv/guides/consent-27560) has it. The ISO text is not
public; the guide and its profile are, so the guide is what is followed.

Pure functions: the caller reads the history, the standings, the catalogue
and the policy versions and hands them in (vault.core.consent.export does);
nothing here reads a store or a clock.

The document is JSON-LD: a @context with the DPV namespaces, and a @graph of
one `dpv:ConsentRecord` per event of the history, one `dpv:Consent` per
purpose for how it stands now, and the parties both point to. Every record
carries each field the profile `dpv-27560:record` (PROFILE) says MUST be
present:

- metadata: `dct:conformsTo` (PROFILE), `dct:identifier` (the event's id,
  the UUID-4 the profile suggests), `dpv:hasDataSubject`;
- notice: `dpv:hasNotice`, the policy version the consent was given under as
  a `dpv:ConsentNotice` (its version, the date it took effect, its language
  in `dct:language`, where it is published, its text's SHA-256);
- processing, in `dpv:hasProcess`: the purpose with its descriptions by
  language, the personal data by the purpose's categories (each placed in
  DPV's personal-data taxonomy where the vault's category has a plain match),
  the storage condition (kept while the consent stands, as the school's
  rules say), the controller, the recipients, how to withdraw
  (`dpv:hasConsentControl`), the jurisdiction (`loc:EU`, the law
  `eu-gdpr:GDPR`) and the person's rights under it;
- the legal basis `eu-gdpr:A6-1-a` (with `eu-gdpr:A9-2-a`, explicit consent,
  where the purpose processes special categories on that condition);
- the parties: the controller's name, identifier and contact, the
  supervisory authority, the person;
- the event, in `dpv:hasConsentStatus`: a node typed with DPV's status term
  (ConsentGiven, ConsentRefused, ConsentWithdrawn, RenewedConsentGiven), with
  when the person said it (`dpv:isIndicatedAtTime`), who said it (the person,
  `dpv:isIndicatedBy`), how (`dpv:hasIndicationMethod`, the channel), for how
  long (`dpv:hasDuration`: until the end given, or until withdrawn) and the
  evidence (`dct:source`).

Beyond the profile, what a supervisory authority would ask next: when the
vault recorded it (`dct:created`), who recorded it (`dct:creator`) and the
system it came from (`dpv:isImplementedUsingTechnology`).

Why these choices:

- The profile is `https://w3id.org/dpv/schema/dpv-27560#record`, the
  namespace the published guide and its schema use (an earlier draft named
  it `iso-27560#record`). Not `#record-eu-gdpr`: that one also asks where the
  data is stored and processed, which the vault is not told; claiming it
  would claim what the records do not hold. The GDPR's terms are used all
  the same (the legal basis, the law, the rights).
- The person is named by an opaque reference the caller gives, never the
  vault's subject id: the guide uses an identifier known only to the
  controller and asks records to keep identifying data out. The vault gives
  its audit pseudonym, so a record lines up with the audit events that
  outlive an erasure.
- Terms (statuses, legal bases, the jurisdiction) are written as `{"@id":
  ...}` and times as `xsd:dateTime` literals in UTC, so a JSON-LD processor
  reads the same document a person does.
- How a purpose stands now is not an event, so it is not a record: a
  `dpv:Consent` node with the status term, pointing to the record it rests
  on. "Re-consent needed" is `dpv:ConsentInvalidated` with a note that a
  material policy change requires consent again; an end that has passed is
  `dpv:ConsentExpired`; a purpose never asked about is `dpv:ConsentUnknown`.
- The profile also asks for the controller's postal address, which the
  vault's configuration does not hold: it is left out rather than made up.
  The notice's language is the caller's (the school's policy is Swedish).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vault.core.consent.model import (
    STANDING,
    ConsentEvent,
    ConsentStatus,
    PolicyVersion,
    PurposeConsent,
    Standing,
)
from vault.core.consent.purposes import Purpose, Purposes
from vault.core.model import Controller

# The profile every record conforms to (dct:conformsTo), and what the
# document is when it travels on its own.
PROFILE = "https://w3id.org/dpv/schema/dpv-27560#record"
MEDIA_TYPE = "application/ld+json"

# The school's privacy policy, the shipped default, is written in Swedish.
NOTICE_LANGUAGE = "sv"

CONTEXT: dict[str, str] = {
    "dpv": "https://w3id.org/dpv#",
    "pd": "https://w3id.org/dpv/pd#",
    "loc": "https://w3id.org/dpv/loc#",
    "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
    "dct": "http://purl.org/dc/terms/",
    "dcat": "http://www.w3.org/ns/dcat#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "https://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

# What each event says, as DPV's status terms.
EVENT_STATUS: dict[ConsentStatus, str] = {
    ConsentStatus.GIVEN: "dpv:ConsentGiven",
    ConsentStatus.REFUSED: "dpv:ConsentRefused",
    ConsentStatus.WITHDRAWN: "dpv:ConsentWithdrawn",
    ConsentStatus.RENEWED: "dpv:RenewedConsentGiven",
}

# How a purpose stands now, as DPV's status terms.
STANDING_STATUS: dict[Standing, str] = {
    Standing.NOT_ASKED: "dpv:ConsentUnknown",
    Standing.GIVEN: "dpv:ConsentGiven",
    Standing.RENEWED: "dpv:RenewedConsentGiven",
    Standing.REFUSED: "dpv:ConsentRefused",
    Standing.WITHDRAWN: "dpv:ConsentWithdrawn",
    Standing.EXPIRED: "dpv:ConsentExpired",
    Standing.RECONSENT_NEEDED: "dpv:ConsentInvalidated",
}

CONSENT_BASIS = "eu-gdpr:A6-1-a"
EXPLICIT_CONSENT_BASIS = "eu-gdpr:A9-2-a"
JURISDICTION = "loc:EU"
LAW = "eu-gdpr:GDPR"

# The vault's categories (by their first part) that have a plain match in
# DPV's personal-data taxonomy; any other is said to be personal data only.
PERSONAL_DATA: dict[str, str] = {
    "contact": "pd:Contact",
    "identity_number": "pd:OfficialID",
    "survey": "pd:Opinion",
    "group_membership": "pd:GroupMembership",
    "media": "pd:Picture",
    "student": "pd:Education",
    "credit_check": "pd:CreditWorthiness",
}

# The person's rights under the GDPR that a consent record names.
RIGHTS: tuple[tuple[str, str], ...] = (
    ("eu-gdpr:A7-3", "Right to withdraw consent"),
    ("eu-gdpr:A15", "Right of access"),
    ("eu-gdpr:A16", "Right to rectification"),
    ("eu-gdpr:A17", "Right to erasure"),
    ("eu-gdpr:A18", "Right to restriction of processing"),
    ("eu-gdpr:A20", "Right to data portability"),
    ("eu-gdpr:A21", "Right to object"),
    ("eu-gdpr:A77", "Right to lodge a complaint with a supervisory authority"),
)

# The parties, once in the graph, pointed to by every record.
CONTROLLER = "_:controller"
AUTHORITY = "_:supervisory-authority"
SUBJECT = "_:data-subject"
DOCUMENT = "_:consent-records"
WITHDRAWAL = "_:withdraw-consent"

RECONSENT_NOTE = (
    "A material change to this purpose in a later policy version requires consent "
    "to be given again; until it is, this consent no longer covers the processing."
)

_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")


def consent_document(
    events: Sequence[ConsentEvent],
    standings: Sequence[PurposeConsent],
    purposes: Purposes,
    policies: Sequence[PolicyVersion],
    controller: Controller,
    subject_ref: str,
    as_of: dt.datetime,
    notice_language: str = NOTICE_LANGUAGE,
) -> dict[str, Any]:
    """The person's consent records as one JSON-LD document: a record per
    event (in the order given, the history's), how each purpose stands at
    `as_of`, the controller and the authority. `subject_ref` is the opaque
    reference the person is named by."""
    if not subject_ref:
        raise ValueError("consent records name the person by a reference; none was given")
    versions = {policy.version: policy for policy in policies}
    records = [
        _record(event, purposes.get(event.purpose), versions, notice_language) for event in events
    ]
    consents = [
        _standing(state, purposes.get(state.purpose), versions, notice_language, as_of)
        for state in standings
    ]
    graph: list[dict[str, Any]] = [
        {
            "@id": DOCUMENT,
            "@type": "dcat:Dataset",
            "dct:title": "Consent records",
            "dct:created": _time(as_of),
            "dct:publisher": {"@id": CONTROLLER},
            "dct:hasPart": [{"@id": record["@id"]} for record in records],
        },
        _controller(controller),
        _authority(controller),
        {"@id": SUBJECT, "@type": "dpv:DataSubject", "dct:identifier": subject_ref},
        _withdrawal(controller),
        *_rights(controller),
        *records,
        *consents,
    ]
    return {"@context": dict(CONTEXT), "@graph": graph}


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """The document as canonical UTF-8 JSON: keys sorted, no spaces, so one
    document always gives the same bytes (and the same hash)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def records_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's consent records, one per event."""
    return [node for node in document["@graph"] if node.get("@type") == "dpv:ConsentRecord"]


def consents_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """How each purpose stands, one node per purpose."""
    return [node for node in document["@graph"] if node.get("@type") == "dpv:Consent"]


# ------------------------------------------------------------- the records
def _record(
    event: ConsentEvent,
    purpose: Purpose | None,
    versions: Mapping[str, PolicyVersion],
    language: str,
) -> dict[str, Any]:
    return {
        "@id": f"urn:uuid:{event.event_id}",
        "@type": "dpv:ConsentRecord",
        "dct:identifier": event.event_id,
        "dct:conformsTo": {"@id": PROFILE},
        "dct:created": _time(event.recorded_at),
        "dct:creator": {"@type": "dpv:Entity", "dpv:hasName": event.recorded_by},
        "dpv:hasDataSubject": {"@id": SUBJECT},
        "dpv:hasDataController": {"@id": CONTROLLER},
        "dpv:hasAuthority": {"@id": AUTHORITY},
        "dpv:hasEntity": [{"@id": CONTROLLER}, {"@id": AUTHORITY}, {"@id": SUBJECT}],
        "dpv:hasJurisdiction": {"@id": JURISDICTION},
        "dpv:hasApplicableLaw": {"@id": LAW},
        "dpv:hasLegalBasis": _bases(purpose),
        "dpv:hasNotice": _notice(event.policy_version, versions, language),
        "dpv:hasProcess": _process(event.purpose, purpose),
        "dpv:hasConsentStatus": _event_status(event),
    }


def _event_status(event: ConsentEvent) -> dict[str, Any]:
    status: dict[str, Any] = {
        "@type": EVENT_STATUS[event.status],
        "dpv:isIndicatedAtTime": _time(event.given_at),
        "dpv:isIndicatedBy": {"@id": SUBJECT},
        "dpv:hasIndicationMethod": event.channel.value,
        "dpv:hasDuration": _duration(event),
    }
    if event.evidence:
        status["dct:source"] = event.evidence
    if event.source_system:
        status["dpv:isImplementedUsingTechnology"] = _system(event.source_system)
    return status


def _duration(event: ConsentEvent) -> dict[str, Any]:
    """How long what the person said holds: consent until its end, if one was
    given, else until withdrawn; a refusal or withdrawal until they consent."""
    if event.status not in STANDING:
        return {"@type": "dpv:UntilEventDuration", "rdf:value": "until consent is given again"}
    if event.expires_at is not None:
        return {"@type": "dpv:UntilTimeDuration", "rdf:value": _time(event.expires_at)}
    return {
        "@type": "dpv:UntilEventDuration",
        "rdf:value": "until withdrawn, or until a policy version changes the purpose materially",
    }


def _process(name: str, purpose: Purpose | None) -> dict[str, Any]:
    process: dict[str, Any] = {
        "@type": "dpv:Process",
        "dpv:hasPurpose": _purpose(name, purpose),
        "dpv:hasPersonalData": _personal_data(purpose),
        "dpv:hasLegalBasis": _bases(purpose),
        "dpv:hasDataController": {"@id": CONTROLLER},
        # The data goes to the controller's own systems, named below; the vault
        # is told of no third party a consent-based purpose sends it to.
        "dpv:hasRecipient": [{"@id": CONTROLLER}],
        "dpv:hasStorageCondition": [
            {
                "@type": "dpv:StorageDuration",
                "dpv:hasDuration": {
                    "@type": "dpv:UntilEventDuration",
                    "rdf:value": "as long as the consent stands",
                },
            }
        ],
        "dpv:hasConsentControl": {"@id": WITHDRAWAL},
        "dpv:hasJurisdiction": {"@id": JURISDICTION},
        "dpv:hasApplicableLaw": {"@id": LAW},
        "dpv:hasRight": [{"@id": _right_id(term)} for term, _ in RIGHTS],
    }
    if purpose is not None and purpose.systems:
        process["dpv:isImplementedUsingTechnology"] = [_system(s) for s in purpose.systems]
    return process


def _purpose(name: str, purpose: Purpose | None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": f"_:purpose-{name}",
        "@type": "dpv:Purpose",
        "dct:identifier": name,
    }
    if purpose is None:
        node["dct:description"] = "a purpose no longer in the vault's configuration"
    else:
        node["dct:description"] = [
            {"@language": language, "@value": text}
            for language, text in sorted(purpose.description.items())
        ]
    return node


def _personal_data(purpose: Purpose | None) -> list[dict[str, Any]]:
    if purpose is None or not purpose.categories:
        return [
            {
                "@type": "dpv:PersonalData",
                "skos:broader": {"@id": "dpv:PersonalData"},
                "dct:description": "the purpose's categories are not configured",
            }
        ]
    return [
        {
            "@type": "dpv:PersonalData",
            "dct:identifier": category,
            "skos:broader": {"@id": PERSONAL_DATA.get(category.split(".")[0], "dpv:PersonalData")},
        }
        for category in purpose.categories
    ]


def _bases(purpose: Purpose | None) -> list[dict[str, str]]:
    bases = [{"@id": CONSENT_BASIS}]
    if purpose is not None and purpose.special_category_condition == "a":
        bases.append({"@id": EXPLICIT_CONSENT_BASIS})
    return bases


def _notice(version: str, versions: Mapping[str, PolicyVersion], language: str) -> dict[str, Any]:
    policy = versions.get(version) if version else None
    if policy is None:
        return {
            "@id": f"_:notice-{version}" if version else "_:notice-none",
            "@type": "dpv:ConsentNotice",
            "dct:identifier": version,
            "dct:language": language,
            "dct:description": (
                f"policy version {version}, which the vault no longer holds"
                if version
                else "no policy version had been published when this was recorded"
            ),
        }
    notice: dict[str, Any] = {
        "@id": f"_:notice-{policy.version}",
        "@type": "dpv:ConsentNotice",
        "dct:identifier": policy.version,
        "dct:date": {"@type": "xsd:date", "@value": policy.effective_from.isoformat()},
        "dct:language": language,
        "schema:sha256": policy.text_sha256,
    }
    if policy.url:
        notice["schema:url"] = {"@id": policy.url}
    if policy.summary:
        notice["dct:description"] = policy.summary
    return notice


def _system(name: str) -> dict[str, str]:
    return {"@type": "dpv:Technology", "dct:identifier": name}


# ------------------------------------------------------------ the standings
def _standing(
    state: PurposeConsent,
    purpose: Purpose | None,
    versions: Mapping[str, PolicyVersion],
    language: str,
    as_of: dt.datetime,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": f"_:consent-{state.purpose}",
        "@type": "dpv:Consent",
        "dct:date": _time(as_of),
        "dpv:hasDataSubject": {"@id": SUBJECT},
        "dpv:hasPurpose": _purpose(state.purpose, purpose),
        "dpv:hasConsentStatus": {"@id": STANDING_STATUS[state.standing]},
    }
    latest = state.latest
    if latest is not None:
        node["dct:references"] = {"@id": f"urn:uuid:{latest.event_id}"}
    if state.standing is Standing.RECONSENT_NEEDED:
        node["rdfs:comment"] = RECONSENT_NOTE
        if state.changed_by:
            node["dpv:hasNotice"] = _notice(state.changed_by, versions, language)
    elif state.standing is Standing.EXPIRED and latest is not None and latest.expires_at:
        node["rdfs:comment"] = f"The consent was given until {_time(latest.expires_at)['@value']}."
    return node


# ---------------------------------------------------------------- parties
def _controller(controller: Controller) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": CONTROLLER,
        "@type": ["dpv:DataController", "dpv:LegalEntity"],
        "dpv:hasIdentifier": "controller",
    }
    if controller.name:
        node["dpv:hasName"] = controller.name
    else:
        node["dct:description"] = "this vault has not been told who the controller is"
    if controller.contact:
        node["schema:contactPoint"] = _contact_point(controller.contact)
    return node


def _contact_point(contact: str) -> dict[str, Any]:
    point: dict[str, Any] = {"@type": "schema:ContactPoint"}
    if _EMAIL.fullmatch(contact):
        point["schema:email"] = contact
    elif contact.startswith(("https://", "http://")):
        point["schema:url"] = {"@id": contact}
    else:
        point["schema:description"] = contact
    return point


def _exercised_at(controller: Controller) -> dict[str, Any]:
    """Where a right is used: the controller's contact, as a link where it is one."""
    contact = controller.contact
    if not contact:
        return {}
    if _EMAIL.fullmatch(contact):
        return {"dpv:isExercisedAt": {"@id": f"mailto:{contact}"}}
    if contact.startswith(("https://", "http://")):
        return {"dpv:isExercisedAt": {"@id": contact}}
    return {"dpv:isExercisedAt": contact}


def _authority(controller: Controller) -> dict[str, Any]:
    return {
        "@id": AUTHORITY,
        "@type": "dpv:DataProtectionAuthority",
        "dpv:hasIdentifier": "supervisory-authority",
        "dpv:hasName": controller.supervisory_authority,
    }


def _withdrawal(controller: Controller) -> dict[str, Any]:
    return {
        "@id": WITHDRAWAL,
        "@type": "dpv:WithdrawConsent",
        "dct:description": (
            "Consent may be withdrawn at any time, wholly or for one purpose; "
            "withdrawing does not undo what was lawful before."
        ),
        **_exercised_at(controller),
    }


def _rights(controller: Controller) -> Iterable[dict[str, Any]]:
    for term, title in RIGHTS:
        right: dict[str, Any] = {
            "@id": _right_id(term),
            "@type": ["dpv:DataSubjectRight", term],
            "dct:title": title,
        }
        if term == "eu-gdpr:A77":
            right["dpv:hasAuthority"] = {"@id": AUTHORITY}
        else:
            right.update(_exercised_at(controller))
        yield right


def _right_id(term: str) -> str:
    return "_:right-" + term.split(":", 1)[1]


def _time(moment: dt.datetime) -> dict[str, str]:
    """A time as an xsd:dateTime literal in UTC ("Z")."""
    if moment.tzinfo is None:
        raise ValueError("a consent record's times must be timezone-aware")
    text = moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return {"@type": "xsd:dateTime", "@value": text}
