"""A typed Python client for the consent vault's gRPC API.

with VaultClient("127.0.0.1:50051") as vault:
    anna = vault.create_subject([Identity("personnummer", "19811218-9876")], roles=["student"])
    vault.create_record(anna.name, category="contact", purpose="course_delivery",
                        legal_basis="contract", source_system="lms", fields={"city": "Malmö"})
"""

from vault_client.client import VaultClient
from vault_client.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ServerUnreachableError,
    SubjectErasedError,
    UnavailableError,
    VaultClientError,
)
from vault_client.types import (
    CategoryErasure,
    ConnectorInfo,
    Content,
    ErasureItem,
    ErasureRequest,
    ErasureStep,
    ExportSummary,
    HeldCategory,
    Identity,
    ImportSummary,
    NewSubject,
    Record,
    Subject,
)

__all__ = [
    "AlreadyExistsError",
    "CategoryErasure",
    "ConnectorInfo",
    "Content",
    "ErasureItem",
    "ErasureRequest",
    "ErasureStep",
    "ExportSummary",
    "FailedPreconditionError",
    "HeldCategory",
    "Identity",
    "ImportSummary",
    "InvalidArgumentError",
    "NewSubject",
    "NotFoundError",
    "Record",
    "ServerUnreachableError",
    "Subject",
    "SubjectErasedError",
    "UnavailableError",
    "VaultClient",
    "VaultClientError",
]
