"""Friendly exceptions for gRPC errors, chosen by status code and the ErrorInfo reason."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vault.v1 import vault_pb2 as pb


class VaultClientError(Exception):
    """A call failed. `code` is the gRPC status, `reason` the vault's stable
    reason: one of the names of the API's `vault.v1.ErrorReason`, whose
    comments say when each is sent ("" when no vault sent the error)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = metadata

    @property
    def field(self) -> str | None:
        return self.metadata.get("field")


class InvalidArgumentError(VaultClientError):
    pass


class NotFoundError(VaultClientError):
    pass


class AlreadyExistsError(VaultClientError):
    pass


class FailedPreconditionError(VaultClientError):
    pass


class SubjectErasedError(FailedPreconditionError):
    """The subject was erased: nothing about them can be read any more."""


class UnauthenticatedError(VaultClientError):
    """The call carried no token the vault accepts: none (TOKEN_MISSING), not
    one it issued (TOKEN_MALFORMED, TOKEN_UNKNOWN), or one revoked or expired
    (TOKEN_REVOKED, TOKEN_EXPIRED, `metadata["token"]` naming it)."""


class PermissionDeniedError(VaultClientError):
    """The token's role may not make this call (ROLE_NOT_ALLOWED, with
    `metadata["role"]` and `metadata["method"]`), or an integrator sent
    another system's record (NOT_YOUR_SYSTEM), or a record, a consent or a
    question about either for a purpose its system is not configured for
    (PURPOSE_NOT_ALLOWED)."""


class ResourceExhaustedError(VaultClientError):
    """The vault is busy (TOO_MANY_CALLS) or the caller over its rate
    (RATE_LIMITED). `retry_after_seconds` is the delay the vault's
    `google.rpc.RetryInfo` asks for, None when it sent none."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        metadata: dict[str, str],
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(code, message, reason, metadata)
        self.retry_after_seconds = retry_after_seconds


class RateLimitedError(ResourceExhaustedError):
    """This caller made more calls than its rate allows (`metadata["limit"]`
    a second); try again after `retry_after_seconds`."""


class UnavailableError(VaultClientError):
    """The vault cannot do the call now, through no fault of the caller's:
    its audit trail could not be written, so nothing was done or read
    (AUDIT_UNAVAILABLE), or its keyring cannot open the keys the call needs
    (KEYRING_UNUSABLE). The same call may succeed later."""


class ServerUnreachableError(UnavailableError):
    """No vault server answered: nothing listens at the address, or the
    connection failed. The vault always sends its ErrorInfo with an
    UNAVAILABLE, so an UNAVAILABLE without one is always this.

    The message is in words; gRPC's own text is kept in `details`."""

    MESSAGE = (
        "no vault server answers at the address: nothing listens there, or the connection failed"
    )

    def __init__(
        self, code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
    ) -> None:
        super().__init__(code, self.MESSAGE, reason, metadata)
        self.args = (self.MESSAGE,)  # str(error) is the words alone
        self.details = message


_BY_CODE: dict[grpc.StatusCode, type[VaultClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def translate(error: grpc.RpcError) -> VaultClientError:
    call = error  # a grpc.Call as well as an RpcError
    code = call.code()  # type: ignore[attr-defined]
    message = call.details() or ""  # type: ignore[attr-defined]
    reason, metadata = "", {}
    retry_after: float | None = None
    status = rpc_status.from_call(call)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Unpack(retry):
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    if reason == pb.ErrorReason.Name(pb.SUBJECT_ERASED):
        return SubjectErasedError(code, message, reason, metadata)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        limited = reason == pb.ErrorReason.Name(pb.RATE_LIMITED)
        busy = RateLimitedError if limited else ResourceExhaustedError
        return busy(code, message, reason, metadata, retry_after)
    if code == grpc.StatusCode.UNAVAILABLE and status is None:
        return ServerUnreachableError(code, message, reason, metadata)
    return _BY_CODE.get(code, VaultClientError)(code, message, reason, metadata)
