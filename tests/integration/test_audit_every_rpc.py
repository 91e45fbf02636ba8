"""One audit event per operation, for every RPC of the service descriptors: a
new RPC without its event fails here.

- Every RPC, called over gRPC as a role that may make it with an empty
  request, leaves an event of its own operation whose result is what the
  caller was answered (`ok`, or the reason): whether the vault did the
  operation or refused the request, the trail tells it.
- Every RPC, called so that it succeeds, leaves its operation's event with
  the result `ok`, about the subject it concerned (by pseudonym only).
- A call the gate refuses (no token) is a `call refused` event.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from tests.access import METHODS, call, full_name, token_for, with_token
from tests.helpers import email, error_info, pnr, record
from tests.unit import test_audit_erasure
from vault.core.actor import Role
from vault.core.audit.events import OK, AuditEvent, Operation
from vault.core.audit.store import AuditQuery
from vault.core.vault import Vault
from vault.server.app import RunningServer
from vault.server.operations import OPERATION_OF
from vault.server.permissions import allowed
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

ROLES = [Role.PRIVACY_OFFICER, Role.INTEGRATOR, Role.AUDITOR, Role.ADMIN]


def events_since(vault: Vault, row: int) -> list[AuditEvent]:
    return [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.records.audit.query(AuditQuery(after_row=row, limit=10_000))
    ]


def last_row(vault: Vault) -> int:
    rows = vault.records.audit.query(AuditQuery(limit=1_000_000))
    return rows[-1].row_id if rows else 0


def test_every_rpc_has_an_operation() -> None:
    names = {full_name(method) for method in METHODS}
    assert names - set(OPERATION_OF) == set(), "an RPC without an audit operation"
    assert set(OPERATION_OF) - names == set(), "an operation of an RPC that is gone"


def test_every_rpc_leaves_its_event_whatever_it_answers(server: RunningServer) -> None:
    vault = server.vault
    missing = []
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        for method in METHODS:
            name = full_name(method)
            role = next(role for role in ROLES if allowed(name, role))
            secret = token_for(vault, role, system="lms" if role is Role.INTEGRATOR else "")
            before = last_row(vault)
            try:
                call(with_token(opened, secret), method)
            except grpc.RpcError as error:
                answered = error_info(error).reason
            else:
                answered = OK
            told = [
                (event.operation, event.result)
                for event in events_since(vault, before)
                if event.role == role.value
            ]
            if (OPERATION_OF[name].value, answered) not in told:
                missing.append(f"{name} answered {answered}, the trail told {told}")
    assert missing == []


def test_a_call_without_a_token_is_a_refusal_in_the_trail(server: RunningServer) -> None:
    vault = server.vault
    before = last_row(vault)
    [method] = [m for m in METHODS if m.name == "GetSubject"]
    with (
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened,
        pytest.raises(grpc.RpcError) as raised,
    ):
        call(opened, method)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    [refused] = events_since(vault, before)
    assert refused.operation == Operation.CALL_REFUSED
    assert refused.result == error_info(raised.value).reason == "TOKEN_MISSING"
    assert refused.detail == full_name(method)


# The RPCs the scenario below cannot make succeed without connectors of a
# kind the plain server has not (a manual step, a failed step, a conflict,
# a connector to check): their success events are checked in these tests.
SUCCEEDS_ELSEWHERE = {
    "ConfirmManualAction": "test_each_erasure_request_call_and_each_connector_call_is_told",
    "RetryErasureRequest": "test_each_erasure_request_call_and_each_connector_call_is_told",
    "DecideMatch": "test_a_decision_on_a_conflict_is_told",
    "CheckConnector": "test_the_connector_views_are_told_before_they_answer",
}


class Told:
    """What each call wrote to the trail: the events since the one before it."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.mark = last_row(vault)
        self.calls: dict[str, tuple[str, list[AuditEvent]]] = {}

    def done(self, method: str, pseudonym: str = "") -> None:
        """`method` succeeded, about the subject of `pseudonym` ("" for none)."""
        events = events_since(self.vault, self.mark)
        self.mark = last_row(self.vault)
        self.calls[method] = (pseudonym, events)


