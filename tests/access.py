"""Tokens for tests: one of any role, minted in the vault itself, a channel
that presents it on every call as `authorization: Bearer <token>`, and every
RPC of the API, read from its descriptors, to call with an empty request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass

from vault.core.actor import LOCAL, Role
from vault.core.vault import Vault
from vault.v1 import vault_pb2 as pb

# The purpose a test integrator's reads are for when they name none, as the
# demo's token for the learning platform has it.
DEFAULT_PURPOSES = {"lms": "course_delivery"}


def token_for(
    vault: Vault, role: Role, system: str = "", default_purpose: str | None = None
) -> str:
    """A new token of `role` (an integrator's for `system`, reading for
    `default_purpose` or its system's usual one): its secret."""
    if default_purpose is None:
        default_purpose = DEFAULT_PURPOSES.get(system, "")
    return vault.tokens.create(
        LOCAL, role, system=system, name=f"test {role.value}", default_purpose=default_purpose
    ).secret


class _Details(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call, unless the call
    sends an authorization of its own (a test of a wrong token)."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(details.metadata or ())
        if not any(key == "authorization" for key, _ in metadata):
            metadata.append(self.header)
        return _Details(details, metadata)

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    intercept_unary_unary = _call
    intercept_unary_stream = _call
    intercept_stream_unary = _call
    intercept_stream_stream = _call


def with_token(channel: grpc.Channel, token: str) -> grpc.Channel:
    """`channel`, presenting `token` on every call."""
    return grpc.intercept_channel(channel, Bearer(token))


METHODS: list[MethodDescriptor] = [
    method for service in pb.DESCRIPTOR.services_by_name.values() for method in service.methods
]


def full_name(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def call(channel: grpc.Channel, method: MethodDescriptor, metadata: tuple = ()) -> None:
    """Make `method` with an empty request (or one empty message in a client
    stream), reading a server stream to its end."""
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
    }
    callable_ = kinds[(method.client_streaming, method.server_streaming)](
        full_name(method),
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    request = iter([request_class()]) if method.client_streaming else request_class()
    answer = callable_(request, timeout=10, metadata=metadata)
    if method.server_streaming:
        list(answer)
