"""A protected identity over gRPC, through the gate: masked to the integrator in
every answer that names the person (its own system's records still read in
full), shown to the privacy officer, every access noted as sensitive."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.serving import UNLIMITED, channel_to, served
from vault import __version__
from vault.connectors import Connector, HeldCategory, Holdings, ManualAction, Match
from vault.connectors.base import NeedsAttention
from vault.connectors.registry import ConnectorRegistry
from vault.core.access import WITHHELD, LoggedAccessNotes
from vault.core.actor import Role
from vault.core.erasure import ErasureSettings
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Content, LegalBasis, Record
from vault.core.vault import Vault
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault.server import convert
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"lms": frozenset({"course_delivery"})}),
)
EVA = [
    pb.Identity(kind=pb.IDENTITY_KIND_PERSONNUMMER, value="811218-9876"),
    pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, value="lms-4711", system="lms"),
]
LMS_ACCOUNT = pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, value="lms-4711-b", system="lms")


@pytest.fixture
def running(vault: Vault, engine: str | None) -> Iterator[RunningServer]:
    with served(build_services(vault, stores_embedded=engine is None), SETTINGS) as server:
        yield server


def record(system: str) -> pb.Record:
    message = pb.Record(
        category="contact",
        purpose="course_delivery",
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system=system,
        content=pb.Content(data=b"photo", media_type="image/png", filename="eva.png"),
    )
    message.fields.update({"city": "Kiruna"})
    return message


def test_a_protected_identity_is_masked_to_the_integrator_and_shown_to_the_officer(
    running: RunningServer, vault: Vault
) -> None:
    with (
        channel_to(running, Role.PRIVACY_OFFICER) as officer,
        channel_to(running, Role.INTEGRATOR, "lms") as lms,
    ):
        officers = pb_grpc.SubjectServiceStub(officer)
        eva = officers.CreateSubject(
            pb.CreateSubjectRequest(identities=EVA, roles=["student"], protected_identity=True)
        ).subject
        assert not eva.masked and eva.identities[0].value == "198112189876"
        own = (
            pb_grpc.RecordServiceStub(lms)
            .CreateRecord(pb.CreateRecordRequest(parent=eva.name, record=record("lms")))
            .record
        )
        other = (
            pb_grpc.RecordServiceStub(officer)
            .CreateRecord(pb.CreateRecordRequest(parent=eva.name, record=record("crm")))
            .record
        )

        subjects, records = pb_grpc.SubjectServiceStub(lms), pb_grpc.RecordServiceStub(lms)
        masked = [
            (pb.IDENTITY_KIND_PERSONNUMMER, "", ""),
            (pb.IDENTITY_KIND_EXTERNAL_ID, "", "lms"),
        ]
        answers = [
            (subjects.GetSubject(pb.GetSubjectRequest(name=eva.name)).subject, masked),
            (subjects.FindSubject(pb.FindSubjectRequest(identity=EVA[0])).subject, masked),
            # The integrator adds its own system's id, and sees it masked too.
            (
                subjects.AddIdentity(
                    pb.AddIdentityRequest(subject=eva.name, identity=LMS_ACCOUNT)
                ).subject,
                [*masked, (pb.IDENTITY_KIND_EXTERNAL_ID, "", "lms")],
            ),
        ]
        for answer, identities in answers:
            assert answer.masked and answer.name == eva.name and list(answer.roles) == []
            assert [(i.kind, i.value, i.system) for i in answer.identities] == identities
        created = subjects.CreateSubject(
            pb.CreateSubjectRequest(
                identities=[pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value="bo@example.se")],
                protected_identity=True,
            )
        ).subject
        assert created.masked and created.identities[0].value == ""

        # Its own system's record in full, in every read; the other system's does not exist.
        got = records.GetRecord(pb.GetRecordRequest(name=own.name)).record
        listed = records.ListRecords(pb.ListRecordsRequest(parent=eva.name)).records
        streamed = [
            m.record for m in records.StreamRecords(pb.StreamRecordsRequest(parent=eva.name))
        ]
        for shown in (got, *listed, *streamed):
            assert shown.name == own.name and not shown.masked
            assert dict(shown.fields) == {"city": "Kiruna"} and shown.content.data == b"photo"
        assert len(listed) == len(streamed) == 1
        with pytest.raises(grpc.RpcError) as hidden:
            records.GetRecord(pb.GetRecordRequest(name=other.name))
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

        shown_to_officer = officers.GetSubject(pb.GetSubjectRequest(name=eva.name)).subject
        assert not shown_to_officer.masked and list(shown_to_officer.roles) == ["student"]
        assert [i.value for i in shown_to_officer.identities] == [
            "198112189876",
            "lms-4711",
            "lms-4711-b",
        ]

    assert isinstance(vault.access_notes, LoggedAccessNotes)
    subject_id = eva.name.removeprefix("subjects/")
    noted = [(n.role, n.action) for n in vault.access_notes.recent if n.subject_id == subject_id]
    assert noted == [
        (Role.PRIVACY_OFFICER, "create_subject"),
        (Role.INTEGRATOR, "create_record"),
        (Role.PRIVACY_OFFICER, "create_record"),
        (Role.INTEGRATOR, "get_subject"),
        (Role.INTEGRATOR, "find_subject"),
        (Role.INTEGRATOR, "add_identity"),
        (Role.INTEGRATOR, "get_record"),
        (Role.INTEGRATOR, "list_records"),
        (Role.INTEGRATOR, "stream_records"),
        (Role.PRIVACY_OFFICER, "get_subject"),
    ]
    # The integrator's lookup of the other system's record found nothing and noted nothing.


def test_a_masked_record_carries_nothing_of_the_data_on_the_wire() -> None:
    at = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    masked = Record(
        "r1",
        "s1",
        "contact",
        "course_delivery",
        LegalBasis.CONTRACT,
        "crm",
        {},
        Content(b"", "image/png"),
        at,
        at,
        masked=True,
    )
    message = convert.record_message(masked)
    assert message.masked and not message.fields
    assert message.content == pb.Content(media_type="image/png")
    full = convert.record_message(dataclasses.replace(masked, masked=False, fields={"a": "b"}))
    assert not full.masked and dict(full.fields) == {"a": "b"}


# ------------------------------------------------------ erasure requests
class Forum(Connector):
    """A system whose record of the person carries another e-mail than the
    vault's (a note on the step), that asks for its post to be removed by
    hand, and whose answers quote what it holds of her."""

    name = "forum"

    def holdings(self) -> Holdings:
        return Holdings(
            self.name,
            f"a {self.name}",
            "SE",
            (HeldCategory("posts", "posts", "p", LegalBasis.CONSENT, "while"),),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def match(self, identities: list[Identity]) -> list[Match]:
        same = tuple(i for i in identities if i.kind is not IdentityKind.EMAIL)
        other_email = Identity(IdentityKind.EMAIL, "eva.ek@example.se")
        return [Match("post:1", tuple(identities), (*same, other_email))]

    def export(self, identities):  # type: ignore[no-untyped-def]
        return iter(())

    def erase(self, identities, today):  # type: ignore[no-untyped-def]
        return [ManualAction("posts", "Eva Ek's post in Kiruna", "remove Eva Ek's post by hand")]


class Mailer(Forum):
    """A system that refuses, quoting the person in its error."""

    name = "mailer"

    def match(self, identities: list[Identity]) -> list[Match]:
        raise NeedsAttention("the mailer refused: Eva Ek of Kiruna is on a legal list")


class Systems:
    @hookimpl
    def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
        return [Forum, Mailer]


@pytest.fixture
def with_systems(vault: Vault, engine: str | None, tmp_path: Path) -> Iterator[RunningServer]:
    registry = ConnectorRegistry.load(
        {"forum": {}, "mailer": {}},
        make_plugin_manager([Systems()]),
        VaultHost(__version__),
        tmp_path,
        {},
    )
    services = build_services(
        vault, registry, ErasureSettings(call_timeout_seconds=5), stores_embedded=engine is None
    )
    with served(services, SETTINGS) as server:
        yield server
    registry.close()


def free_text(request: pb.ErasureRequest) -> list[str]:
    """Every text the connectors' systems wrote into the request."""
    texts = []
    for step in request.steps:
        if step.system != "vault":
            texts.extend([step.last_error, *step.notes])
            for item in step.items:
                texts.extend([item.description, item.instructions])
    return sorted(t for t in texts if t)


