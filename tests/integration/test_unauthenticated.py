"""No credentials, no answer: every RPC of every vault service, read from the
service descriptors (so a new RPC is covered the day it is added), refuses a
caller without a token, and a malformed, unknown, revoked or expired token
each with its own reason; health and reflection answer anyone. A caller
beyond its rate, or an address beyond its refused authentications, is told
when to try again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from tests.access import METHODS, call, full_name, token_for, with_token
from tests.helpers import error_info
from tests.serving import ANY_PORT, served
from vault.core.actor import LOCAL, Role
from vault.core.clock import FixedClock
from vault.core.errors import Reason
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import AccessSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

OFFICER = Role.PRIVACY_OFFICER


def refusal(channel: grpc.Channel, method: MethodDescriptor, metadata: tuple = ()) -> tuple:
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, method, metadata)
    return raised.value.code(), error_info(raised.value).reason


@pytest.fixture
def bare(server: RunningServer) -> Iterator[grpc.Channel]:
    """A channel that presents no token."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as opened:
        yield opened


def test_the_descriptors_hold_every_kind_of_call_the_api_has() -> None:
    # So the test below reaches unary calls and both kinds of stream.
    kinds = {(m.client_streaming, m.server_streaming) for m in METHODS}
    assert kinds == {(False, False), (False, True), (True, False)}
    assert "/vault.v1.AccessService/CreateToken" in {full_name(m) for m in METHODS}


def test_every_rpc_without_a_token_is_unauthenticated(bare: grpc.Channel) -> None:
    refused = {full_name(m): refusal(bare, m) for m in METHODS}
    expected = (grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_MISSING)
    assert {name: expected for name in refused} == refused


@pytest.mark.parametrize(
    "authorization",
    [
        "cvt_abcdefghijkl_" + "A" * 43,  # no scheme
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer two words",
        "Bearer not-a-vault-token",
    ],
)
def test_a_malformed_authorization_is_refused_on_every_rpc(
    bare: grpc.Channel, authorization: str
) -> None:
    metadata = (("authorization", authorization),)
    refused = {full_name(m): refusal(bare, m, metadata) for m in METHODS}
    expected = (grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_MALFORMED)
    assert {name: expected for name in refused} == refused


def test_a_token_this_vault_never_issued_is_unknown(
    bare: grpc.Channel, server: RunningServer
) -> None:
    real = token_for(server.vault, Role.PRIVACY_OFFICER)
    # The same id with another secret, and an id never issued.
    for token in (real[:-1] + ("B" if real.endswith("A") else "A"), f"cvt_{'a' * 12}_{'B' * 43}"):
        metadata = (("authorization", f"Bearer {token}"),)
        refused = {full_name(m): refusal(bare, m, metadata) for m in METHODS}
        expected = (grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_UNKNOWN)
        assert {name: expected for name in refused} == refused


def test_a_revoked_token_is_refused_from_the_next_call_on(
    bare: grpc.Channel, server: RunningServer
) -> None:
    vault = server.vault
    issued = vault.tokens.create(LOCAL, Role.PRIVACY_OFFICER)
    metadata = (("authorization", f"Bearer {issued.secret}"),)
    pb_grpc.ConnectorServiceStub(bare).ListConnectors(pb.ListConnectorsRequest(), metadata=metadata)
    vault.tokens.revoke(LOCAL, issued.token.resource_name)
    refused = {full_name(m): refusal(bare, m, metadata) for m in METHODS}
    expected = (grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_REVOKED)
    assert {name: expected for name in refused} == refused


def test_an_expired_token_is_refused_though_it_was_just_verified(
    bare: grpc.Channel, server: RunningServer, clock: FixedClock
) -> None:
    issued = server.vault.tokens.create(
        LOCAL, Role.PRIVACY_OFFICER, expires_in=dt.timedelta(days=1)
    )
    metadata = (("authorization", f"Bearer {issued.secret}"),)
    pb_grpc.ConnectorServiceStub(bare).ListConnectors(pb.ListConnectorsRequest(), metadata=metadata)
    clock.advance(days=1)
    refused = {full_name(m): refusal(bare, m, metadata) for m in METHODS}
    expected = (grpc.StatusCode.UNAUTHENTICATED, Reason.TOKEN_EXPIRED)
    assert {name: expected for name in refused} == refused


