"""The AuditService over real gRPC, on both engines: listings paged and
filtered, the subject filter that ends with the person, signed heads that
verify with the key they come with, proofs that check by RFC 9162, every
mistake a precise status; and the edge's own events, of calls it refused and
calls that failed, written before the caller hears why (or UNAVAILABLE /
AUDIT_UNAVAILABLE when they cannot be). The Python client's audit methods too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from tests.conftest import START
from tests.helpers import email, error_info
from tests.serving import channel_to
from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit import merkle
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.heads import SignedTreeHead, public_key_from_pem, verify_head
from vault.core.audit.log import leaf_of
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.errors import Reason
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import NotFoundError, VaultClient

OFFICER = Actor("dpo (tokens/aaaaaaaaaaaa)", Role.PRIVACY_OFFICER)
OTHER = Actor("lms sync (tokens/bbbbbbbbbbbb)", Role.INTEGRATOR, "lms")


@pytest.fixture
def audit(server: RunningServer) -> Iterator[pb_grpc.AuditServiceStub]:
    """The auditor's stub."""
    with channel_to(server, Role.AUDITOR) as channel:
        yield pb_grpc.AuditServiceStub(channel)


def told(
    vault: Vault,
    count: int,
    subject_id: str = "",
    *,
    actor: Actor = OFFICER,
    operation: str = Operation.GET_SUBJECT,
    sensitive: bool = False,
) -> None:
    for _ in range(count):
        vault.audit.commit(vault.audit.event(actor, operation, subject_id, sensitive=sensitive))


def listed(audit: pb_grpc.AuditServiceStub, page_size: int = 2, **filters: Any) -> list[Any]:
    """Every event the filters keep, page by page."""
    request = pb.ListAuditEventsRequest(page_size=page_size, **filters)
    events = []
    while True:
        page = audit.ListAuditEvents(request)
        assert len(page.events) <= page_size
        events += page.events
        if not page.next_page_token:
            return events
        request.page_token = page.next_page_token


def refused(call: Any) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, info.metadata.get("field", "")


def at(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def new_subject(vault: Vault, address: str) -> str:
    return vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, address)], []).subject_id


# ------------------------------------------------------------- listings
def test_pages_hold_every_event_once_oldest_first_and_in_the_log_order(
    server: RunningServer, audit: pb_grpc.AuditServiceStub
) -> None:
    told(server.vault, 5, actor=OTHER, operation=Operation.GET_RECORD)
    server.vault.sequencer.run_until_done()
    events = listed(audit, actor=OTHER.who)
    assert len(events) == 5
    assert [e.index for e in events] == sorted(e.index for e in events)
    assert all(e.HasField("index") for e in events)
    first = events[0]
    assert (first.actor, first.role, first.system, first.operation, first.result) == (
        OTHER.who,
        "integrator",
        "lms",
        "get record",
        "ok",
    )
    # The entry is the bytes the event's leaf covers, and says what the message says.
    assert AuditEvent.from_entry(first.entry).operation == "get record"
    assert first.time.ToDatetime(tzinfo=dt.UTC) == START

    # A token goes on only with the filters it was made for.
    page = audit.ListAuditEvents(pb.ListAuditEventsRequest(page_size=2, actor=OTHER.who))
    assert page.next_page_token
    other_filters = pb.ListAuditEventsRequest(page_token=page.next_page_token, actor=OFFICER.who)
    assert refused(lambda: audit.ListAuditEvents(other_filters)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_FIELD,
        "page_token",
    )
    forged = pb.ListAuditEventsRequest(page_token="not-a-token", actor=OTHER.who)
    assert refused(lambda: audit.ListAuditEvents(forged))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_each_filter_keeps_what_it_says(
    server: RunningServer, audit: pb_grpc.AuditServiceStub, clock: FixedClock
) -> None:
    vault = server.vault
    anna, bo = new_subject(vault, "anna@example.se"), new_subject(vault, "bo@example.se")
    told(vault, 2, anna, operation=Operation.ERASE_CATEGORY)
    clock.advance(hours=1)
    told(vault, 3, bo, actor=OTHER, sensitive=True)
    clock.advance(hours=1)
    told(vault, 1, anna, sensitive=True)

    window = listed(audit, start_time=at(START + dt.timedelta(hours=1)), end_time=at(clock.now()))
    assert [(e.actor, e.sensitive) for e in window] == [(OTHER.who, True)] * 3
    assert len(listed(audit, start_time=at(clock.now()), operation="get subject")) == 1
    assert len(listed(audit, end_time=at(START + dt.timedelta(minutes=1)), actor=OFFICER.who)) == 2

    assert [e.operation for e in listed(audit, operation="erase category")] == [
        "erase category"
    ] * 2
    assert len(listed(audit, actor=OTHER.who)) == 3

    of_anna = listed(audit, subject=f"subjects/{anna}")
    pseudonym = vault.audit_log.subject_pseudonym(anna)
    assert len([e for e in of_anna if e.actor == OFFICER.who]) == 3
    assert {e.subject_pseudonym for e in of_anna} == {pseudonym}

    sensitive = listed(audit, sensitive=pb.SENSITIVE_FILTER_ONLY)
    assert len(sensitive) == 4 and all(e.sensitive for e in sensitive)
    assert not any(e.sensitive for e in listed(audit, sensitive=pb.SENSITIVE_FILTER_EXCLUDED))
    # The filters combine.
    both = listed(audit, subject=f"subjects/{anna}", sensitive=pb.SENSITIVE_FILTER_ONLY)
    assert [(e.actor, e.operation) for e in both] == [(OFFICER.who, "get subject")]


