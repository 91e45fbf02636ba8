import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdentityKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTITY_KIND_UNSPECIFIED: _ClassVar[IdentityKind]
    IDENTITY_KIND_PERSONNUMMER: _ClassVar[IdentityKind]
    IDENTITY_KIND_EMAIL: _ClassVar[IdentityKind]
    IDENTITY_KIND_PHONE: _ClassVar[IdentityKind]
    IDENTITY_KIND_EXTERNAL_ID: _ClassVar[IdentityKind]

class LegalBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEGAL_BASIS_UNSPECIFIED: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONSENT: _ClassVar[LegalBasis]
    LEGAL_BASIS_CONTRACT: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGAL_OBLIGATION: _ClassVar[LegalBasis]
    LEGAL_BASIS_VITAL_INTERESTS: _ClassVar[LegalBasis]
    LEGAL_BASIS_PUBLIC_TASK: _ClassVar[LegalBasis]
    LEGAL_BASIS_LEGITIMATE_INTEREST: _ClassVar[LegalBasis]

class SubjectState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_STATE_UNSPECIFIED: _ClassVar[SubjectState]
    SUBJECT_STATE_ACTIVE: _ClassVar[SubjectState]
    SUBJECT_STATE_ERASURE_PENDING: _ClassVar[SubjectState]
    SUBJECT_STATE_ERASED: _ClassVar[SubjectState]

class ExportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_STATE_UNSPECIFIED: _ClassVar[ExportState]
    EXPORT_STATE_RUNNING: _ClassVar[ExportState]
    EXPORT_STATE_DONE: _ClassVar[ExportState]
    EXPORT_STATE_FAILED: _ClassVar[ExportState]
    EXPORT_STATE_NO_MATCH: _ClassVar[ExportState]
    EXPORT_STATE_WITHHELD: _ClassVar[ExportState]

class ErasureRequestState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERASURE_REQUEST_STATE_UNSPECIFIED: _ClassVar[ErasureRequestState]
    ERASURE_REQUEST_STATE_PENDING: _ClassVar[ErasureRequestState]
    ERASURE_REQUEST_STATE_IN_PROGRESS: _ClassVar[ErasureRequestState]
    ERASURE_REQUEST_STATE_PARTIALLY_COMPLETED: _ClassVar[ErasureRequestState]
    ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION: _ClassVar[ErasureRequestState]
    ERASURE_REQUEST_STATE_COMPLETED: _ClassVar[ErasureRequestState]

class ErasureStepState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERASURE_STEP_STATE_UNSPECIFIED: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_PENDING: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_RUNNING: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_RETRYING: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_SUCCEEDED: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_NEEDS_ATTENTION: _ClassVar[ErasureStepState]
    ERASURE_STEP_STATE_NOT_APPLICABLE: _ClassVar[ErasureStepState]

class ErasureOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERASURE_OUTCOME_UNSPECIFIED: _ClassVar[ErasureOutcome]
    ERASURE_OUTCOME_REMOVED: _ClassVar[ErasureOutcome]
    ERASURE_OUTCOME_RETAINED: _ClassVar[ErasureOutcome]
    ERASURE_OUTCOME_MANUAL_ACTION_REQUIRED: _ClassVar[ErasureOutcome]
    ERASURE_OUTCOME_NO_MATCH: _ClassVar[ErasureOutcome]
    ERASURE_OUTCOME_ALREADY_REMOVED: _ClassVar[ErasureOutcome]

class MatchDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_DECISION_UNSPECIFIED: _ClassVar[MatchDecision]
    MATCH_DECISION_SAME_PERSON: _ClassVar[MatchDecision]
    MATCH_DECISION_NOT_THIS_PERSON: _ClassVar[MatchDecision]

class ErasureScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERASURE_SCOPE_UNSPECIFIED: _ClassVar[ErasureScope]
    ERASURE_SCOPE_SUBJECT: _ClassVar[ErasureScope]
    ERASURE_SCOPE_PURPOSE: _ClassVar[ErasureScope]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_INTEGRATOR: _ClassVar[Role]
    ROLE_PRIVACY_OFFICER: _ClassVar[Role]
    ROLE_AUDITOR: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]

class SensitiveFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENSITIVE_FILTER_UNSPECIFIED: _ClassVar[SensitiveFilter]
    SENSITIVE_FILTER_ONLY: _ClassVar[SensitiveFilter]
    SENSITIVE_FILTER_EXCLUDED: _ClassVar[SensitiveFilter]

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_GIVEN: _ClassVar[ConsentStatus]
    CONSENT_STATUS_REFUSED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_WITHDRAWN: _ClassVar[ConsentStatus]
    CONSENT_STATUS_RENEWED: _ClassVar[ConsentStatus]

class ConsentChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_CHANNEL_UNSPECIFIED: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_WEB_FORM: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_EMAIL: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_IN_PERSON: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_PHONE: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_PAPER_FORM: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_SMS: _ClassVar[ConsentChannel]
    CONSENT_CHANNEL_OTHER: _ClassVar[ConsentChannel]

class ConsentStanding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STANDING_UNSPECIFIED: _ClassVar[ConsentStanding]
    CONSENT_STANDING_NOT_ASKED: _ClassVar[ConsentStanding]
    CONSENT_STANDING_GIVEN: _ClassVar[ConsentStanding]
    CONSENT_STANDING_RENEWED: _ClassVar[ConsentStanding]
    CONSENT_STANDING_REFUSED: _ClassVar[ConsentStanding]
    CONSENT_STANDING_WITHDRAWN: _ClassVar[ConsentStanding]
    CONSENT_STANDING_EXPIRED: _ClassVar[ConsentStanding]
    CONSENT_STANDING_RECONSENT_NEEDED: _ClassVar[ConsentStanding]

class ProcessingLimitKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESSING_LIMIT_KIND_UNSPECIFIED: _ClassVar[ProcessingLimitKind]
    PROCESSING_LIMIT_KIND_RESTRICTION: _ClassVar[ProcessingLimitKind]
    PROCESSING_LIMIT_KIND_OBJECTION: _ClassVar[ProcessingLimitKind]

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    INVALID_FIELD: _ClassVar[ErrorReason]
    MALFORMED_REQUEST: _ClassVar[ErrorReason]
    REQUEST_ID_REUSED: _ClassVar[ErrorReason]
    SUBJECT_NOT_FOUND: _ClassVar[ErrorReason]
    RECORD_NOT_FOUND: _ClassVar[ErrorReason]
    ERASURE_REQUEST_NOT_FOUND: _ClassVar[ErrorReason]
    ERASURE_STEP_NOT_FOUND: _ClassVar[ErrorReason]
    MANUAL_ACTION_NOT_FOUND: _ClassVar[ErrorReason]
    CONNECTOR_NOT_FOUND: _ClassVar[ErrorReason]
    IDENTITY_IN_USE: _ClassVar[ErrorReason]
    SUBJECT_ERASED: _ClassVar[ErrorReason]
    ERASURE_PENDING: _ClassVar[ErrorReason]
    CATEGORY_ERASED: _ClassVar[ErrorReason]
    NOTHING_TO_RETRY: _ClassVar[ErrorReason]
    ALREADY_CONFIRMED: _ClassVar[ErrorReason]
    NO_CONFLICT_TO_DECIDE: _ClassVar[ErrorReason]
    INTEGRITY_FAILURE: _ClassVar[ErrorReason]
    TOO_MANY_CALLS: _ClassVar[ErrorReason]
    INTERNAL: _ClassVar[ErrorReason]
    KEYRING_UNUSABLE: _ClassVar[ErrorReason]
    TOKEN_MISSING: _ClassVar[ErrorReason]
    TOKEN_MALFORMED: _ClassVar[ErrorReason]
    TOKEN_UNKNOWN: _ClassVar[ErrorReason]
    TOKEN_REVOKED: _ClassVar[ErrorReason]
    TOKEN_EXPIRED: _ClassVar[ErrorReason]
    ROLE_NOT_ALLOWED: _ClassVar[ErrorReason]
    NOT_YOUR_SYSTEM: _ClassVar[ErrorReason]
    PURPOSE_NOT_ALLOWED: _ClassVar[ErrorReason]
    RATE_LIMITED: _ClassVar[ErrorReason]
    TOKEN_NOT_FOUND: _ClassVar[ErrorReason]
    AUDIT_UNAVAILABLE: _ClassVar[ErrorReason]
    AUDIT_ENTRY_NOT_FOUND: _ClassVar[ErrorReason]
    POLICY_VERSION_NOT_FOUND: _ClassVar[ErrorReason]
    POLICY_VERSION_EXISTS: _ClassVar[ErrorReason]
    NO_CONSENT_TO_CHANGE: _ClassVar[ErrorReason]
    PURPOSE_MISMATCH: _ClassVar[ErrorReason]
    CONSENT_REQUIRED: _ClassVar[ErrorReason]
    OBJECTED: _ClassVar[ErrorReason]
    RESTRICTED: _ClassVar[ErrorReason]
    PROCESSING_LIMIT_NOT_FOUND: _ClassVar[ErrorReason]
    ALREADY_LIFTED: _ClassVar[ErrorReason]
    OBJECTION_ABSOLUTE: _ClassVar[ErrorReason]
