"""AccessService: a thin translator over the vault's API tokens (vault.core.tokens).

Who may call it is the permission table's to say (the admin); the same can be
done offline with `consent-vault tokens`.
"""

from __future__ import annotations

import datetime as dt

from vault.core.actor import Role
from vault.core.errors import InvalidArgument
from vault.core.tokens import LONGEST, Token, Tokens
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb

ROLE_TO_PB = {
    Role.INTEGRATOR: pb.ROLE_INTEGRATOR,
    Role.PRIVACY_OFFICER: pb.ROLE_PRIVACY_OFFICER,
    Role.AUDITOR: pb.ROLE_AUDITOR,
    Role.ADMIN: pb.ROLE_ADMIN,
}
ROLE_FROM_PB = {number: role for role, number in ROLE_TO_PB.items()}


class AccessService:
    def __init__(self, services: VaultServices) -> None:
        self.tokens: Tokens = services.vault.tokens

    def CreateToken(
        self, request: pb.CreateTokenRequest, context: CallContext
    ) -> pb.CreateTokenResponse:
        role = ROLE_FROM_PB.get(request.role)
        if role is None:
            raise InvalidArgument("role", "must be a known Role")
        expires_in = None
        if request.expires_in_seconds:
            if not 0 < request.expires_in_seconds <= LONGEST.total_seconds():
                raise InvalidArgument(
                    "expires_in_seconds", "must be more than 0 and at most 100 years, or 0"
                )
            expires_in = dt.timedelta(seconds=request.expires_in_seconds)
        issued = self.tokens.create(
            actor_of(context),
            role,
            system=request.system,
            expires_in=expires_in,
            name=request.display_name,
            default_purpose=request.default_purpose,
        )
        return pb.CreateTokenResponse(token=token_message(issued.token), secret=issued.secret)

    def ListTokens(
        self, request: pb.ListTokensRequest, context: CallContext
    ) -> pb.ListTokensResponse:
        listed = self.tokens.list(actor_of(context), show_inactive=request.show_inactive)
        newest_first = sorted(listed, key=lambda token: token.created_at, reverse=True)
        return pb.ListTokensResponse(tokens=[token_message(token) for token in newest_first])

    def RevokeToken(
        self, request: pb.RevokeTokenRequest, context: CallContext
    ) -> pb.RevokeTokenResponse:
        token = self.tokens.revoke(actor_of(context), request.name)
        return pb.RevokeTokenResponse(token=token_message(token))


def token_message(token: Token) -> pb.Token:
    """A token as the API lists it: never its secret."""
    message = pb.Token(
        name=token.resource_name,
        display_name=token.name,
        role=ROLE_TO_PB[token.role],
        system=token.system,
        create_time=convert.timestamp(token.created_at),
        default_purpose=token.default_purpose,
    )
    for field, moment in (
        ("expire_time", token.expires_at),
        ("revoke_time", token.revoked_at),
        ("last_use_time", token.last_used_at),
    ):
        if moment is not None:
            getattr(message, field).CopyFrom(convert.timestamp(moment))
    return message
