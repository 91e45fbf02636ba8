"""Small helpers shared by tests: reading rich error details, building
requests, ageing the keyring."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vault.v1 import vault_pb2 as pb

if TYPE_CHECKING:
    from vault.core.vault import Vault


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("the error carries no ErrorInfo")


def pnr(value: str) -> pb.Identity:
    return pb.Identity(kind=pb.IDENTITY_KIND_PERSONNUMMER, value=value)


def email(value: str) -> pb.Identity:
    return pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value=value)


def record(category: str = "contact", **fields: object) -> pb.Record:
    message = pb.Record(
        category=category,
        purpose="course_delivery",
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system="lms",
    )
    message.fields.update(fields or {"city": "Malmö"})
    return message


def backdate(vault: Vault, days: int) -> None:
    """Every live version made `days` before the vault's clock says now (the
    keyring the fixture made was stamped by the wall clock, not the test's)."""
    ring = vault.keyring
    made = vault.clock.now() - dt.timedelta(days=days)
    vault.keyrings.replace(
        dataclasses.replace(
            ring,
            versions={v: dataclasses.replace(k, created_at=made) for v, k in ring.versions.items()},
        )
    )