IDENTITY_KIND_UNSPECIFIED: IdentityKind
IDENTITY_KIND_PERSONNUMMER: IdentityKind
IDENTITY_KIND_EMAIL: IdentityKind
IDENTITY_KIND_PHONE: IdentityKind
IDENTITY_KIND_EXTERNAL_ID: IdentityKind
LEGAL_BASIS_UNSPECIFIED: LegalBasis
LEGAL_BASIS_CONSENT: LegalBasis
LEGAL_BASIS_CONTRACT: LegalBasis
LEGAL_BASIS_LEGAL_OBLIGATION: LegalBasis
LEGAL_BASIS_VITAL_INTERESTS: LegalBasis
LEGAL_BASIS_PUBLIC_TASK: LegalBasis
LEGAL_BASIS_LEGITIMATE_INTEREST: LegalBasis
SUBJECT_STATE_UNSPECIFIED: SubjectState
SUBJECT_STATE_ACTIVE: SubjectState
SUBJECT_STATE_ERASURE_PENDING: SubjectState
SUBJECT_STATE_ERASED: SubjectState
EXPORT_STATE_UNSPECIFIED: ExportState
EXPORT_STATE_RUNNING: ExportState
EXPORT_STATE_DONE: ExportState
EXPORT_STATE_FAILED: ExportState
EXPORT_STATE_NO_MATCH: ExportState
EXPORT_STATE_WITHHELD: ExportState
ERASURE_REQUEST_STATE_UNSPECIFIED: ErasureRequestState
ERASURE_REQUEST_STATE_PENDING: ErasureRequestState
ERASURE_REQUEST_STATE_IN_PROGRESS: ErasureRequestState
ERASURE_REQUEST_STATE_PARTIALLY_COMPLETED: ErasureRequestState
ERASURE_REQUEST_STATE_AWAITING_MANUAL_ACTION: ErasureRequestState
ERASURE_REQUEST_STATE_COMPLETED: ErasureRequestState
ERASURE_STEP_STATE_UNSPECIFIED: ErasureStepState
ERASURE_STEP_STATE_PENDING: ErasureStepState
ERASURE_STEP_STATE_RUNNING: ErasureStepState
ERASURE_STEP_STATE_RETRYING: ErasureStepState
ERASURE_STEP_STATE_SUCCEEDED: ErasureStepState
ERASURE_STEP_STATE_NEEDS_ATTENTION: ErasureStepState
ERASURE_STEP_STATE_NOT_APPLICABLE: ErasureStepState
ERASURE_OUTCOME_UNSPECIFIED: ErasureOutcome
ERASURE_OUTCOME_REMOVED: ErasureOutcome
ERASURE_OUTCOME_RETAINED: ErasureOutcome
ERASURE_OUTCOME_MANUAL_ACTION_REQUIRED: ErasureOutcome
ERASURE_OUTCOME_NO_MATCH: ErasureOutcome
ERASURE_OUTCOME_ALREADY_REMOVED: ErasureOutcome
MATCH_DECISION_UNSPECIFIED: MatchDecision
MATCH_DECISION_SAME_PERSON: MatchDecision
MATCH_DECISION_NOT_THIS_PERSON: MatchDecision
ERASURE_SCOPE_UNSPECIFIED: ErasureScope
ERASURE_SCOPE_SUBJECT: ErasureScope
ERASURE_SCOPE_PURPOSE: ErasureScope
ROLE_UNSPECIFIED: Role
ROLE_INTEGRATOR: Role
ROLE_PRIVACY_OFFICER: Role
ROLE_AUDITOR: Role
ROLE_ADMIN: Role
SENSITIVE_FILTER_UNSPECIFIED: SensitiveFilter
SENSITIVE_FILTER_ONLY: SensitiveFilter
SENSITIVE_FILTER_EXCLUDED: SensitiveFilter
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_GIVEN: ConsentStatus
CONSENT_STATUS_REFUSED: ConsentStatus
CONSENT_STATUS_WITHDRAWN: ConsentStatus
CONSENT_STATUS_RENEWED: ConsentStatus
CONSENT_CHANNEL_UNSPECIFIED: ConsentChannel
CONSENT_CHANNEL_WEB_FORM: ConsentChannel
CONSENT_CHANNEL_EMAIL: ConsentChannel
CONSENT_CHANNEL_IN_PERSON: ConsentChannel
CONSENT_CHANNEL_PHONE: ConsentChannel
CONSENT_CHANNEL_PAPER_FORM: ConsentChannel
CONSENT_CHANNEL_SMS: ConsentChannel
CONSENT_CHANNEL_OTHER: ConsentChannel
CONSENT_STANDING_UNSPECIFIED: ConsentStanding
CONSENT_STANDING_NOT_ASKED: ConsentStanding
CONSENT_STANDING_GIVEN: ConsentStanding
CONSENT_STANDING_RENEWED: ConsentStanding
CONSENT_STANDING_REFUSED: ConsentStanding
CONSENT_STANDING_WITHDRAWN: ConsentStanding
CONSENT_STANDING_EXPIRED: ConsentStanding
CONSENT_STANDING_RECONSENT_NEEDED: ConsentStanding
PROCESSING_LIMIT_KIND_UNSPECIFIED: ProcessingLimitKind
PROCESSING_LIMIT_KIND_RESTRICTION: ProcessingLimitKind
PROCESSING_LIMIT_KIND_OBJECTION: ProcessingLimitKind
ERROR_REASON_UNSPECIFIED: ErrorReason
INVALID_FIELD: ErrorReason
MALFORMED_REQUEST: ErrorReason
REQUEST_ID_REUSED: ErrorReason
SUBJECT_NOT_FOUND: ErrorReason
RECORD_NOT_FOUND: ErrorReason
ERASURE_REQUEST_NOT_FOUND: ErrorReason
ERASURE_STEP_NOT_FOUND: ErrorReason
MANUAL_ACTION_NOT_FOUND: ErrorReason
CONNECTOR_NOT_FOUND: ErrorReason
IDENTITY_IN_USE: ErrorReason
SUBJECT_ERASED: ErrorReason
ERASURE_PENDING: ErrorReason
CATEGORY_ERASED: ErrorReason
NOTHING_TO_RETRY: ErrorReason
ALREADY_CONFIRMED: ErrorReason
NO_CONFLICT_TO_DECIDE: ErrorReason
INTEGRITY_FAILURE: ErrorReason
TOO_MANY_CALLS: ErrorReason
INTERNAL: ErrorReason
KEYRING_UNUSABLE: ErrorReason
TOKEN_MISSING: ErrorReason
TOKEN_MALFORMED: ErrorReason
TOKEN_UNKNOWN: ErrorReason
TOKEN_REVOKED: ErrorReason
TOKEN_EXPIRED: ErrorReason
ROLE_NOT_ALLOWED: ErrorReason
NOT_YOUR_SYSTEM: ErrorReason
PURPOSE_NOT_ALLOWED: ErrorReason
RATE_LIMITED: ErrorReason
TOKEN_NOT_FOUND: ErrorReason
AUDIT_UNAVAILABLE: ErrorReason
AUDIT_ENTRY_NOT_FOUND: ErrorReason
POLICY_VERSION_NOT_FOUND: ErrorReason
POLICY_VERSION_EXISTS: ErrorReason
NO_CONSENT_TO_CHANGE: ErrorReason
PURPOSE_MISMATCH: ErrorReason
CONSENT_REQUIRED: ErrorReason
OBJECTED: ErrorReason
RESTRICTED: ErrorReason
PROCESSING_LIMIT_NOT_FOUND: ErrorReason
ALREADY_LIFTED: ErrorReason
OBJECTION_ABSOLUTE: ErrorReason

