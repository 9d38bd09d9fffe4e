"""Access tokens carry the user's Rivane roles, as the group-mapping service says."""

from __future__ import annotations

from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protos.rivane.group_mapping.v1 import group_mapping_pb2
from services.session_revocation.errors import RolesUnavailable
from services.session_revocation.keys import signing_key_from_pem
from services.session_revocation.roles import UserRoles
from services.session_revocation.tokens import AccessTokens

ORG = "0b7f6c2e-0000-4000-8000-00000000a11c"
USER = "4e796e78-0000-4000-8000-0000000000a1"


class RolesStub:
    """What `UserRoles` calls on the group-mapping service."""

    def __init__(self, roles: list[str] | None) -> None:
        self._roles = roles
        self.asked: list[Any] = []

    async def GetUserRoles(self, request: Any, **options: Any) -> Any:
        self.asked.append(request)
        if self._roles is None:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details="down",
            )
        return group_mapping_pb2.GetUserRolesResponse(roles=self._roles)


def tokens() -> AccessTokens:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return AccessTokens(key=signing_key_from_pem(pem), issuer="rivane")


def test_signed_token_carries_the_roles_claim() -> None:
    signed = tokens().sign(
        org_id=ORG,
        user_id=USER,
        issued_at=1_800_000_000,
        ttl_seconds=60,
        roles=["billing.admin", "finance.approver"],
    )

    claims = jwt.decode(signed.token, options={"verify_signature": False})
    assert claims["roles"] == ["billing.admin", "finance.approver"]


def test_a_user_without_groups_gets_an_empty_roles_claim() -> None:
    signed = tokens().sign(org_id=ORG, user_id=USER, issued_at=1, ttl_seconds=60)

    assert jwt.decode(signed.token, options={"verify_signature": False})["roles"] == []


async def test_user_roles_asks_the_group_mapping_service() -> None:
    stub = RolesStub(["finance.approver"])

    roles = await UserRoles(stub).of(org_id=ORG, user_id=USER)

    assert roles == ["finance.approver"]
    assert (stub.asked[0].org_id, stub.asked[0].user_id) == (ORG, USER)


async def test_no_token_is_issued_without_the_roles() -> None:
    with pytest.raises(RolesUnavailable):
        await UserRoles(RolesStub(None)).of(org_id=ORG, user_id=USER)
