"""AccessService over gRPC, as an admin: a token is created with its secret
shown once, listed without it, revoked, and refused from then on."""

from __future__ import annotations

import time

import grpc
import pytest

from tests.helpers import error_info
from tests.serving import channel_to
from vault.core.actor import Role
from vault.core.errors import Reason
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


def test_an_admin_creates_lists_and_revokes_a_token_and_the_revoked_one_is_refused(
    server: RunningServer,
) -> None:
    with channel_to(server, Role.ADMIN) as admin_channel:
        access = pb_grpc.AccessServiceStub(admin_channel)
        created = access.CreateToken(
            pb.CreateTokenRequest(
                role=pb.ROLE_INTEGRATOR,
                system="lms",
                display_name="LMS nightly sync",
                expires_in_seconds=90 * 86_400,
            )
        )
        token, secret = created.token, created.secret
        assert secret.startswith(f"cvt_{token.name.removeprefix('tokens/')}_")
        assert (token.role, token.system, token.display_name) == (
            pb.ROLE_INTEGRATOR,
            "lms",
            "LMS nightly sync",
        )
        assert token.expire_time.ToSeconds() - token.create_time.ToSeconds() == 90 * 86_400
        assert not token.HasField("revoke_time") and not token.HasField("last_use_time")

        # The new token works for what an integrator may do.
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as bare:
            as_lms = (("authorization", f"Bearer {secret}"),)
            subjects = pb_grpc.SubjectServiceStub(bare)
            with pytest.raises(grpc.RpcError) as raised:
                subjects.GetSubject(
                    pb.GetSubjectRequest(name="subjects/0123456789abcdef0123456789abcdef"),
                    metadata=as_lms,
                )
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # past the gate

            listed = access.ListTokens(pb.ListTokensRequest())
            assert token.name in [t.name for t in listed.tokens]
            assert secret not in str(listed) and secret.encode() not in listed.SerializeToString()
            # The last use is written after the call, off its path: soon, not at once.
            deadline = time.monotonic() + 10
            while not next(t for t in listed.tokens if t.name == token.name).HasField(
                "last_use_time"
            ):
                assert time.monotonic() < deadline, "the last use was never written"
                time.sleep(0.01)
                listed = access.ListTokens(pb.ListTokensRequest())

            revoked = access.RevokeToken(pb.RevokeTokenRequest(name=token.name)).token
            assert revoked.HasField("revoke_time")
            # Revoking again answers the same.
            again = access.RevokeToken(pb.RevokeTokenRequest(name=token.name)).token
            assert again.revoke_time == revoked.revoke_time

            with pytest.raises(grpc.RpcError) as raised:
                subjects.GetSubject(pb.GetSubjectRequest(name="subjects/x"), metadata=as_lms)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error_info(raised.value).reason == Reason.TOKEN_REVOKED

        active = access.ListTokens(pb.ListTokensRequest()).tokens
        assert token.name not in [t.name for t in active]
        everything = access.ListTokens(pb.ListTokensRequest(show_inactive=True)).tokens
        assert token.name in [t.name for t in everything]


def test_bad_token_requests_name_the_field_and_an_unknown_token_is_not_found(
    server: RunningServer,
) -> None:
    with channel_to(server, Role.ADMIN) as channel:
        access = pb_grpc.AccessServiceStub(channel)
        bad = [
            (pb.CreateTokenRequest(), "role"),
            (pb.CreateTokenRequest(role=pb.ROLE_INTEGRATOR), "system"),
            (pb.CreateTokenRequest(role=pb.ROLE_AUDITOR, system="lms"), "system"),
            (
                pb.CreateTokenRequest(role=pb.ROLE_ADMIN, expires_in_seconds=-5),
                "expires_in_seconds",
            ),
        ]
        for request, field in bad:
            with pytest.raises(grpc.RpcError) as raised:
                access.CreateToken(request)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_info(raised.value).metadata["field"] == field
        with pytest.raises(grpc.RpcError) as raised:
            access.RevokeToken(pb.RevokeTokenRequest(name="tokens/abcdefghijkl"))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_info(raised.value).reason == Reason.TOKEN_NOT_FOUND
        # Of the right form but no id the vault issues: no such token either.
        with pytest.raises(grpc.RpcError) as raised:
            access.RevokeToken(pb.RevokeTokenRequest(name="tokens/nosuch"))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_info(raised.value).reason == Reason.TOKEN_NOT_FOUND
        with pytest.raises(grpc.RpcError) as raised:
            access.RevokeToken(pb.RevokeTokenRequest(name="lms"))
        assert error_info(raised.value).metadata["field"] == "name"


def test_only_an_admin_manages_tokens(server: RunningServer) -> None:
    with channel_to(server, Role.PRIVACY_OFFICER) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.AccessServiceStub(channel).ListTokens(pb.ListTokensRequest())
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(raised.value).reason == Reason.ROLE_NOT_ALLOWED


def test_an_admin_issues_every_token_but_a_privacy_officers_which_is_made_offline(
    server: RunningServer,
) -> None:
    with channel_to(server, Role.ADMIN) as channel:
        access = pb_grpc.AccessServiceStub(channel)
        before = {
            t.name for t in access.ListTokens(pb.ListTokensRequest(show_inactive=True)).tokens
        }
        with pytest.raises(grpc.RpcError) as raised:
            access.CreateToken(pb.CreateTokenRequest(role=pb.ROLE_PRIVACY_OFFICER))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        info = error_info(raised.value)
        assert info.reason == Reason.ROLE_NOT_ALLOWED
        assert dict(info.metadata) == {
            "field": "role",
            "role": "admin",
            "token_role": "privacy_officer",
        }
        assert "consent-vault tokens create" in raised.value.details()
        after = access.ListTokens(pb.ListTokensRequest(show_inactive=True)).tokens
        assert {t.name for t in after} == before  # nothing was issued
        for role, system in (
            (pb.ROLE_INTEGRATOR, "lms"),
            (pb.ROLE_AUDITOR, ""),
            (pb.ROLE_ADMIN, ""),
        ):
            issued = access.CreateToken(pb.CreateTokenRequest(role=role, system=system)).token
            assert issued.role == role
