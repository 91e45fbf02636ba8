"""Which audit operation each RPC is (vault.core.audit.events.Operation): the
edge names a call that failed by the operation it asked for, so the trail
reads "erase subject: SUBJECT_NOT_FOUND" rather than a method path. Every
RPC of the descriptors has a line here (tests/integration/test_audit_every_rpc.py).
"""

from __future__ import annotations

from vault.core.audit.events import Operation

_OPERATIONS = {
    "SubjectService": {
        "CreateSubject": Operation.CREATE_SUBJECT,
        "ImportSubjects": Operation.IMPORT_SUBJECTS,
        "GetSubject": Operation.GET_SUBJECT,
        "FindSubject": Operation.FIND_SUBJECT,
        "UpdateSubject": Operation.UPDATE_SUBJECT,
        "AddIdentity": Operation.ADD_IDENTITY,
        "RectifyIdentity": Operation.RECTIFY_IDENTITY,
        "RemoveIdentity": Operation.REMOVE_IDENTITY,
        "ExportSubject": Operation.EXPORT_SUBJECT,
        "EraseSubject": Operation.ERASE_SUBJECT,
    },
    "RecordService": {
        "CreateRecord": Operation.CREATE_RECORD,
        "GetRecord": Operation.GET_RECORD,
        "UpdateRecord": Operation.UPDATE_RECORD,
        "ListRecords": Operation.LIST_RECORDS,
        "StreamRecords": Operation.STREAM_RECORDS,
        "ImportRecords": Operation.IMPORT_RECORDS,
        "EraseCategory": Operation.ERASE_CATEGORY,
    },
    "ErasureService": {
        "GetErasureRequest": Operation.GET_ERASURE_REQUEST,
        "ListErasureRequests": Operation.LIST_ERASURE_REQUESTS,
        "WatchErasureRequest": Operation.WATCH_ERASURE_REQUEST,
        "RetryErasureRequest": Operation.RETRY_ERASURE_REQUEST,
        "ConfirmManualAction": Operation.CONFIRM_MANUAL_ACTION,
        "DecideMatch": Operation.DECIDE_MATCH,
    },
    "ConnectorService": {
        "ListConnectors": Operation.LIST_CONNECTORS,
        "CheckConnector": Operation.CHECK_CONNECTOR,
    },
    "AccessService": {
        "CreateToken": Operation.CREATE_TOKEN,
        "ListTokens": Operation.LIST_TOKENS,
        "RevokeToken": Operation.REVOKE_TOKEN,
    },
    "AuditService": {
        "ListAuditEvents": Operation.LIST_AUDIT_EVENTS,
        "GetTreeHead": Operation.GET_TREE_HEAD,
        "GetInclusionProof": Operation.GET_INCLUSION_PROOF,
        "GetConsistencyProof": Operation.GET_CONSISTENCY_PROOF,
    },
    "ConsentService": {
        "RecordConsent": Operation.RECORD_CONSENT,
        "GetConsentState": Operation.GET_CONSENT_STATE,
        "ListConsentEvents": Operation.LIST_CONSENT_EVENTS,
        "ExportConsentRecords": Operation.EXPORT_CONSENT_RECORDS,
        "RecordRestriction": Operation.RECORD_RESTRICTION,
        "RecordObjection": Operation.RECORD_OBJECTION,
        "LiftProcessingLimit": Operation.LIFT_PROCESSING_LIMIT,
        "RecordOverridingGrounds": Operation.RECORD_OVERRIDING_GROUNDS,
        "StreamContactable": Operation.STREAM_CONTACTABLE,
    },
    "PolicyService": {
        "ListPurposes": Operation.LIST_PURPOSES,
        "PublishPolicyVersion": Operation.PUBLISH_POLICY_VERSION,
        "ListPolicyVersions": Operation.LIST_POLICY_VERSIONS,
        "ListReconsentNeeded": Operation.LIST_RECONSENT_NEEDED,
        "StreamReconsentNeeded": Operation.STREAM_RECONSENT_NEEDED,
    },
}

# By full method name, as the edge sees it: "/vault.v1.SubjectService/GetSubject".
OPERATION_OF: dict[str, Operation] = {
    f"/vault.v1.{service}/{method}": operation
    for service, methods in _OPERATIONS.items()
    for method, operation in methods.items()
}


def operation_of(method: str) -> str:
    """The operation a full method name asks for; a method without one (only
    the health check, which is no operation on personal data) is named as itself."""
    return OPERATION_OF.get(method, method)
