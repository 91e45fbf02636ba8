"""The caller reaches the core: every RPC that calls the core passes the actor
the edge's `actor_of` gave it, the vault's own work passes THE_VAULT, and an
erasure request remembers who asked."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from tests.helpers import email, record
from tests.serving import channel_to
from vault.core.actor import LOCAL, THE_VAULT, Actor, Role
from vault.core.audit.reading import AuditLog
from vault.core.category_erasure import CategoryErasures
from vault.core.consent.export import ConsentRecords
from vault.core.consent.grounds import Grounds
from vault.core.consent.history import ConsentHistory
from vault.core.consent.policy import Policies
from vault.core.erasure import ErasureCoordinator
from vault.core.fanout import export_everywhere
from vault.core.identities import IdentityKind
from vault.core.maintenance import Maintenance
from vault.core.model import LegalBasis, RecordDraft
from vault.core.record_reads import RecordReads
from vault.core.records import Records
from vault.core.shredding import Shredding
from vault.core.subject_import import SubjectImport
from vault.core.subjects import Subjects
from vault.core.tokens import Tokens
from vault.core.vault import IdentityInput, Vault
from vault.server import actor as edge
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

# Not the local operator, so a servicer that skips `actor_of` is caught.
CALLER = Actor("ada", Role.OPERATOR, "lms")
# Services whose RPCs reach no core operation (the connector registry only).
NO_CORE = {"ConnectorService"}


# The vault's own work, run by its workers and at start-up: no caller to name.
OWN_WORK = {
    Vault: {"upgrade", "recover", "purge_erased", "maintain", "audit_signing_key"},
    # The auditor's reads take the actor; what the edge and the CLI ask of
    # the log for them (a key, a pseudonym to filter on, a check) is no read
    # of personal data.
    AuditLog: {"public_key", "subject_pseudonym", "verify"},
    # The jobs the vault delegates to take the actor as it does.
    Subjects: set(),
    SubjectImport: set(),
    Records: set(),
    # Whether a subject is a protected identity is no read of personal data.
    RecordReads: {"protected"},
    CategoryErasures: set(),
    Shredding: set(),
    Maintenance: {"recover", "purge_erased", "maintain"},
    # Reads for an export, or for a standing, whose callers commit the event.
    ConsentHistory: {"events", "standing_of"},
    Policies: {"versions", "in_effect", "material_change_since", "day_of", "standing"},
    # The checks every read makes; the read they are part of takes the actor.
    Grounds: {"of", "refusal", "read_refusal", "stopped", "refused", "refuse", "refuse_async"},
    ConsentRecords: set(),
    ErasureCoordinator: {
        "run_pending",
        "run_step",
        "seconds_until_due",
        "release_orphaned_leases",
        "recover",
        "close",
    },
}


def test_every_core_operation_takes_the_actor_first() -> None:
    for owner, own_work in OWN_WORK.items():
        for name, member in vars(owner).items():
            if name.startswith("_") or not inspect.isfunction(member) or name in own_work:
                continue
            first = list(inspect.signature(member).parameters)[1]
            assert first == "actor", f"{owner.__name__}.{name} does not take the actor first"
    first = next(iter(inspect.signature(export_everywhere).parameters))
    assert first == "actor"


def test_the_local_actor_and_the_vault_are_different_callers() -> None:
    assert LOCAL.role is Role.OPERATOR and THE_VAULT.role is Role.VAULT
    assert LOCAL != THE_VAULT
    with pytest.raises(AttributeError):
        LOCAL.who = "someone"  # type: ignore[misc]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, channel: grpc.Channel) -> list[tuple[str, Actor]]:
    """Every core operation's (name, actor), with `actor_of` answering CALLER
    (asked for once the server runs, so every servicer module is loaded)."""
    calls: list[tuple[str, Actor]] = []
    for owner, name in [
        *_operations(Vault),
        *_operations(ErasureCoordinator),
        *_operations(Tokens),
        *_operations(AuditLog),
        *_operations(ConsentHistory),
        *_operations(Policies),
        *_operations(ConsentRecords),
    ]:
        monkeypatch.setattr(owner, name, _recording(getattr(owner, name), calls))
    # Every edge module that imported `actor_of` asks the replacement.
    original = edge.actor_of
    for module in list(sys.modules.values()):
        if getattr(module, "actor_of", None) is original:
            monkeypatch.setattr(module, "actor_of", lambda context: CALLER)
    return calls


@pytest.fixture
def access(server: RunningServer) -> Iterator[pb_grpc.AccessServiceStub]:
    """Tokens are the admin's: the privacy officer's token does not pass the gate."""
    with channel_to(server, Role.ADMIN) as admin:
        yield pb_grpc.AccessServiceStub(admin)


def test_every_rpc_passes_the_callers_actor_to_the_core(
    vault: Vault,
    channel: grpc.Channel,
    access: pb_grpc.AccessServiceStub,
    seen: list[tuple[str, Actor]],
) -> None:
    anna = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], ["student"]
    )
    stored = vault.create_record(
        LOCAL,
        anna.subject_id,
        RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": 1}),
    )
    subject = f"subjects/{anna.subject_id}"
    record_name = f"{subject}/records/{stored.record_id}"
    subjects = pb_grpc.SubjectServiceStub(channel)
    records = pb_grpc.RecordServiceStub(channel)
    erasure = pb_grpc.ErasureServiceStub(channel)
    audit = pb_grpc.AuditServiceStub(channel)
    consent = pb_grpc.ConsentServiceStub(channel)
    policy = pb_grpc.PolicyServiceStub(channel)
    erased: list[str] = []

    def erase() -> None:
        for message in subjects.EraseSubject(pb.EraseSubjectRequest(name=subject)):
            erased.append(message.request.name)

    def request_name() -> str:
        return erased[-1]

    # One call per RPC, in an order that leaves each its subject; a call the
    # core refuses still reached it (the actor is seen on the way in).
    calls: dict[str, Callable[[], object]] = {
        "SubjectService.CreateSubject": lambda: subjects.CreateSubject(
            pb.CreateSubjectRequest(identities=[email("bo@example.se")])
        ),
        "SubjectService.ImportSubjects": lambda: subjects.ImportSubjects(
            iter(
                [
                    pb.ImportSubjectsRequest(
                        subjects=[
                            pb.ImportedSubject(
                                identities=[email("cy@example.se")], records=[record("grades")]
                            )
                        ]
                    )
                ]
            )
        ),
        "SubjectService.GetSubject": lambda: subjects.GetSubject(
            pb.GetSubjectRequest(name=subject)
        ),
        "SubjectService.FindSubject": lambda: subjects.FindSubject(
            pb.FindSubjectRequest(identity=email("anna@example.se"))
        ),
        "SubjectService.UpdateSubject": lambda: subjects.UpdateSubject(
            pb.UpdateSubjectRequest(
                name=subject, roles=["teacher"], update_mask={"paths": ["roles"]}
            )
        ),
        "SubjectService.AddIdentity": lambda: subjects.AddIdentity(
            pb.AddIdentityRequest(subject=subject, identity=email("a2@example.se"))
        ),
        "SubjectService.RectifyIdentity": lambda: subjects.RectifyIdentity(
            pb.RectifyIdentityRequest(
                subject=subject,
                old_identity=email("a2@example.se"),
                new_identity=email("a3@example.se"),
            )
        ),
        "SubjectService.RemoveIdentity": lambda: subjects.RemoveIdentity(
            pb.RemoveIdentityRequest(subject=subject, identity=email("a3@example.se"))
        ),
        "SubjectService.ExportSubject": lambda: list(
            subjects.ExportSubject(pb.ExportSubjectRequest(name=subject))
        ),
        "RecordService.CreateRecord": lambda: records.CreateRecord(
            pb.CreateRecordRequest(parent=subject, record=record())
        ),
        "RecordService.GetRecord": lambda: records.GetRecord(pb.GetRecordRequest(name=record_name)),
        "RecordService.UpdateRecord": lambda: records.UpdateRecord(
            pb.UpdateRecordRequest(
                record=pb.Record(name=record_name, purpose="billing"),
                update_mask={"paths": ["purpose"]},
            )
        ),
        "RecordService.ListRecords": lambda: records.ListRecords(
            pb.ListRecordsRequest(parent=subject)
        ),
        "RecordService.StreamRecords": lambda: list(
            records.StreamRecords(pb.StreamRecordsRequest(parent=subject))
        ),
        "RecordService.ImportRecords": lambda: records.ImportRecords(
            iter(
                [
                    pb.ImportRecordsRequest(
                        records=[pb.ImportedRecord(parent=subject, record=record("grades"))]
                    )
                ]
            )
        ),
        "RecordService.EraseCategory": lambda: records.EraseCategory(
            pb.EraseCategoryRequest(parent=subject, category="grades")
        ),
        "SubjectService.EraseSubject": erase,
        "ErasureService.GetErasureRequest": lambda: erasure.GetErasureRequest(
            pb.GetErasureRequestRequest(name=request_name())
        ),
        "ErasureService.ListErasureRequests": lambda: erasure.ListErasureRequests(
            pb.ListErasureRequestsRequest()
        ),
        "ErasureService.WatchErasureRequest": lambda: list(
            erasure.WatchErasureRequest(pb.WatchErasureRequestRequest(name=request_name()))
        ),
        "ErasureService.RetryErasureRequest": lambda: erasure.RetryErasureRequest(
            pb.RetryErasureRequestRequest(name=request_name())
        ),
        "ErasureService.ConfirmManualAction": lambda: erasure.ConfirmManualAction(
            pb.ConfirmManualActionRequest(
                name=f"{request_name()}/manualActions/none", confirmed_by="Ada"
            )
        ),
        "ErasureService.DecideMatch": lambda: erasure.DecideMatch(
            pb.DecideMatchRequest(
                name=f"{request_name()}/steps/none",
                decision=pb.MATCH_DECISION_SAME_PERSON,
                decided_by="Ada",
            )
        ),
        "AccessService.CreateToken": lambda: access.CreateToken(
            pb.CreateTokenRequest(role=pb.ROLE_AUDITOR)
        ),
        "AccessService.ListTokens": lambda: access.ListTokens(pb.ListTokensRequest()),
        "AuditService.ListAuditEvents": lambda: audit.ListAuditEvents(pb.ListAuditEventsRequest()),
        "AuditService.GetTreeHead": lambda: audit.GetTreeHead(pb.GetTreeHeadRequest()),
        "AuditService.GetInclusionProof": lambda: audit.GetInclusionProof(
            pb.GetInclusionProofRequest(index=0)
        ),
        "AuditService.GetConsistencyProof": lambda: audit.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first_size=1)
        ),
        "AccessService.RevokeToken": lambda: access.RevokeToken(
            pb.RevokeTokenRequest(name="tokens/abcdefghijkl")
        ),
        "ConsentService.RecordConsent": lambda: consent.RecordConsent(
            pb.RecordConsentRequest(
                subject=subject,
                purposes=["marketing_email"],
                status=pb.CONSENT_STATUS_GIVEN,
                channel=pb.CONSENT_CHANNEL_WEB_FORM,
            )
        ),
        "ConsentService.GetConsentState": lambda: consent.GetConsentState(
            pb.GetConsentStateRequest(subject=subject)
        ),
        "ConsentService.ListConsentEvents": lambda: consent.ListConsentEvents(
            pb.ListConsentEventsRequest(subject=subject)
        ),
        "ConsentService.ExportConsentRecords": lambda: consent.ExportConsentRecords(
            pb.ExportConsentRecordsRequest(subject=subject)
        ),
        "ConsentService.RecordRestriction": lambda: consent.RecordRestriction(
            pb.RecordRestrictionRequest(subject=subject, reason="accuracy contested")
        ),
        "ConsentService.RecordObjection": lambda: consent.RecordObjection(
            pb.RecordObjectionRequest(
                subject=subject, purposes=["statistics"], reason="said so by phone"
            )
        ),
        "ConsentService.LiftProcessingLimit": lambda: consent.LiftProcessingLimit(
            pb.LiftProcessingLimitRequest(
                name=f"{subject}/restrictions/nothing", reason="accuracy checked"
            )
        ),
        "ConsentService.RecordOverridingGrounds": lambda: consent.RecordOverridingGrounds(
            pb.RecordOverridingGroundsRequest(
                name=f"{subject}/objections/nothing", reason="legal claims"
            )
        ),
        "ConsentService.StreamContactable": lambda: list(
            consent.StreamContactable(pb.StreamContactableRequest(purpose="marketing_email"))
        ),
        "PolicyService.ListPurposes": lambda: policy.ListPurposes(pb.ListPurposesRequest()),
        "PolicyService.PublishPolicyVersion": lambda: policy.PublishPolicyVersion(
            pb.PublishPolicyVersionRequest(
                version="2026-01", effective_date="2026-01-01", text="the policy"
            )
        ),
        "PolicyService.ListPolicyVersions": lambda: policy.ListPolicyVersions(
            pb.ListPolicyVersionsRequest()
        ),
        "PolicyService.ListReconsentNeeded": lambda: policy.ListReconsentNeeded(
            pb.ListReconsentNeededRequest()
        ),
        "PolicyService.StreamReconsentNeeded": lambda: list(
            policy.StreamReconsentNeeded(pb.StreamReconsentNeededRequest())
        ),
    }
    rpcs = {
        f"{service.name}.{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        if service.name not in NO_CORE
        for method in service.methods
    }
    assert rpcs == set(calls), "an RPC is missing from this test (or gone from the API)"

    for rpc, call in calls.items():
        seen.clear()
        try:
            call()
        except grpc.RpcError as refused:
            # Refused by the core after it was called, never by the edge before.
            assert refused.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
        assert seen, f"{rpc} reached no core operation"
        assert seen[0][1] == CALLER, f"{rpc} called {seen[0][0]} as {seen[0][1]}"
        # Inside the core the caller passes on; only the vault's own work is THE_VAULT's.
        assert {actor for _, actor in seen} <= {CALLER, THE_VAULT}, rpc
        if rpc == "SubjectService.EraseSubject":
            assert ("erase_subject", THE_VAULT) in seen  # the erasure's own vault step
            # The durable request remembers who asked, for the audit trail.
            stored = vault.records.steps.request(request_name().removeprefix("erasureRequests/"))
            assert stored is not None and stored.requested_by == CALLER


def _operations(owner: type) -> Iterator[tuple[type, str]]:
    for name, member in vars(owner).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        parameters = list(inspect.signature(member).parameters)
        if len(parameters) > 1 and parameters[1] == "actor":
            yield owner, name


def _recording(method: Callable[..., Any], calls: list[tuple[str, Actor]]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def awaited(self: object, actor: Actor, *args: Any, **kwargs: Any) -> Any:
            calls.append((method.__name__, actor))
            return await method(self, actor, *args, **kwargs)

        return awaited

    @functools.wraps(method)
    def called(self: object, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        calls.append((method.__name__, actor))
        return method(self, actor, *args, **kwargs)

    return called
