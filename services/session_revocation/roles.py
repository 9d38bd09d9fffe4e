"""A user's Rivane roles, asked of the group-mapping service when a token is issued.

The roles are the union of the roles mapped to the user's SCIM groups; the
token carries them in its `roles` claim. A token is never issued without
them: when the group-mapping service cannot answer, issuing fails and the
caller retries.
"""

from __future__ import annotations

from typing import Any

import grpc

from protos.rivane.group_mapping.v1 import group_mapping_pb2
from services.session_revocation.errors import RolesUnavailable


class UserRoles:
    """Ask `rivane.group_mapping.v1.GroupMappingService.GetUserRoles`."""

    def __init__(self, stub: Any, *, timeout: float = 2.0) -> None:
        self._stub = stub
        self._timeout = timeout

    async def of(self, *, org_id: str, user_id: str) -> list[str]:
        """Return the user's roles, sorted."""
        request = group_mapping_pb2.GetUserRolesRequest(org_id=org_id, user_id=user_id)
        try:
            reply = await self._stub.GetUserRoles(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise RolesUnavailable(
                "the group-mapping service cannot say the user's roles"
            ) from error
        return list(reply.roles)
