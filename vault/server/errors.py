"""The one table that maps domain exceptions to gRPC status codes.

Every error carries a `google.rpc.ErrorInfo` with a stable reason. Anything
unexpected becomes INTERNAL with a correlation id that matches one server log
line holding the traceback; the exception text never reaches the client.
Whatever a message or metadata value echoes of a request (a field path built
from a client's keys, a name) is cleaned and cut short here, for every call.
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from vault import crypto
from vault.core import errors
from vault.core.errors import Reason

log = logging.getLogger("vault.server")

ERROR_DOMAIN = "consent-vault"
# Enough for any field path or id the vault names; a status travels in
# metadata, which a client limits (8 KiB by default) and refuses past.
MAX_MESSAGE_CHARS = 400
MAX_METADATA_CHARS = 120

# Most specific first: the first matching class decides.
STATUS_FOR: list[tuple[type[errors.VaultError], grpc.StatusCode]] = [
    (errors.RequestIdReused, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]

# The reasons the edge sends on its own, about calls that never reach the core.
EDGE_STATUS: dict[Reason, grpc.StatusCode] = {
    Reason.MALFORMED_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.TOO_MANY_CALLS: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.INTERNAL: grpc.StatusCode.INTERNAL,
    # A sealed blob that fails authentication (crypto knows no status or reason).
    Reason.INTEGRITY_FAILURE: grpc.StatusCode.DATA_LOSS,
    # A key wrapped under a KEK version this server's keyring lacks: the
    # server's own state, which another server (or this one, its keyring
    # fixed) can serve; never the caller's mistake.
    Reason.KEYRING_UNUSABLE: grpc.StatusCode.UNAVAILABLE,
}


_KEK_VERSION = re.compile(r"key-encryption key version (\d+)")


def code_for(error_class: type[errors.VaultError]) -> grpc.StatusCode | None:
    """The status code an error of `error_class` is sent with; None: it is
    unexpected, and sent as INTERNAL."""
    for mapped, code in STATUS_FOR:
        if issubclass(error_class, mapped):
            return code
    return None


def status_for(exc: BaseException, method: str) -> status_pb2.Status:
    """The rich status to send for an exception raised while serving `method`."""
    if isinstance(exc, errors.VaultError):
        code = code_for(type(exc))
        if code is not None:
            status = _status(code, exc.message, exc.reason, exc.metadata)
            if isinstance(exc, errors.RateLimited):
                _retry_after(status, exc.retry_after_seconds)
            return status
    if isinstance(exc, crypto.TamperedError):
        return _edge_status(Reason.INTEGRITY_FAILURE, exc.message, {})
    if isinstance(exc, crypto.KeyringError):
        # Logged in full for the operator; the caller learns which version.
        log.error("keyring cannot serve %s: %s", method, exc.message)
        version = _KEK_VERSION.search(exc.message)
        return _edge_status(
            Reason.KEYRING_UNUSABLE,
            "this server's keyring cannot open the keys the call needs "
            f"({version[0] if version else 'a key-encryption key version it lacks'}); "
            "its operator must give it the keyring file the other servers use",
            {"kek_version": version[1]} if version else {},
        )
    correlation_id = uuid.uuid4().hex
    log.error("internal error %s in %s", correlation_id, method, exc_info=exc)
    return _edge_status(
        Reason.INTERNAL,
        f"internal error; the server log has the details under id {correlation_id}",
        {"correlation_id": correlation_id},
    )


def malformed_request(method: str) -> status_pb2.Status:
    return _edge_status(
        Reason.MALFORMED_REQUEST,
        f"request: not a valid message for {method} (malformed protobuf or invalid UTF-8 in a string)",
        {"field": "request"},
    )


def too_many_calls(limit: int) -> status_pb2.Status:
    return _edge_status(
        Reason.TOO_MANY_CALLS,
        f"the server is serving its limit of {limit} calls at once; try again shortly",
        {"limit": str(limit)},
    )


def _retry_after(status: status_pb2.Status, seconds: float) -> None:
    """Beside the ErrorInfo, a `google.rpc.RetryInfo` saying when to try again."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(1, round(seconds * 1e9)))
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status.details.append(detail)


def _edge_status(reason: Reason, message: str, metadata: dict[str, str]) -> status_pb2.Status:
    return _status(EDGE_STATUS[reason], message, reason, metadata)


def _status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
) -> status_pb2.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.ErrorInfo(
            reason=reason,
            domain=ERROR_DOMAIN,
            metadata={key: cleaned(value, MAX_METADATA_CHARS) for key, value in metadata.items()},
        )
    )
    return status_pb2.Status(
        code=getattr(code_pb2, code.name),
        message=cleaned(message, MAX_MESSAGE_CHARS),
        details=[detail],
    )


def cleaned(text: str, limit: int) -> str:
    """`text` safe to show and log: control, format (bidirectional overrides
    such as U+202E) and other invisible characters become '?', and anything
    past `limit` characters is cut, with '...' saying so."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to look at character by character
    return "".join("?" if _unsafe(ch) else ch for ch in text)


def _unsafe(ch: str) -> bool:
    # Cc control, Cf format (bidi overrides), Cs/Co/Cn surrogates, private, unassigned;
    # Zl/Zp line and paragraph separators.
    return unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")
