"""A typed Python client for the consent vault's gRPC API.

with VaultClient("127.0.0.1:50051", token_file="vault-data/tokens/privacy_officer.token") as vault:
    anna = vault.create_subject([Identity("personnummer", "19811218-9876")], roles=["student"])
    vault.create_record(anna.name, category="contact", purpose="course_delivery",
                        legal_basis="contract", source_system="lms", fields={"city": "Malmö"})
"""

from vault_client.client import VaultClient
from vault_client.credentials import CredentialsError, PlaintextRefused
from vault_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResourceExhaustedError,
    ServerUnreachableError,
    SubjectErasedError,
    UnauthenticatedError,
    UnavailableError,
    VaultClientError,
)
from vault_client.types import (
    AuditEvent,
    CategoryErasure,
    ConnectorInfo,
    ConsistencyProof,
    Content,
    ErasureItem,
    ErasureRequest,
    ErasureStep,
    ExportSummary,
    HeldCategory,
    Identity,
    ImportSummary,
    InclusionProof,
    IssuedToken,
    NewSubject,
    Record,
    Subject,
    Token,
    TreeHead,
    TreeHeadWithKey,
)

__all__ = [
    "AlreadyExistsError",
    "AuditEvent",
    "CategoryErasure",
    "ConnectorInfo",
    "ConsistencyProof",
    "Content",
    "CredentialsError",
    "ErasureItem",
    "ErasureRequest",
    "ErasureStep",
    "ExportSummary",
    "FailedPreconditionError",
    "HeldCategory",
    "Identity",
    "ImportSummary",
    "InclusionProof",
    "InvalidArgumentError",
    "IssuedToken",
    "NewSubject",
    "NotFoundError",
    "PermissionDeniedError",
    "PlaintextRefused",
    "RateLimitedError",
    "Record",
    "ResourceExhaustedError",
    "ServerUnreachableError",
    "Subject",
    "SubjectErasedError",
    "Token",
    "TreeHead",
    "TreeHeadWithKey",
    "UnauthenticatedError",
    "UnavailableError",
    "VaultClient",
    "VaultClientError",
]