def succeed_at_everything(told: Told, channel: grpc.Channel, admin: grpc.Channel) -> None:
    """Make every RPC but SUCCEEDS_ELSEWHERE's succeed, each finding what it needs."""
    subjects = pb_grpc.SubjectServiceStub(channel)
    records = pb_grpc.RecordServiceStub(channel)
    erasures = pb_grpc.ErasureServiceStub(channel)
    audit = pb_grpc.AuditServiceStub(channel)
    consent = pb_grpc.ConsentServiceStub(channel)
    policy = pb_grpc.PolicyServiceStub(channel)
    connectors = pb_grpc.ConnectorServiceStub(admin)
    access = pb_grpc.AccessServiceStub(admin)

    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")], roles=["student"])
    ).subject.name
    her = told.vault.audit.pseudonym_of(anna.removeprefix("subjects/"))
    assert her
    told.done("CreateSubject", her)
    subjects.GetSubject(pb.GetSubjectRequest(name=anna))
    told.done("GetSubject", her)
    subjects.FindSubject(pb.FindSubjectRequest(identity=email("anna@example.se")))
    told.done("FindSubject", her)
    subjects.UpdateSubject(
        pb.UpdateSubjectRequest(
            name=anna, roles=["student", "client"], update_mask=FieldMask(paths=["roles"])
        )
    )
    told.done("UpdateSubject", her)
    subjects.AddIdentity(pb.AddIdentityRequest(subject=anna, identity=pnr("811218-9876")))
    told.done("AddIdentity", her)
    subjects.RectifyIdentity(
        pb.RectifyIdentityRequest(
            subject=anna, old_identity=email("anna@example.se"), new_identity=email("a@example.se")
        )
    )
    told.done("RectifyIdentity", her)
    subjects.RemoveIdentity(pb.RemoveIdentityRequest(subject=anna, identity=pnr("811218-9876")))
    told.done("RemoveIdentity", her)
    bo = pb.ImportedSubject(identities=[email("bo@example.se")])
    subjects.ImportSubjects(iter([pb.ImportSubjectsRequest(subjects=[bo])]))
    told.done("ImportSubjects")

    made = records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=record())).record
    told.done("CreateRecord", her)
    records.GetRecord(pb.GetRecordRequest(name=made.name))
    told.done("GetRecord", her)
    changed = pb.Record(name=made.name)
    changed.fields.update({"city": "Lund"})
    records.UpdateRecord(
        pb.UpdateRecordRequest(record=changed, update_mask=FieldMask(paths=["fields"]))
    )
    told.done("UpdateRecord", her)
    records.ListRecords(pb.ListRecordsRequest(parent=anna))
    told.done("ListRecords", her)
    list(records.StreamRecords(pb.StreamRecordsRequest(parent=anna)))
    told.done("StreamRecords", her)
    imported = pb.ImportedRecord(parent=anna, record=record())
    records.ImportRecords(iter([pb.ImportRecordsRequest(records=[imported])]))
    told.done("ImportRecords")
    records.CreateRecord(pb.CreateRecordRequest(parent=anna, record=record("notes")))
    told.done("CreateRecord", her)
    records.EraseCategory(pb.EraseCategoryRequest(parent=anna, category="notes"))
    told.done("EraseCategory", her)
    list(subjects.ExportSubject(pb.ExportSubjectRequest(name=anna), timeout=30))
    told.done("ExportSubject", her)

    # Her consent, and a policy version that asks her to give it again.
    consent.RecordConsent(
        pb.RecordConsentRequest(
            subject=anna,
            purposes=["marketing_email"],
            status=pb.CONSENT_STATUS_GIVEN,
            channel=pb.CONSENT_CHANNEL_WEB_FORM,
        )
    )
    told.done("RecordConsent", her)
    consent.GetConsentState(pb.GetConsentStateRequest(subject=anna))
    told.done("GetConsentState", her)
    consent.ListConsentEvents(pb.ListConsentEventsRequest(subject=anna))
    told.done("ListConsentEvents", her)
    consent.ExportConsentRecords(pb.ExportConsentRecordsRequest(subject=anna))
    told.done("ExportConsentRecords", her)
    # Her restriction and objections, lifted and overridden.
    restriction = consent.RecordRestriction(
        pb.RecordRestrictionRequest(subject=anna, reason="accuracy contested")
    ).restriction
    told.done("RecordRestriction", her)
    consent.LiftProcessingLimit(
        pb.LiftProcessingLimitRequest(name=restriction.name, reason="corrected")
    )
    told.done("LiftProcessingLimit", her)
    objection = consent.RecordObjection(
        pb.RecordObjectionRequest(subject=anna, purposes=["statistics"], reason="letter")
    ).objection
    told.done("RecordObjection", her)
    consent.RecordOverridingGrounds(
        pb.RecordOverridingGroundsRequest(name=objection.name, reason="reporting duty")
    )
    told.done("RecordOverridingGrounds", her)
    policy.ListPurposes(pb.ListPurposesRequest())
    told.done("ListPurposes")
    policy.PublishPolicyVersion(
        pb.PublishPolicyVersionRequest(
            version="2026-11",
            effective_date=told.vault.clock.now().date().isoformat(),
            text="The privacy policy, with partner offers by e-mail.",
            changed_purposes=["marketing_email"],
        )
    )
    told.done("PublishPolicyVersion")
    policy.ListPolicyVersions(pb.ListPolicyVersionsRequest())
    told.done("ListPolicyVersions")
    assert policy.ListReconsentNeeded(pb.ListReconsentNeededRequest()).people
    told.done("ListReconsentNeeded")
    assert list(policy.StreamReconsentNeeded(pb.StreamReconsentNeededRequest(), timeout=30))
    told.done("StreamReconsentNeeded")
    list(consent.StreamContactable(pb.StreamContactableRequest(purpose="marketing_email")))
    told.done("StreamContactable")

    # The auditor's calls, over a log the sequencer has signed.
    audit.ListAuditEvents(pb.ListAuditEventsRequest(subject=anna))
    told.done("ListAuditEvents")
    told.vault.sequencer.run_until_done()
    first = audit.GetTreeHead(pb.GetTreeHeadRequest()).head
    told.done("GetTreeHead")
    audit.GetInclusionProof(pb.GetInclusionProofRequest(index=0))
    told.done("GetInclusionProof")
    told.vault.sequencer.run_until_done()
    audit.GetConsistencyProof(pb.GetConsistencyProofRequest(first_size=first.size))
    told.done("GetConsistencyProof")

    erased = list(subjects.EraseSubject(pb.EraseSubjectRequest(name=anna), timeout=30))
    told.done("EraseSubject", her)
    request = erased[-1].request.name
    erasures.GetErasureRequest(pb.GetErasureRequestRequest(name=request))
    told.done("GetErasureRequest")
    erasures.ListErasureRequests(pb.ListErasureRequestsRequest())
    told.done("ListErasureRequests")
    list(erasures.WatchErasureRequest(pb.WatchErasureRequestRequest(name=request), timeout=30))
    told.done("WatchErasureRequest")

    connectors.ListConnectors(pb.ListConnectorsRequest())
    told.done("ListConnectors")
    token = access.CreateToken(
        pb.CreateTokenRequest(role=pb.ROLE_AUDITOR, display_name="the auditor")
    ).token
    told.done("CreateToken")
    access.ListTokens(pb.ListTokensRequest())
    told.done("ListTokens")
    access.RevokeToken(pb.RevokeTokenRequest(name=token.name))
    told.done("RevokeToken")


def test_every_rpc_that_succeeds_tells_its_operation_ok(server: RunningServer) -> None:
    vault = server.vault
    told = Told(vault)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        succeed_at_everything(
            told,
            with_token(opened, token_for(vault, Role.PRIVACY_OFFICER)),
            with_token(opened, token_for(vault, Role.ADMIN)),
        )
    by_name = {method.name: full_name(method) for method in METHODS}
    assert set(told.calls) | set(SUCCEEDS_ELSEWHERE) == set(by_name), (
        "an RPC whose success is not checked for its event"
    )
    for method, test in SUCCEEDS_ELSEWHERE.items():
        assert callable(getattr(test_audit_erasure, test, None)), f"{method}: {test} is gone"
    for method, (pseudonym, events) in told.calls.items():
        operation = OPERATION_OF[by_name[method]].value
        # The caller's own event: an erasure's steps are the vault's acts, told too.
        mine = [
            event
            for event in events
            if event.operation == operation and event.result == OK and event.role != "vault"
        ]
        assert len(mine) == 1, f"{method} told {[(e.operation, e.result) for e in events]}"
        if pseudonym:
            assert mine[0].subject == pseudonym, method
