"""One role's stubs over one channel, for the tests that call the consent,
policy, record and audit services as a privacy officer, an integrator or an
auditor would."""

from __future__ import annotations

import grpc

from vault.v1 import vault_pb2_grpc as pb_grpc


class Caller:
    """Every service's stub over one channel (one token, one role)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.subjects = pb_grpc.SubjectServiceStub(channel)
        self.records = pb_grpc.RecordServiceStub(channel)
        self.consent = pb_grpc.ConsentServiceStub(channel)
        self.policy = pb_grpc.PolicyServiceStub(channel)
        self.audit = pb_grpc.AuditServiceStub(channel)
        self.access = pb_grpc.AccessServiceStub(channel)
