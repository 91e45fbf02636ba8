"""Domain exceptions, each with a stable machine-readable reason.

Messages and metadata carry ids and field names, never personal data: they end
up in logs and in answers to clients.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Every stable reason an error carries to a client, in the order of the
    README's error table: the names of the API's `ErrorReason` enum, whose
    comments say when each is sent (tests/test_error_reasons.py keeps the two
    and the README equal). A member equals its name as a string."""

    INVALID_FIELD = "INVALID_FIELD"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
    SUBJECT_NOT_FOUND = "SUBJECT_NOT_FOUND"
    RECORD_NOT_FOUND = "RECORD_NOT_FOUND"
    ERASURE_REQUEST_NOT_FOUND = "ERASURE_REQUEST_NOT_FOUND"
    ERASURE_STEP_NOT_FOUND = "ERASURE_STEP_NOT_FOUND"
    MANUAL_ACTION_NOT_FOUND = "MANUAL_ACTION_NOT_FOUND"
    CONNECTOR_NOT_FOUND = "CONNECTOR_NOT_FOUND"
    IDENTITY_IN_USE = "IDENTITY_IN_USE"
    SUBJECT_ERASED = "SUBJECT_ERASED"
    ERASURE_PENDING = "ERASURE_PENDING"
    CATEGORY_ERASED = "CATEGORY_ERASED"
    NOTHING_TO_RETRY = "NOTHING_TO_RETRY"
    ALREADY_CONFIRMED = "ALREADY_CONFIRMED"
    NO_CONFLICT_TO_DECIDE = "NO_CONFLICT_TO_DECIDE"
    INTEGRITY_FAILURE = "INTEGRITY_FAILURE"
    TOO_MANY_CALLS = "TOO_MANY_CALLS"
    INTERNAL = "INTERNAL"
    KEYRING_UNUSABLE = "KEYRING_UNUSABLE"
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_MALFORMED = "TOKEN_MALFORMED"
    TOKEN_UNKNOWN = "TOKEN_UNKNOWN"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"
    NOT_YOUR_SYSTEM = "NOT_YOUR_SYSTEM"
    PURPOSE_NOT_ALLOWED = "PURPOSE_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_NOT_FOUND = "TOKEN_NOT_FOUND"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"
    AUDIT_ENTRY_NOT_FOUND = "AUDIT_ENTRY_NOT_FOUND"
    POLICY_VERSION_NOT_FOUND = "POLICY_VERSION_NOT_FOUND"
    POLICY_VERSION_EXISTS = "POLICY_VERSION_EXISTS"
    NO_CONSENT_TO_CHANGE = "NO_CONSENT_TO_CHANGE"
    PURPOSE_MISMATCH = "PURPOSE_MISMATCH"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    OBJECTED = "OBJECTED"
    RESTRICTED = "RESTRICTED"
    PROCESSING_LIMIT_NOT_FOUND = "PROCESSING_LIMIT_NOT_FOUND"
    ALREADY_LIFTED = "ALREADY_LIFTED"
    OBJECTION_ABSOLUTE = "OBJECTION_ABSOLUTE"


class VaultError(Exception):
    """Base of every error the vault raises on purpose.

    VaultError, NotFound, AlreadyExists and FailedPrecondition are kinds of
    error, which choose the status code: raise a subclass that names the
    reason. A bare one would send a reason that only repeats the status.
    """

    reason: str = "VAULT_ERROR"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata


class InvalidArgument(VaultError):
    """A client sent a value that breaks a rule; `field` names it."""

    reason = Reason.INVALID_FIELD

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}", field=field)
        self.field = field
        self.rule = rule


class NotFound(VaultError):
    """The named resource does not exist."""

    reason = "NOT_FOUND"


class SubjectNotFound(NotFound):
    reason = Reason.SUBJECT_NOT_FOUND


class RecordNotFound(NotFound):
    reason = Reason.RECORD_NOT_FOUND


class AlreadyExists(VaultError):
    reason = "ALREADY_EXISTS"


class IdentityInUse(AlreadyExists):
    """The identity already belongs to a subject."""

    reason = Reason.IDENTITY_IN_USE


class PolicyVersionNotFound(NotFound):
    """A consent names a policy version nobody published."""

    reason = Reason.POLICY_VERSION_NOT_FOUND

    def __init__(self, version: str, field: str = "policy_version") -> None:
        super().__init__(
            f"{field}: no policy version {version} has been published "
            "(`consent-vault policy list` shows them)",
            field=field,
            version=version,
        )


