"""Which role may make which call: the one table the edge checks
(vault.server.access), before anything is looked up. Deny by default: a
method missing here is refused to every role, so a new RPC is closed until
someone writes its line.

What a permitted caller then sees of the data (an integrator's own system,
a protected identity masked) is the core's to decide (vault.core.access).
The README's role matrix shows this table, and tests/integration/
test_role_matrix.py checks the server against a matrix of its own.
"""

from __future__ import annotations

from vault.core.actor import Role

INTEGRATOR = Role.INTEGRATOR
OFFICER = Role.PRIVACY_OFFICER
AUDITOR = Role.AUDITOR
ADMIN = Role.ADMIN

ALLOWED: dict[str, frozenset[Role]] = {
    # A source system registers and finds the people it serves, and adds its
    # own id for them; only the privacy officer changes who someone is.
    "/vault.v1.SubjectService/CreateSubject": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.SubjectService/ImportSubjects": frozenset({OFFICER}),
    "/vault.v1.SubjectService/GetSubject": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.SubjectService/FindSubject": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.SubjectService/UpdateSubject": frozenset({OFFICER}),
    "/vault.v1.SubjectService/AddIdentity": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.SubjectService/RectifyIdentity": frozenset({OFFICER}),
    "/vault.v1.SubjectService/RemoveIdentity": frozenset({OFFICER}),
    "/vault.v1.SubjectService/ExportSubject": frozenset({OFFICER}),
    "/vault.v1.SubjectService/EraseSubject": frozenset({OFFICER}),
    # Records: an integrator its own system's (the core checks which).
    "/vault.v1.RecordService/CreateRecord": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/GetRecord": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/UpdateRecord": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/ListRecords": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/StreamRecords": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/ImportRecords": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.RecordService/EraseCategory": frozenset({OFFICER}),
    # Erasure requests are the record of what was done: the auditor reads them.
    "/vault.v1.ErasureService/GetErasureRequest": frozenset({OFFICER, AUDITOR}),
    "/vault.v1.ErasureService/ListErasureRequests": frozenset({OFFICER, AUDITOR}),
    "/vault.v1.ErasureService/WatchErasureRequest": frozenset({OFFICER, AUDITOR}),
    "/vault.v1.ErasureService/RetryErasureRequest": frozenset({OFFICER}),
    "/vault.v1.ErasureService/ConfirmManualAction": frozenset({OFFICER}),
    "/vault.v1.ErasureService/DecideMatch": frozenset({OFFICER}),
    # Connectors hold no personal data in these answers; the privacy officer
    # looks at them to see which systems a request will reach.
    "/vault.v1.ConnectorService/ListConnectors": frozenset({ADMIN, OFFICER}),
    "/vault.v1.ConnectorService/CheckConnector": frozenset({ADMIN, OFFICER}),
    "/vault.v1.AccessService/CreateToken": frozenset({ADMIN}),
    "/vault.v1.AccessService/ListTokens": frozenset({ADMIN}),
    "/vault.v1.AccessService/RevokeToken": frozenset({ADMIN}),
    # The audit trail names people by pseudonym only: the auditor reads it, and
    # the privacy officer, who answers for what was done.
    "/vault.v1.AuditService/ListAuditEvents": frozenset({AUDITOR, OFFICER}),
    "/vault.v1.AuditService/GetTreeHead": frozenset({AUDITOR, OFFICER}),
    "/vault.v1.AuditService/GetInclusionProof": frozenset({AUDITOR, OFFICER}),
    "/vault.v1.AuditService/GetConsistencyProof": frozenset({AUDITOR, OFFICER}),
    # Consent is evidence: an integrator records what its own system
    # collected and reads it back (the core keeps it to its system's
    # purposes); the auditor reads it; only the privacy officer exports it.
    "/vault.v1.ConsentService/RecordConsent": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.ConsentService/GetConsentState": frozenset({INTEGRATOR, OFFICER, AUDITOR}),
    "/vault.v1.ConsentService/ListConsentEvents": frozenset({INTEGRATOR, OFFICER, AUDITOR}),
    "/vault.v1.ConsentService/ExportConsentRecords": frozenset({OFFICER}),
    # A restriction, its lifting and the grounds that override an objection
    # are the privacy officer's decisions; an objection may also come from a
    # source system (an unsubscribe link), for its own system's purposes.
    "/vault.v1.ConsentService/RecordRestriction": frozenset({OFFICER}),
    "/vault.v1.ConsentService/RecordObjection": frozenset({INTEGRATOR, OFFICER}),
    "/vault.v1.ConsentService/LiftProcessingLimit": frozenset({OFFICER}),
    "/vault.v1.ConsentService/RecordOverridingGrounds": frozenset({OFFICER}),
    # A mailing's list: an integrator for its system's purposes.
    "/vault.v1.ConsentService/StreamContactable": frozenset({INTEGRATOR, OFFICER}),
    # The purposes and the policy versions are configuration, no one's
    # personal data: every role reads them; only the privacy officer
    # publishes a version. Who must consent again is read by those who ask
    # them (an integrator, for its own system's purposes) and by the auditor,
    # paged or as a stream: the same people either way.
    "/vault.v1.PolicyService/ListPurposes": frozenset({INTEGRATOR, OFFICER, AUDITOR, ADMIN}),
    "/vault.v1.PolicyService/PublishPolicyVersion": frozenset({OFFICER}),
    "/vault.v1.PolicyService/ListPolicyVersions": frozenset({INTEGRATOR, OFFICER, AUDITOR, ADMIN}),
    "/vault.v1.PolicyService/ListReconsentNeeded": frozenset({INTEGRATOR, OFFICER, AUDITOR}),
    "/vault.v1.PolicyService/StreamReconsentNeeded": frozenset({INTEGRATOR, OFFICER, AUDITOR}),
}


def allowed(method: str, role: Role) -> bool:
    """May `role` call `method` (`/package.Service/Method`)?"""
    return role in ALLOWED.get(method, frozenset())