def test_the_subject_filter_ends_with_the_person(
    server: RunningServer, audit: pb_grpc.AuditServiceStub
) -> None:
    vault = server.vault
    anna = new_subject(vault, "anna@example.se")
    told(vault, 2, anna)
    assert (
        len([e for e in listed(audit, subject=f"subjects/{anna}") if e.actor == OFFICER.who]) == 2
    )
    vault.erase_subject(LOCAL, anna)
    by_anna = pb.ListAuditEventsRequest(subject=f"subjects/{anna}")
    assert refused(lambda: audit.ListAuditEvents(by_anna))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        Reason.SUBJECT_ERASED,
    )
    nobody = pb.ListAuditEventsRequest(subject=f"subjects/{'0' * 32}")
    assert refused(lambda: audit.ListAuditEvents(nobody))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        Reason.SUBJECT_NOT_FOUND,
    )
    # Her events are still in the log, and it still verifies.
    assert len(listed(audit, actor=OFFICER.who)) == 2
    vault.sequencer.run_until_done()
    assert vault.audit_log.verify().ok


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListAuditEventsRequest(page_size=-1), "page_size"),
        (pb.ListAuditEventsRequest(page_size=1001), "page_size"),
        (pb.ListAuditEventsRequest(operation="read everything"), "operation"),
        (pb.ListAuditEventsRequest(actor="nul\x00"), "actor"),
        (pb.ListAuditEventsRequest(actor="a" * 401), "actor"),
        (pb.ListAuditEventsRequest(sensitive=7), "sensitive"),
        (pb.ListAuditEventsRequest(subject="anna"), "subject"),
        (pb.ListAuditEventsRequest(subject="subjects/A/B"), "subject"),
        (
            pb.ListAuditEventsRequest(start_time=timestamp_pb2.Timestamp(seconds=2**62)),
            "start_time",
        ),
        (pb.ListAuditEventsRequest(end_time=timestamp_pb2.Timestamp(nanos=-1)), "end_time"),
        (pb.ListAuditEventsRequest(start_time=at(START), end_time=at(START)), "end_time"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_listing_it_cannot_make_names_the_field(
    audit: pb_grpc.AuditServiceStub, request_: pb.ListAuditEventsRequest, field: str
) -> None:
    assert refused(lambda: audit.ListAuditEvents(request_)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_FIELD,
        field,
    )


# ------------------------------------------------------- heads and proofs
def head_of(message: pb.TreeHead) -> SignedTreeHead:
    return SignedTreeHead(
        message.size, message.root_hash, message.time.ToDatetime(tzinfo=dt.UTC), message.signature
    )


def test_a_tree_head_verifies_with_the_key_it_comes_with(
    server: RunningServer, audit: pb_grpc.AuditServiceStub
) -> None:
    told(server.vault, 3)
    server.vault.sequencer.run_until_done()
    answer = audit.GetTreeHead(pb.GetTreeHeadRequest())
    assert answer.head.size >= 3
    assert verify_head(answer.public_key, head_of(answer.head))
    assert public_key_from_pem(answer.public_key_pem) == answer.public_key
    assert answer.public_key == server.vault.audit_log.public_key()
    # A head is asked for by its size, and a changed one does not verify.
    again = audit.GetTreeHead(pb.GetTreeHeadRequest(size=answer.head.size))
    assert again.head == answer.head
    forged = head_of(answer.head)
    assert not verify_head(
        answer.public_key, SignedTreeHead(forged.size + 1, forged.root, forged.at, forged.signature)
    )
    assert refused(lambda: audit.GetTreeHead(pb.GetTreeHeadRequest(size=10**9))) == (
        grpc.StatusCode.NOT_FOUND,
        Reason.AUDIT_ENTRY_NOT_FOUND,
        "",
    )
    assert refused(lambda: audit.GetTreeHead(pb.GetTreeHeadRequest(size=-1))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        Reason.INVALID_FIELD,
        "size",
    )


def test_inclusion_and_consistency_proofs_check_by_rfc_9162(
    server: RunningServer, audit: pb_grpc.AuditServiceStub
) -> None:
    vault = server.vault
    told(vault, 3)
    vault.sequencer.run_until_done()
    first = audit.GetTreeHead(pb.GetTreeHeadRequest()).head
    told(vault, 5)
    vault.sequencer.run_until_done()
    second = audit.GetTreeHead(pb.GetTreeHeadRequest()).head
    assert second.size > first.size

    for index in (0, first.size - 1, second.size - 1):
        proof = audit.GetInclusionProof(
            pb.GetInclusionProofRequest(index=index, tree_size=second.size)
        )
        assert proof.head == second and proof.event.index == index
        assert proof.leaf_hash == leaf_of(index, proof.event.entry)
        assert merkle.verify_inclusion(
            index, second.size, proof.leaf_hash, list(proof.audit_path), second.root_hash
        )
    latest = audit.GetInclusionProof(pb.GetInclusionProofRequest(index=1))
    assert latest.head.size >= second.size

    consistent = audit.GetConsistencyProof(
        pb.GetConsistencyProofRequest(first_size=first.size, second_size=second.size)
    )
    assert (consistent.first, consistent.second) == (first, second)
    assert merkle.verify_consistency(
        first.size, second.size, first.root_hash, second.root_hash, list(consistent.proof)
    )
    assert not merkle.verify_consistency(
        first.size, second.size, second.root_hash, second.root_hash, list(consistent.proof)
    )

    size = second.size
    for call, expected in [
        (
            lambda: audit.GetInclusionProof(pb.GetInclusionProofRequest(index=-1)),
            (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_FIELD, "index"),
        ),
        (
            lambda: audit.GetInclusionProof(
                pb.GetInclusionProofRequest(index=size, tree_size=size)
            ),
            (grpc.StatusCode.NOT_FOUND, Reason.AUDIT_ENTRY_NOT_FOUND, ""),
        ),
        (
            lambda: audit.GetInclusionProof(
                pb.GetInclusionProofRequest(index=0, tree_size=size + 10**6)
            ),
            (grpc.StatusCode.NOT_FOUND, Reason.AUDIT_ENTRY_NOT_FOUND, ""),
        ),
        (
            lambda: audit.GetConsistencyProof(pb.GetConsistencyProofRequest(first_size=0)),
            (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_FIELD, "first_size"),
        ),
        (
            lambda: audit.GetConsistencyProof(
                pb.GetConsistencyProofRequest(first_size=size + 1, second_size=size)
            ),
            (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_FIELD, "first_size"),
        ),
        (
            lambda: audit.GetConsistencyProof(
                pb.GetConsistencyProofRequest(first_size=size, second_size=size + 10**6)
            ),
            (grpc.StatusCode.NOT_FOUND, Reason.AUDIT_ENTRY_NOT_FOUND, ""),
        ),
    ]:
        assert refused(call) == expected


# ------------------------------------------------------ the edge's events
def events_of(vault: Vault, operation: Operation | None) -> list[AuditEvent]:
    return [
        AuditEvent.from_entry(stored.entry)
        for stored in vault.audit_log.store.query(AuditQuery(operation=operation, limit=1000))
    ]


def test_a_refused_call_leaves_an_event_naming_the_caller_as_far_as_known(
    server: RunningServer,
) -> None:
    vault = server.vault
    address = f"127.0.0.1:{server.port}"
    method = "/vault.v1.AuditService/ListAuditEvents"
    ask = pb.ListAuditEventsRequest()
    with grpc.insecure_channel(address) as bare:
        list_events = bare.unary_unary(
            method,
            request_serializer=pb.ListAuditEventsRequest.SerializeToString,
            response_deserializer=pb.ListAuditEventsResponse.FromString,
        )
        assert refused(lambda: list_events(ask))[:2] == (
            grpc.StatusCode.UNAUTHENTICATED,
            Reason.TOKEN_MISSING,
        )
        integrator = vault.tokens.create(LOCAL, Role.INTEGRATOR, system="lms", name="sync")
        as_integrator = (("authorization", f"Bearer {integrator.secret}"),)
        assert refused(lambda: list_events(ask, metadata=as_integrator))[:2] == (
            grpc.StatusCode.PERMISSION_DENIED,
            Reason.ROLE_NOT_ALLOWED,
        )
        auditor = vault.tokens.create(LOCAL, Role.AUDITOR, name="gone")
        vault.tokens.revoke(LOCAL, auditor.token.resource_name)
        as_revoked = (("authorization", f"Bearer {auditor.secret}"),)
        assert refused(lambda: list_events(ask, metadata=as_revoked))[:2] == (
            grpc.StatusCode.UNAUTHENTICATED,
            Reason.TOKEN_REVOKED,
        )
    told_events = {
        (e.actor, e.role, e.system, e.result, e.subject)
        for e in events_of(vault, Operation.CALL_REFUSED)
    }
    who = integrator.token.actor().who
    assert told_events == {
        ("anonymous", "", "", "TOKEN_MISSING", ""),
        (who, "integrator", "lms", "ROLE_NOT_ALLOWED", ""),
        (auditor.token.resource_name, "", "", "TOKEN_REVOKED", ""),
    }
    assert {e.detail for e in events_of(vault, Operation.CALL_REFUSED)} == {method}

    # The auditor finds them through the API, by their operation.
    with channel_to(server, Role.AUDITOR) as channel:
        found = listed(pb_grpc.AuditServiceStub(channel), operation="call refused")
    assert sorted(e.result for e in found) == ["ROLE_NOT_ALLOWED", "TOKEN_MISSING", "TOKEN_REVOKED"]


def test_a_call_that_fails_past_the_gate_leaves_an_event(
    server: RunningServer, audit: pb_grpc.AuditServiceStub
) -> None:
    vault = server.vault
    with pytest.raises(grpc.RpcError):
        audit.GetTreeHead(pb.GetTreeHeadRequest(size=-1))
    with channel_to(server) as channel:
        subjects = pb_grpc.SubjectServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            subjects.GetSubject(pb.GetSubjectRequest(name=f"subjects/{'0' * 32}"))
        # Bytes that are no request at all.
        malformed = channel.unary_unary(
            "/vault.v1.SubjectService/GetSubject",
            request_serializer=lambda raw: raw,
            response_deserializer=pb.GetSubjectResponse.FromString,
        )
        with pytest.raises(grpc.RpcError):
            malformed(b"\xff\xff\xff")
    # Each is an event of the operation it asked for, with the reason it was answered.
    failed = [
        (e.operation, e.role, e.result, e.detail)
        for e in events_of(vault, None)
        if e.result != "ok"
    ]
    assert failed == [
        ("get tree head", "auditor", "INVALID_FIELD", "/vault.v1.AuditService/GetTreeHead"),
        (
            "get subject",
            "privacy_officer",
            "SUBJECT_NOT_FOUND",
            "/vault.v1.SubjectService/GetSubject",
        ),
        (
            "get subject",
            "privacy_officer",
            "MALFORMED_REQUEST",
            "/vault.v1.SubjectService/GetSubject",
        ),
    ]


def test_a_call_whose_event_cannot_be_written_is_unavailable(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = server.vault

    async def broken(entries: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vault.audit.store, "append_async", broken)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as bare:
        stub = pb_grpc.AuditServiceStub(bare)
        # Refused at the gate: no token.
        assert refused(lambda: stub.GetTreeHead(pb.GetTreeHeadRequest()))[:2] == (
            grpc.StatusCode.UNAVAILABLE,
            Reason.AUDIT_UNAVAILABLE,
        )
    with channel_to(server, Role.AUDITOR) as channel:
        stub = pb_grpc.AuditServiceStub(channel)
        # Failed past the gate.
        assert refused(lambda: stub.GetTreeHead(pb.GetTreeHeadRequest(size=-1)))[:2] == (
            grpc.StatusCode.UNAVAILABLE,
            Reason.AUDIT_UNAVAILABLE,
        )
    assert not [e for e in events_of(vault, None) if e.result != "ok"]


def test_every_call_of_the_other_services_still_answers(channel: grpc.Channel) -> None:
    subjects = pb_grpc.SubjectServiceStub(channel)
    anna = subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("anna@example.se")]))
    got = subjects.GetSubject(pb.GetSubjectRequest(name=anna.subject.name))
    assert got.subject.name == anna.subject.name