def test_health_and_reflection_answer_without_credentials(bare: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    services = listed_services(bare)
    assert set(pb.DESCRIPTOR.services_by_name) <= {name.rsplit(".", 1)[-1] for name in services}


def test_reflection_can_be_turned_off(vault: Vault, engine: str | None) -> None:
    settings = replace(ANY_PORT, reflection=False)
    with (
        served(build_services(vault, stores_embedded=engine is None), settings) as running,
        grpc.insecure_channel(f"127.0.0.1:{running.port}") as bare,
    ):
        with pytest.raises(grpc.RpcError) as raised:
            listed_services(bare)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        check = health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert check.status == health_pb2.HealthCheckResponse.SERVING


def listed_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    return [s.name for answer in answers for s in answer.list_services_response.service]


def test_a_caller_past_its_rate_is_told_when_to_try_again(vault: Vault, engine: str | None) -> None:
    settings = replace(ANY_PORT, access=AccessSettings(calls_per_second=0.5, burst=2))
    with (
        served(build_services(vault, stores_embedded=engine is None), settings) as running,
        grpc.insecure_channel(f"127.0.0.1:{running.port}") as opened,
    ):
        first = pb_grpc.ConnectorServiceStub(with_token(opened, token_for(vault, OFFICER)))
        for _ in range(2):  # the burst
            first.ListConnectors(pb.ListConnectorsRequest())
        with pytest.raises(grpc.RpcError) as raised:
            first.ListConnectors(pb.ListConnectorsRequest())
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info(raised.value).reason == Reason.RATE_LIMITED
        delay = retry_delay(raised.value)
        assert 0 < delay <= 2.0  # one call comes back every 2 s
        # The limit is the token's: another caller still gets its burst.
        other = pb_grpc.ConnectorServiceStub(with_token(opened, token_for(vault, OFFICER)))
        other.ListConnectors(pb.ListConnectorsRequest())


def test_an_address_past_its_refused_authentications_is_told_when_to_try_again(
    vault: Vault, engine: str | None
) -> None:
    limits = AccessSettings(
        calls_per_second=1e9, burst=10**9, refused_per_second=0.5, refused_burst=3
    )
    settings = replace(ANY_PORT, access=limits)
    with (
        served(build_services(vault, stores_embedded=engine is None), settings) as running,
        grpc.insecure_channel(f"127.0.0.1:{running.port}") as bare,
    ):
        connectors = pb_grpc.ConnectorServiceStub(bare)
        good = (("authorization", f"Bearer {token_for(vault, OFFICER)}"),)
        guess = (("authorization", f"Bearer cvt_{'a' * 12}_{'B' * 43}"),)
        for _ in range(5):  # calls that authenticate count for nothing
            connectors.ListConnectors(pb.ListConnectorsRequest(), metadata=good)

        def refused(metadata: tuple) -> grpc.RpcError:
            with pytest.raises(grpc.RpcError) as raised:
                connectors.ListConnectors(pb.ListConnectorsRequest(), metadata=metadata)
            return raised.value

        for _ in range(3):  # the burst
            assert error_info(refused(guess)).reason == Reason.TOKEN_UNKNOWN
        for metadata in (guess, good):
            # Past it, checked before any token is: the good one waits too.
            limited = refused(metadata)
            assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert error_info(limited).reason == Reason.RATE_LIMITED
            assert 0 < retry_delay(limited) <= 2.0  # one refusal comes back every 2 s
        # A call without a token costs nothing to refuse, and still says so.
        assert error_info(refused(())).reason == Reason.TOKEN_MISSING


def retry_delay(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToNanoseconds() / 1e9
    raise AssertionError("the error carries no RetryInfo")
