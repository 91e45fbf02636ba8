"""Registers servicers from the service descriptors, with one guard around every call.

The generated `add_*_to_server` functions would let grpcio answer a request it
cannot parse with INTERNAL, and an unexpected exception with UNKNOWN carrying
its text. Here a request that does not parse is INVALID_ARGUMENT, a domain
error is its mapped status, and anything else is INTERNAL with a correlation id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import message as protobuf_message
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from vault.server import errors


class _Malformed:
    """Stands in for a request that failed to parse, so the handler can answer precisely."""


def _safe_parser(message_class: type[protobuf_message.Message]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception:  # protobuf raises DecodeError, and others on odd input
            return _Malformed()

    return parse


class MalformedInStream(Exception):
    pass


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Malformed):
            raise MalformedInStream()
        yield request


def _guard_unary(
    method: str, behaviour: Callable[..., Any], client_streaming: bool
) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Malformed):
            errors.abort(context, errors.malformed_request(method))
        try:
            return behaviour(_checked_stream(request) if client_streaming else request, context)
        except MalformedInStream:
            status = errors.malformed_request(method)
        except Exception as exc:
            status = errors.status_for(exc, method)
        errors.abort(context, status)

    return handle


def _guard_streaming(
    method: str, behaviour: Callable[..., Iterator[Any]]
) -> Callable[..., Iterator[Any]]:
    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if isinstance(request, _Malformed):
            errors.abort(context, errors.malformed_request(method))
        try:
            yield from behaviour(request, context)
            return
        except Exception as exc:
            status = errors.status_for(exc, method)
        errors.abort(context, status)

    return handle


def add_servicer(server: grpc.Server, service: ServiceDescriptor, servicer: object) -> None:
    """Register every method of `service` that `servicer` implements under the guard."""
    handlers = {}
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        full_name = f"/{service.full_name}/{method.name}"
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        parse = _safe_parser(request_class)
        serialize = response_class.SerializeToString
        if method.server_streaming:
            if method.client_streaming:
                raise NotImplementedError("bidirectional streaming is not used by this API")
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _guard_streaming(full_name, behaviour), parse, serialize
            )
        elif method.client_streaming:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                _guard_unary(full_name, behaviour, client_streaming=True), parse, serialize
            )
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                _guard_unary(full_name, behaviour, client_streaming=False), parse, serialize
            )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