# ------------------------------------------------------------ the client
def test_the_python_client_reads_the_trail_and_its_proofs(
    server: RunningServer, client: VaultClient
) -> None:
    vault = server.vault
    anna = new_subject(vault, "anna@example.se")
    told(vault, 5, anna, actor=OTHER, sensitive=True)
    vault.sequencer.run_until_done()
    events = list(client.list_audit_events(actor=OTHER.who, page_size=2))
    assert len(events) == 5 and all(e.index is not None for e in events)
    assert events[0].subject_pseudonym == vault.audit_log.subject_pseudonym(anna)
    assert len(list(client.list_audit_events(subject=f"subjects/{anna}", sensitive=True))) == 5
    assert not list(client.list_audit_events(actor=OTHER.who, sensitive=False))
    assert not list(client.list_audit_events(actor=OTHER.who, since=START + dt.timedelta(days=1)))
    assert len(list(client.list_audit_events(actor=OTHER.who, until=START + dt.timedelta(1)))) == 5

    signed = client.tree_head()
    head = signed.head
    assert verify_head(
        signed.public_key, SignedTreeHead(head.size, head.root_hash, head.time, head.signature)
    )
    assert client.tree_head(head.size).head == head
    index = events[2].index
    assert index is not None
    proof = client.inclusion_proof(index, head.size)
    assert proof.event == events[2] and proof.head == head
    assert merkle.verify_inclusion(
        index, head.size, proof.leaf_hash, proof.audit_path, head.root_hash
    )
    told(vault, 2)
    vault.sequencer.run_until_done()
    later = client.tree_head().head
    consistent = client.consistency_proof(head.size, later.size)
    assert merkle.verify_consistency(
        head.size, later.size, head.root_hash, later.root_hash, consistent.proof
    )
    with pytest.raises(NotFoundError) as raised:
        client.tree_head(10**9)
    assert raised.value.reason == Reason.AUDIT_ENTRY_NOT_FOUND