def vault_step(request: pb.ErasureRequest) -> pb.ErasureStep:
    (step,) = [s for s in request.steps if s.system == "vault"]
    return step


def test_an_auditor_reads_a_protected_identitys_erasure_request_without_its_free_text(
    with_systems: RunningServer,
) -> None:
    with (
        channel_to(with_systems, Role.PRIVACY_OFFICER) as officer,
        channel_to(with_systems, Role.AUDITOR) as auditor,
    ):
        eva = (
            pb_grpc.SubjectServiceStub(officer)
            .CreateSubject(
                pb.CreateSubjectRequest(
                    identities=[
                        EVA[0],
                        pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value="eva@example.se"),
                    ],
                    protected_identity=True,
                )
            )
            .subject
        )
        erased = list(
            pb_grpc.SubjectServiceStub(officer).EraseSubject(pb.EraseSubjectRequest(name=eva.name))
        )
        name = erased[-1].request.name
        erasures = pb_grpc.ErasureServiceStub(officer)
        shown = erasures.GetErasureRequest(pb.GetErasureRequestRequest(name=name)).request
        watched = list(erasures.WatchErasureRequest(pb.WatchErasureRequestRequest(name=name)))[
            -1
        ].request
        assert free_text(watched) == free_text(shown)
        # The officer reads what the systems wrote: their quotes, the note, the instructions.
        assert any("Eva Ek" in text for text in free_text(shown))
        assert len(free_text(shown)) == 4, free_text(shown)

        audits = pb_grpc.ErasureServiceStub(auditor)
        for read in (
            audits.GetErasureRequest(pb.GetErasureRequestRequest(name=name)).request,
            audits.ListErasureRequests(pb.ListErasureRequestsRequest()).requests[0],
            list(audits.WatchErasureRequest(pb.WatchErasureRequestRequest(name=name)))[-1].request,
        ):
            assert free_text(read) == [WITHHELD] * 4
            # What was done, system by system, still reads, the vault's own words in full.
            assert [(s.system, s.state) for s in read.steps] == [
                (s.system, s.state) for s in shown.steps
            ]
            assert vault_step(read) == vault_step(shown)