class PolicyVersionExists(AlreadyExists):
    """A policy version of that name is published already; versions never change."""

    reason = Reason.POLICY_VERSION_EXISTS

    def __init__(self, version: str) -> None:
        super().__init__(
            f"policy version {version} is published already, and a published version "
            "never changes: publish the new text under a new version",
            version=version,
        )


class ProcessingLimitNotFound(NotFound):
    """No restriction or objection of that name for the subject."""

    reason = Reason.PROCESSING_LIMIT_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", limit=name)


class FailedPrecondition(VaultError):
    reason = "FAILED_PRECONDITION"


class NoConsentToChange(FailedPrecondition):
    """Withdrawing or renewing a consent the person has not given."""

    reason = Reason.NO_CONSENT_TO_CHANGE

    def __init__(self, field: str, purpose: str, what: str) -> None:
        super().__init__(
            f"{field}: nothing to {what}: the subject has not given consent for {purpose}",
            field=field,
            purpose=purpose,
        )


class ConsentRequired(FailedPrecondition):
    """A read for a purpose resting on consent the person has not given, has
    withdrawn, let expire, or must give again (`standing` says which)."""

    reason = Reason.CONSENT_REQUIRED

    # How each standing reads after "consent that ...".
    _SAID = {
        "not asked": "was never asked for",
        "refused": "was refused",
        "withdrawn": "was withdrawn",
        "expired": "has expired",
        "re-consent needed": "must be given again after a material policy change",
    }

    def __init__(self, purpose: str, standing: str) -> None:
        said = self._SAID.get(standing, f"stands as {standing}")
        super().__init__(
            f"purpose {purpose} rests on consent that {said}: nothing of the "
            "person's is processed for it until they consent",
            purpose=purpose,
            standing=standing,
        )


class Objected(FailedPrecondition):
    """A read for a purpose the person objected to, with no overriding grounds."""

    reason = Reason.OBJECTED

    def __init__(self, purpose: str, objection: str) -> None:
        super().__init__(
            f"the person objected to processing for {purpose} ({objection}): "
            "nothing of theirs is processed for it",
            purpose=purpose,
            objection=objection,
        )


class Restricted(FailedPrecondition):
    """A read for a purpose processing is restricted for (art. 18)."""

    reason = Reason.RESTRICTED

    def __init__(self, purpose: str, restriction: str) -> None:
        super().__init__(
            f"processing for {purpose} is restricted ({restriction}): "
            "nothing of the person's is processed for it until the restriction is lifted",
            purpose=purpose,
            restriction=restriction,
        )


class AlreadyLifted(FailedPrecondition):
    """A restriction or objection lifted (or overridden) already."""

    reason = Reason.ALREADY_LIFTED

    def __init__(self, name: str, what: str) -> None:
        super().__init__(f"{name} was {what} already", limit=name)


class ObjectionAbsolute(FailedPrecondition):
    """Overriding grounds for an objection to direct marketing (art. 21(3))."""

    reason = Reason.OBJECTION_ABSOLUTE

    def __init__(self, name: str, purpose: str) -> None:
        super().__init__(
            f"{name} objects to {purpose}, which is direct marketing: an objection to it "
            "is absolute (GDPR art. 21(3)) and no grounds override it",
            limit=name,
            purpose=purpose,
        )


class SubjectErased(FailedPrecondition):
    """The subject's keys are destroyed: nothing about them can be read or written."""

    reason = Reason.SUBJECT_ERASED

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id} has been erased", subject=subject_id)


class ErasurePending(FailedPrecondition):
    """An erasure of the subject has been accepted; reads and writes have stopped."""

    reason = Reason.ERASURE_PENDING

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject {subject_id} is being erased", subject=subject_id)


class CategoryErased(FailedPrecondition):
    """The record's category key was destroyed; the record cannot be read."""

    reason = Reason.CATEGORY_ERASED


class RequestIdReused(VaultError):
    """A request id was sent again with a different request."""

    reason = Reason.REQUEST_ID_REUSED

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "request_id: already used for a different request; choose a new id",
            field="request_id",
            request_id=request_id,
        )


class TokenNotFound(NotFound):
    reason = Reason.TOKEN_NOT_FOUND


class AuditEntryNotFound(NotFound):
    """No audit event of that index, or no signed tree head of that size."""

    reason = Reason.AUDIT_ENTRY_NOT_FOUND


