"""Domain exceptions, each with a stable machine-readable reason.

Messages and metadata carry ids and field names, never personal data: they end
up in logs and in answers to clients.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""

    reason = "VAULT_ERROR"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata


class InvalidArgument(VaultError):
    """A client sent a value that breaks a rule; `field` names it."""

    reason = "INVALID_FIELD"

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}", field=field)
        self.field = field
        self.rule = rule


class NotFound(VaultError):
    """The named resource does not exist."""

    reason = "NOT_FOUND"


class SubjectNotFound(NotFound):
    reason = "SUBJECT_NOT_FOUND"


class RecordNotFound(NotFound):
    reason = "RECORD_NOT_FOUND"


class AlreadyExists(VaultError):
    reason = "ALREADY_EXISTS"


class IdentityInUse(AlreadyExists):
    """The identity already belongs to a subject."""

    reason = "IDENTITY_IN_USE"


class FailedPrecondition(VaultError):
    reason = "FAILED_PRECONDITION"


class SubjectErased(FailedPrecondition):
    """The subject's keys are destroyed: nothing about them can be read or written."""

    reason = "SUBJECT_ERASED"

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id} has been erased", subject=subject_id)


class ErasurePending(FailedPrecondition):
    """An erasure of the subject has been accepted; reads and writes have stopped."""

    reason = "ERASURE_PENDING"

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id} is being erased", subject=subject_id)


class CategoryErased(FailedPrecondition):
    """The record's category key was destroyed; the record cannot be read."""

    reason = "CATEGORY_ERASED"


class RequestIdReused(VaultError):
    """A request id was sent again with a different request."""

    reason = "REQUEST_ID_REUSED"

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "request_id: already used for a different request; choose a new id",
            field="request_id",
            request_id=request_id,
        )


class IntegrityError(VaultError):
    """Stored ciphertext failed authentication: moved, swapped or tampered with."""

    reason = "INTEGRITY_FAILURE"


class KeyringError(VaultError):
    """The key-encryption keyring is missing, unreadable or insecure."""

    reason = "KEYRING_ERROR"