class Identity(_message.Message):
    __slots__ = ("kind", "value", "system")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    kind: IdentityKind
    value: str
    system: str
    def __init__(self, kind: _Optional[_Union[IdentityKind, str]] = ..., value: _Optional[str] = ..., system: _Optional[str] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("name", "identities", "roles", "protected_identity", "state", "create_time", "update_time", "masked")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    name: str
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    roles: _containers.RepeatedScalarFieldContainer[str]
    protected_identity: bool
    state: SubjectState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    masked: bool
    def __init__(self, name: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., roles: _Optional[_Iterable[str]] = ..., protected_identity: _Optional[bool] = ..., state: _Optional[_Union[SubjectState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., masked: _Optional[bool] = ...) -> None: ...

class Content(_message.Message):
    __slots__ = ("data", "media_type", "filename", "size", "sha256")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    media_type: str
    filename: str
    size: int
    sha256: str
    def __init__(self, data: _Optional[bytes] = ..., media_type: _Optional[str] = ..., filename: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("name", "category", "purpose", "legal_basis", "source_system", "fields", "content", "create_time", "update_time", "masked")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    name: str
    category: str
    purpose: str
    legal_basis: LegalBasis
    source_system: str
    fields: _struct_pb2.Struct
    content: Content
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    masked: bool
    def __init__(self, name: _Optional[str] = ..., category: _Optional[str] = ..., purpose: _Optional[str] = ..., legal_basis: _Optional[_Union[LegalBasis, str]] = ..., source_system: _Optional[str] = ..., fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., masked: _Optional[bool] = ...) -> None: ...

class CreateSubjectRequest(_message.Message):
    __slots__ = ("identities", "roles", "protected_identity", "request_id")
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    roles: _containers.RepeatedScalarFieldContainer[str]
    protected_identity: bool
    request_id: str
    def __init__(self, identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., roles: _Optional[_Iterable[str]] = ..., protected_identity: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSubjectResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class ImportSubjectsRequest(_message.Message):
    __slots__ = ("request_id", "subjects")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    subjects: _containers.RepeatedCompositeFieldContainer[ImportedSubject]
    def __init__(self, request_id: _Optional[str] = ..., subjects: _Optional[_Iterable[_Union[ImportedSubject, _Mapping]]] = ...) -> None: ...

class ImportedSubject(_message.Message):
    __slots__ = ("identities", "roles", "protected_identity", "records")
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    roles: _containers.RepeatedScalarFieldContainer[str]
    protected_identity: bool
    records: _containers.RepeatedCompositeFieldContainer[Record]
    def __init__(self, identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., roles: _Optional[_Iterable[str]] = ..., protected_identity: _Optional[bool] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class ImportSubjectsResponse(_message.Message):
    __slots__ = ("imported_subject_count", "imported_record_count", "subjects")
    IMPORTED_SUBJECT_COUNT_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    imported_subject_count: int
    imported_record_count: int
    subjects: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, imported_subject_count: _Optional[int] = ..., imported_record_count: _Optional[int] = ..., subjects: _Optional[_Iterable[str]] = ...) -> None: ...

class GetSubjectRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSubjectResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class FindSubjectRequest(_message.Message):
    __slots__ = ("identity",)
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ...) -> None: ...

class FindSubjectResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class UpdateSubjectRequest(_message.Message):
    __slots__ = ("name", "roles", "protected_identity", "update_mask", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    protected_identity: bool
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., protected_identity: _Optional[bool] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateSubjectResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class AddIdentityRequest(_message.Message):
    __slots__ = ("subject", "identity", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    identity: Identity
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., identity: _Optional[_Union[Identity, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddIdentityResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class RectifyIdentityRequest(_message.Message):
    __slots__ = ("subject", "old_identity", "new_identity", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    OLD_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    NEW_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    old_identity: Identity
    new_identity: Identity
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., old_identity: _Optional[_Union[Identity, _Mapping]] = ..., new_identity: _Optional[_Union[Identity, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RectifyIdentityResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class RemoveIdentityRequest(_message.Message):
    __slots__ = ("subject", "identity", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    identity: Identity
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., identity: _Optional[_Union[Identity, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveIdentityResponse(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ...) -> None: ...

class ExportSubjectRequest(_message.Message):
    __slots__ = ("name", "same_person_systems", "decided_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SAME_PERSON_SYSTEMS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    same_person_systems: _containers.RepeatedScalarFieldContainer[str]
    decided_by: str
    def __init__(self, name: _Optional[str] = ..., same_person_systems: _Optional[_Iterable[str]] = ..., decided_by: _Optional[str] = ...) -> None: ...

class ExportProgress(_message.Message):
    __slots__ = ("records_done", "records_total", "system", "state", "items", "error", "tried_kinds")
    RECORDS_DONE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRIED_KINDS_FIELD_NUMBER: _ClassVar[int]
    records_done: int
    records_total: int
    system: str
    state: ExportState
    items: int
    error: str
    tried_kinds: _containers.RepeatedScalarFieldContainer[IdentityKind]
    def __init__(self, records_done: _Optional[int] = ..., records_total: _Optional[int] = ..., system: _Optional[str] = ..., state: _Optional[_Union[ExportState, str]] = ..., items: _Optional[int] = ..., error: _Optional[str] = ..., tried_kinds: _Optional[_Iterable[_Union[IdentityKind, str]]] = ...) -> None: ...

class ExportSubjectResponse(_message.Message):
    __slots__ = ("progress", "archive_chunk")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    progress: ExportProgress
    archive_chunk: bytes
    def __init__(self, progress: _Optional[_Union[ExportProgress, _Mapping]] = ..., archive_chunk: _Optional[bytes] = ...) -> None: ...

class EraseSubjectRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class EraseSubjectResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class MatchConflict(_message.Message):
    __slots__ = ("disagreements", "kinds")
    DISAGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    disagreements: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[IdentityKind]
    def __init__(self, disagreements: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[IdentityKind, str]]] = ...) -> None: ...

class ErasureItem(_message.Message):
    __slots__ = ("outcome", "category", "description", "legal_reason", "retained_until", "manual_action", "instructions", "confirmed_by", "confirm_time", "tried_kinds")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LEGAL_REASON_FIELD_NUMBER: _ClassVar[int]
    RETAINED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    MANUAL_ACTION_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    TRIED_KINDS_FIELD_NUMBER: _ClassVar[int]
    outcome: ErasureOutcome
    category: str
    description: str
    legal_reason: str
    retained_until: str
    manual_action: str
    instructions: str
    confirmed_by: str
    confirm_time: _timestamp_pb2.Timestamp
    tried_kinds: _containers.RepeatedScalarFieldContainer[IdentityKind]
    def __init__(self, outcome: _Optional[_Union[ErasureOutcome, str]] = ..., category: _Optional[str] = ..., description: _Optional[str] = ..., legal_reason: _Optional[str] = ..., retained_until: _Optional[str] = ..., manual_action: _Optional[str] = ..., instructions: _Optional[str] = ..., confirmed_by: _Optional[str] = ..., confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tried_kinds: _Optional[_Iterable[_Union[IdentityKind, str]]] = ...) -> None: ...

class ErasureStep(_message.Message):
    __slots__ = ("system", "state", "attempts", "last_error", "next_attempt_time", "items", "update_time", "conflict", "notes", "decision", "decided_by", "decide_time")
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFLICT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    system: str
    state: ErasureStepState
    attempts: int
    last_error: str
    next_attempt_time: _timestamp_pb2.Timestamp
    items: _containers.RepeatedCompositeFieldContainer[ErasureItem]
    update_time: _timestamp_pb2.Timestamp
    conflict: MatchConflict
    notes: _containers.RepeatedScalarFieldContainer[str]
    decision: MatchDecision
    decided_by: str
    decide_time: _timestamp_pb2.Timestamp
    def __init__(self, system: _Optional[str] = ..., state: _Optional[_Union[ErasureStepState, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ErasureItem, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conflict: _Optional[_Union[MatchConflict, _Mapping]] = ..., notes: _Optional[_Iterable[str]] = ..., decision: _Optional[_Union[MatchDecision, str]] = ..., decided_by: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ErasureRequest(_message.Message):
    __slots__ = ("name", "subject", "state", "create_time", "deadline_time", "complete_time", "steps", "update_time", "scope", "purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    subject: str
    state: ErasureRequestState
    create_time: _timestamp_pb2.Timestamp
    deadline_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    steps: _containers.RepeatedCompositeFieldContainer[ErasureStep]
    update_time: _timestamp_pb2.Timestamp
    scope: ErasureScope
    purpose: str
    def __init__(self, name: _Optional[str] = ..., subject: _Optional[str] = ..., state: _Optional[_Union[ErasureRequestState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[ErasureStep, _Mapping]]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scope: _Optional[_Union[ErasureScope, str]] = ..., purpose: _Optional[str] = ...) -> None: ...

class GetErasureRequestRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetErasureRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class ListErasureRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: ErasureRequestState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[ErasureRequestState, str]] = ...) -> None: ...

class ListErasureRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ErasureRequest]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[ErasureRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchErasureRequestRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchErasureRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class RetryErasureRequestRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RetryErasureRequestResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class ConfirmManualActionRequest(_message.Message):
    __slots__ = ("name", "confirmed_by", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    confirmed_by: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., confirmed_by: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ConfirmManualActionResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class DecideMatchRequest(_message.Message):
    __slots__ = ("name", "decision", "decided_by", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: MatchDecision
    decided_by: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[MatchDecision, str]] = ..., decided_by: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DecideMatchResponse(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: ErasureRequest
    def __init__(self, request: _Optional[_Union[ErasureRequest, _Mapping]] = ...) -> None: ...

class HeldCategory(_message.Message):
    __slots__ = ("category", "description", "purpose", "legal_basis", "retention", "erasable", "legal_reason")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    ERASABLE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_REASON_FIELD_NUMBER: _ClassVar[int]
    category: str
    description: str
    purpose: str
    legal_basis: LegalBasis
    retention: str
    erasable: bool
    legal_reason: str
    def __init__(self, category: _Optional[str] = ..., description: _Optional[str] = ..., purpose: _Optional[str] = ..., legal_basis: _Optional[_Union[LegalBasis, str]] = ..., retention: _Optional[str] = ..., erasable: _Optional[bool] = ..., legal_reason: _Optional[str] = ...) -> None: ...

class Connector(_message.Message):
    __slots__ = ("name", "version", "enabled", "healthy", "health_detail", "description", "location", "holdings", "capabilities")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    HEALTH_DETAIL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOLDINGS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    enabled: bool
    healthy: bool
    health_detail: str
    description: str
    location: str
    holdings: _containers.RepeatedCompositeFieldContainer[HeldCategory]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., enabled: _Optional[bool] = ..., healthy: _Optional[bool] = ..., health_detail: _Optional[str] = ..., description: _Optional[str] = ..., location: _Optional[str] = ..., holdings: _Optional[_Iterable[_Union[HeldCategory, _Mapping]]] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class ListConnectorsRequest(_message.Message):
    __slots__ = ("check_health", "page_size", "page_token")
    CHECK_HEALTH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    check_health: bool
    page_size: int
    page_token: str
    def __init__(self, check_health: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConnectorsResponse(_message.Message):
    __slots__ = ("connectors", "next_page_token")
    CONNECTORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    connectors: _containers.RepeatedCompositeFieldContainer[Connector]
    next_page_token: str
    def __init__(self, connectors: _Optional[_Iterable[_Union[Connector, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CheckConnectorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CheckConnectorResponse(_message.Message):
    __slots__ = ("connector",)
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    connector: Connector
    def __init__(self, connector: _Optional[_Union[Connector, _Mapping]] = ...) -> None: ...

class CreateRecordRequest(_message.Message):
    __slots__ = ("parent", "record", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    record: Record
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., record: _Optional[_Union[Record, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRecordResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: Record
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("name", "purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    purpose: str
    def __init__(self, name: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class GetRecordResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: Record
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ("record", "update_mask", "request_id")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    record: Record
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateRecordResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: Record
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "category", "purpose")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    category: str
    purpose: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamRecordsRequest(_message.Message):
    __slots__ = ("parent", "category", "purpose")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    category: str
    purpose: str
    def __init__(self, parent: _Optional[str] = ..., category: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class StreamRecordsResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: Record
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class ImportRecordsRequest(_message.Message):
    __slots__ = ("request_id", "records")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    records: _containers.RepeatedCompositeFieldContainer[ImportedRecord]
    def __init__(self, request_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[ImportedRecord, _Mapping]]] = ...) -> None: ...

class ImportedRecord(_message.Message):
    __slots__ = ("parent", "record")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    parent: str
    record: Record
    def __init__(self, parent: _Optional[str] = ..., record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class ImportRecordsResponse(_message.Message):
    __slots__ = ("imported_count",)
    IMPORTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    imported_count: int
    def __init__(self, imported_count: _Optional[int] = ...) -> None: ...

class EraseCategoryRequest(_message.Message):
    __slots__ = ("parent", "category", "request_id", "purpose")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    category: str
    request_id: str
    purpose: str
    def __init__(self, parent: _Optional[str] = ..., category: _Optional[str] = ..., request_id: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class EraseCategoryResponse(_message.Message):
    __slots__ = ("category", "records_shredded", "erase_time", "purposes", "keys_destroyed")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RECORDS_SHREDDED_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    KEYS_DESTROYED_FIELD_NUMBER: _ClassVar[int]
    category: str
    records_shredded: int
    erase_time: _timestamp_pb2.Timestamp
    purposes: _containers.RepeatedScalarFieldContainer[str]
    keys_destroyed: int
    def __init__(self, category: _Optional[str] = ..., records_shredded: _Optional[int] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purposes: _Optional[_Iterable[str]] = ..., keys_destroyed: _Optional[int] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("name", "display_name", "role", "system", "create_time", "expire_time", "revoke_time", "last_use_time", "default_purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    role: Role
    system: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    last_use_time: _timestamp_pb2.Timestamp
    default_purpose: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., system: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., default_purpose: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("role", "system", "display_name", "expires_in_seconds", "default_purpose")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    role: Role
    system: str
    display_name: str
    expires_in_seconds: int
    default_purpose: str
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., system: _Optional[str] = ..., display_name: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ..., default_purpose: _Optional[str] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    token: Token
    secret: str
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("show_inactive",)
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    show_inactive: bool
    def __init__(self, show_inactive: _Optional[bool] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[Token]
    def __init__(self, tokens: _Optional[_Iterable[_Union[Token, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: Token
    def __init__(self, token: _Optional[_Union[Token, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("index", "time", "actor", "role", "system", "operation", "subject_pseudonym", "purpose", "sensitive", "result", "detail", "entry")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    index: int
    time: _timestamp_pb2.Timestamp
    actor: str
    role: str
    system: str
    operation: str
    subject_pseudonym: str
    purpose: str
    sensitive: bool
    result: str
    detail: str
    entry: bytes
    def __init__(self, index: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., role: _Optional[str] = ..., system: _Optional[str] = ..., operation: _Optional[str] = ..., subject_pseudonym: _Optional[str] = ..., purpose: _Optional[str] = ..., sensitive: _Optional[bool] = ..., result: _Optional[str] = ..., detail: _Optional[str] = ..., entry: _Optional[bytes] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "start_time", "end_time", "actor", "operation", "subject", "sensitive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    actor: str
    operation: str
    subject: str
    sensitive: SensitiveFilter
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., operation: _Optional[str] = ..., subject: _Optional[str] = ..., sensitive: _Optional[_Union[SensitiveFilter, str]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TreeHead(_message.Message):
    __slots__ = ("size", "root_hash", "time", "signature")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    size: int
    root_hash: bytes
    time: _timestamp_pb2.Timestamp
    signature: bytes
    def __init__(self, size: _Optional[int] = ..., root_hash: _Optional[bytes] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class GetTreeHeadRequest(_message.Message):
    __slots__ = ("size",)
    SIZE_FIELD_NUMBER: _ClassVar[int]
    size: int
    def __init__(self, size: _Optional[int] = ...) -> None: ...

class GetTreeHeadResponse(_message.Message):
    __slots__ = ("head", "public_key", "public_key_pem")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    head: TreeHead
    public_key: bytes
    public_key_pem: str
    def __init__(self, head: _Optional[_Union[TreeHead, _Mapping]] = ..., public_key: _Optional[bytes] = ..., public_key_pem: _Optional[str] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("index", "tree_size")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    index: int
    tree_size: int
    def __init__(self, index: _Optional[int] = ..., tree_size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("event", "head", "leaf_hash", "audit_path")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    AUDIT_PATH_FIELD_NUMBER: _ClassVar[int]
    event: AuditEvent
    head: TreeHead
    leaf_hash: bytes
    audit_path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, event: _Optional[_Union[AuditEvent, _Mapping]] = ..., head: _Optional[_Union[TreeHead, _Mapping]] = ..., leaf_hash: _Optional[bytes] = ..., audit_path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("first_size", "second_size")
    FIRST_SIZE_FIELD_NUMBER: _ClassVar[int]
    SECOND_SIZE_FIELD_NUMBER: _ClassVar[int]
    first_size: int
    second_size: int
    def __init__(self, first_size: _Optional[int] = ..., second_size: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("first", "second", "proof")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    first: TreeHead
    second: TreeHead
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, first: _Optional[_Union[TreeHead, _Mapping]] = ..., second: _Optional[_Union[TreeHead, _Mapping]] = ..., proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ConsentEvent(_message.Message):
    __slots__ = ("name", "purpose", "status", "time", "record_time", "policy_version", "channel", "evidence", "recorded_by", "source_system", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    purpose: str
    status: ConsentStatus
    time: _timestamp_pb2.Timestamp
    record_time: _timestamp_pb2.Timestamp
    policy_version: str
    channel: ConsentChannel
    evidence: str
    recorded_by: str
    source_system: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., purpose: _Optional[str] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy_version: _Optional[str] = ..., channel: _Optional[_Union[ConsentChannel, str]] = ..., evidence: _Optional[str] = ..., recorded_by: _Optional[str] = ..., source_system: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordConsentRequest(_message.Message):
    __slots__ = ("subject", "purposes", "status", "channel", "evidence", "policy_version", "time", "expire_time", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    status: ConsentStatus
    channel: ConsentChannel
    evidence: str
    policy_version: str
    time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[ConsentStatus, str]] = ..., channel: _Optional[_Union[ConsentChannel, str]] = ..., evidence: _Optional[str] = ..., policy_version: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordConsentResponse(_message.Message):
    __slots__ = ("events", "erasure_requests")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ERASURE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ConsentEvent]
    erasure_requests: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, events: _Optional[_Iterable[_Union[ConsentEvent, _Mapping]]] = ..., erasure_requests: _Optional[_Iterable[str]] = ...) -> None: ...

class GetConsentStateRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class PurposeConsent(_message.Message):
    __slots__ = ("purpose", "standing", "latest", "changed_by_version")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STANDING_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_VERSION_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    standing: ConsentStanding
    latest: ConsentEvent
    changed_by_version: str
    def __init__(self, purpose: _Optional[str] = ..., standing: _Optional[_Union[ConsentStanding, str]] = ..., latest: _Optional[_Union[ConsentEvent, _Mapping]] = ..., changed_by_version: _Optional[str] = ...) -> None: ...

class GetConsentStateResponse(_message.Message):
    __slots__ = ("purposes", "limits")
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[PurposeConsent]
    limits: _containers.RepeatedCompositeFieldContainer[ProcessingLimit]
    def __init__(self, purposes: _Optional[_Iterable[_Union[PurposeConsent, _Mapping]]] = ..., limits: _Optional[_Iterable[_Union[ProcessingLimit, _Mapping]]] = ...) -> None: ...

class ProcessingLimit(_message.Message):
    __slots__ = ("name", "kind", "purposes", "reason", "record_time", "recorded_by", "lift_time", "lifted_by", "lift_reason", "override_time", "overridden_by", "override_reason", "in_effect")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    LIFT_TIME_FIELD_NUMBER: _ClassVar[int]
    LIFTED_BY_FIELD_NUMBER: _ClassVar[int]
    LIFT_REASON_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_BY_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    IN_EFFECT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ProcessingLimitKind
    purposes: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    record_time: _timestamp_pb2.Timestamp
    recorded_by: str
    lift_time: _timestamp_pb2.Timestamp
    lifted_by: str
    lift_reason: str
    override_time: _timestamp_pb2.Timestamp
    overridden_by: str
    override_reason: str
    in_effect: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ProcessingLimitKind, str]] = ..., purposes: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recorded_by: _Optional[str] = ..., lift_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lifted_by: _Optional[str] = ..., lift_reason: _Optional[str] = ..., override_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overridden_by: _Optional[str] = ..., override_reason: _Optional[str] = ..., in_effect: _Optional[bool] = ...) -> None: ...

class RecordRestrictionRequest(_message.Message):
    __slots__ = ("subject", "purposes", "reason", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordRestrictionResponse(_message.Message):
    __slots__ = ("restriction",)
    RESTRICTION_FIELD_NUMBER: _ClassVar[int]
    restriction: ProcessingLimit
    def __init__(self, restriction: _Optional[_Union[ProcessingLimit, _Mapping]] = ...) -> None: ...

class RecordObjectionRequest(_message.Message):
    __slots__ = ("subject", "purposes", "reason", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    purposes: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    request_id: str
    def __init__(self, subject: _Optional[str] = ..., purposes: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordObjectionResponse(_message.Message):
    __slots__ = ("objection",)
    OBJECTION_FIELD_NUMBER: _ClassVar[int]
    objection: ProcessingLimit
    def __init__(self, objection: _Optional[_Union[ProcessingLimit, _Mapping]] = ...) -> None: ...

class LiftProcessingLimitRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class LiftProcessingLimitResponse(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: ProcessingLimit
    def __init__(self, limit: _Optional[_Union[ProcessingLimit, _Mapping]] = ...) -> None: ...

class RecordOverridingGroundsRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordOverridingGroundsResponse(_message.Message):
    __slots__ = ("objection",)
    OBJECTION_FIELD_NUMBER: _ClassVar[int]
    objection: ProcessingLimit
    def __init__(self, objection: _Optional[_Union[ProcessingLimit, _Mapping]] = ...) -> None: ...

class StreamContactableRequest(_message.Message):
    __slots__ = ("purpose", "resume_token", "page_size")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    resume_token: str
    page_size: int
    def __init__(self, purpose: _Optional[str] = ..., resume_token: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class Contactable(_message.Message):
    __slots__ = ("subject", "legal_basis", "consent_time", "policy_version")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TIME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    subject: str
    legal_basis: LegalBasis
    consent_time: _timestamp_pb2.Timestamp
    policy_version: str
    def __init__(self, subject: _Optional[str] = ..., legal_basis: _Optional[_Union[LegalBasis, str]] = ..., consent_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy_version: _Optional[str] = ...) -> None: ...

class StreamContactableResponse(_message.Message):
    __slots__ = ("people", "resume_token")
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    people: _containers.RepeatedCompositeFieldContainer[Contactable]
    resume_token: str
    def __init__(self, people: _Optional[_Iterable[_Union[Contactable, _Mapping]]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListConsentEventsRequest(_message.Message):
    __slots__ = ("subject", "purpose", "page_size", "page_token")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subject: str
    purpose: str
    page_size: int
    page_token: str
    def __init__(self, subject: _Optional[str] = ..., purpose: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConsentEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ConsentEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[ConsentEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportConsentRecordsRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    def __init__(self, subject: _Optional[str] = ...) -> None: ...

class ExportConsentRecordsResponse(_message.Message):
    __slots__ = ("document", "media_type", "record_count")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    document: bytes
    media_type: str
    record_count: int
    def __init__(self, document: _Optional[bytes] = ..., media_type: _Optional[str] = ..., record_count: _Optional[int] = ...) -> None: ...

class Purpose(_message.Message):
    __slots__ = ("name", "description", "legal_basis", "special_category_condition", "categories", "systems", "compatible_purposes", "material_changes", "direct_marketing")
    class DescriptionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    SPECIAL_CATEGORY_CONDITION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    SYSTEMS_FIELD_NUMBER: _ClassVar[int]
    COMPATIBLE_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_CHANGES_FIELD_NUMBER: _ClassVar[int]
    DIRECT_MARKETING_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: _containers.ScalarMap[str, str]
    legal_basis: LegalBasis
    special_category_condition: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    systems: _containers.RepeatedScalarFieldContainer[str]
    compatible_purposes: _containers.RepeatedScalarFieldContainer[str]
    material_changes: bool
    direct_marketing: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[_Mapping[str, str]] = ..., legal_basis: _Optional[_Union[LegalBasis, str]] = ..., special_category_condition: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., systems: _Optional[_Iterable[str]] = ..., compatible_purposes: _Optional[_Iterable[str]] = ..., material_changes: _Optional[bool] = ..., direct_marketing: _Optional[bool] = ...) -> None: ...

class ListPurposesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPurposesResponse(_message.Message):
    __slots__ = ("purposes",)
    PURPOSES_FIELD_NUMBER: _ClassVar[int]
    purposes: _containers.RepeatedCompositeFieldContainer[Purpose]
    def __init__(self, purposes: _Optional[_Iterable[_Union[Purpose, _Mapping]]] = ...) -> None: ...

class PolicyVersion(_message.Message):
    __slots__ = ("version", "effective_date", "publish_time", "published_by", "text_sha256", "url", "text", "changed_purposes", "material_purposes", "summary")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    version: str
    effective_date: str
    publish_time: _timestamp_pb2.Timestamp
    published_by: str
    text_sha256: str
    url: str
    text: str
    changed_purposes: _containers.RepeatedScalarFieldContainer[str]
    material_purposes: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    def __init__(self, version: _Optional[str] = ..., effective_date: _Optional[str] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., published_by: _Optional[str] = ..., text_sha256: _Optional[str] = ..., url: _Optional[str] = ..., text: _Optional[str] = ..., changed_purposes: _Optional[_Iterable[str]] = ..., material_purposes: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ...) -> None: ...

class PublishPolicyVersionRequest(_message.Message):
    __slots__ = ("version", "effective_date", "text", "text_sha256", "url", "changed_purposes", "material_purposes", "summary", "request_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CHANGED_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    MATERIAL_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    version: str
    effective_date: str
    text: str
    text_sha256: str
    url: str
    changed_purposes: _containers.RepeatedScalarFieldContainer[str]
    material_purposes: _containers.RepeatedScalarFieldContainer[str]
    summary: str
    request_id: str
    def __init__(self, version: _Optional[str] = ..., effective_date: _Optional[str] = ..., text: _Optional[str] = ..., text_sha256: _Optional[str] = ..., url: _Optional[str] = ..., changed_purposes: _Optional[_Iterable[str]] = ..., material_purposes: _Optional[_Iterable[str]] = ..., summary: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PublishPolicyVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: PolicyVersion
    def __init__(self, version: _Optional[_Union[PolicyVersion, _Mapping]] = ...) -> None: ...

class ListPolicyVersionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPolicyVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[PolicyVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[PolicyVersion, _Mapping]]] = ...) -> None: ...

class ReconsentNeeded(_message.Message):
    __slots__ = ("subject", "purpose", "given_under_version", "changed_by_version", "consent_time")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GIVEN_UNDER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONSENT_TIME_FIELD_NUMBER: _ClassVar[int]
    subject: str
    purpose: str
    given_under_version: str
    changed_by_version: str
    consent_time: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[str] = ..., purpose: _Optional[str] = ..., given_under_version: _Optional[str] = ..., changed_by_version: _Optional[str] = ..., consent_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListReconsentNeededRequest(_message.Message):
    __slots__ = ("purpose", "page_size", "page_token")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    page_size: int
    page_token: str
    def __init__(self, purpose: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReconsentNeededResponse(_message.Message):
    __slots__ = ("people", "next_page_token")
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    people: _containers.RepeatedCompositeFieldContainer[ReconsentNeeded]
    next_page_token: str
    def __init__(self, people: _Optional[_Iterable[_Union[ReconsentNeeded, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamReconsentNeededRequest(_message.Message):
    __slots__ = ("purpose",)
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    def __init__(self, purpose: _Optional[str] = ...) -> None: ...

class StreamReconsentNeededResponse(_message.Message):
    __slots__ = ("person",)
    PERSON_FIELD_NUMBER: _ClassVar[int]
    person: ReconsentNeeded
    def __init__(self, person: _Optional[_Union[ReconsentNeeded, _Mapping]] = ...) -> None: ...