class Unauthenticated(VaultError):
    """The call does not say who is calling, or says it with a token the vault
    does not accept. A kind: raise a subclass that names the reason."""

    reason = "UNAUTHENTICATED"


class TokenMissing(Unauthenticated):
    reason = Reason.TOKEN_MISSING

    def __init__(self) -> None:
        super().__init__(
            "this call needs an API token: send `authorization: Bearer <token>` "
            "(consent-vault tokens create makes one)"
        )


class TokenMalformed(Unauthenticated):
    reason = Reason.TOKEN_MALFORMED

    def __init__(self, why: str) -> None:
        super().__init__(f"authorization: {why}")


class TokenUnknown(Unauthenticated):
    reason = Reason.TOKEN_UNKNOWN

    def __init__(self) -> None:
        super().__init__("authorization: no such token was issued by this vault")


class TokenRevoked(Unauthenticated):
    reason = Reason.TOKEN_REVOKED

    def __init__(self, token_name: str) -> None:
        super().__init__(f"authorization: token {token_name} was revoked", token=token_name)


class TokenExpired(Unauthenticated):
    reason = Reason.TOKEN_EXPIRED

    def __init__(self, token_name: str) -> None:
        super().__init__(f"authorization: token {token_name} has expired", token=token_name)


class PermissionDenied(VaultError):
    """The caller is known but may not do this. A kind: raise a subclass."""

    reason = "PERMISSION_DENIED"


class RoleNotAllowed(PermissionDenied):
    reason = Reason.ROLE_NOT_ALLOWED

    def __init__(self, role: str, method: str) -> None:
        super().__init__(f"the role {role} may not call {method}", role=role, method=method)


class TokenRoleNotAllowed(PermissionDenied):
    """The caller may not issue a token of the role it asked for."""

    reason = Reason.ROLE_NOT_ALLOWED

    def __init__(self, role: str, token_role: str, rule: str) -> None:
        super().__init__(f"role: {rule}", field="role", role=role, token_role=token_role)


class NotYourSystem(PermissionDenied):
    """An integrator wrote for a system other than its own: a record, or an
    identity other than its own system's external id (`rule` says which)."""

    reason = Reason.NOT_YOUR_SYSTEM

    def __init__(self, field: str, system: str, rule: str = "") -> None:
        rule = rule or f"an integrator for {system} writes only records of source system {system}"
        super().__init__(f"{field}: {rule}", field=field, system=system)


class PurposeNotAllowed(PermissionDenied):
    """An integrator wrote a record for a purpose its system is not configured for."""

    reason = Reason.PURPOSE_NOT_ALLOWED

    def __init__(self, field: str, system: str, purpose: str) -> None:
        super().__init__(
            f"{field}: system {system} is not configured for purpose {purpose} "
            f"(settings: [systems.{system}] purposes)",
            field=field,
            purpose=purpose,
        )


class PurposeMismatch(PermissionDenied):
    """A read for a purpose the record is neither held for nor compatible with."""

    reason = Reason.PURPOSE_MISMATCH

    def __init__(self, purpose: str, held_for: str, field: str = "purpose") -> None:
        super().__init__(
            f"{field}: the record is held for {held_for}, and {purpose} is neither that "
            f"nor configured as compatible with it ([purposes.{held_for}] compatible_with)",
            field=field,
            purpose=purpose,
            held_for=held_for,
        )


class RateLimited(VaultError):
    """The caller made more calls than its rate allows (or, `counted`, more of
    some kind of call: refused authentications); `retry_after` says when to
    try again."""

    reason = Reason.RATE_LIMITED

    def __init__(self, limit: float, retry_after_seconds: float, counted: str = "calls") -> None:
        super().__init__(
            f"more than {limit:g} {counted} a second from this caller; try again in "
            f"{retry_after_seconds:.1f} s",
            limit=f"{limit:g}",
        )
        self.retry_after_seconds = retry_after_seconds


class Unavailable(VaultError):
    """The vault cannot do the operation now, through no fault of the
    caller's; the same call may succeed later. A kind: raise a subclass."""

    reason = "UNAVAILABLE"


class AuditUnavailable(Unavailable):
    """The operation's audit event could not be written, so the operation was
    not done: a change rolled back with it, a read answered nothing (the
    trail fails closed). Raised by a store's audit writes as well."""

    reason = Reason.AUDIT_UNAVAILABLE

    def __init__(self, why: str = "the audit trail could not be written") -> None:
        super().__init__(f"{why}; the operation was not done, try again shortly")
