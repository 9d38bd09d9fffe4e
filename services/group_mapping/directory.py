"""Whether user ids name users of an org: asked of the identity service.

The identity service owns users; this service keeps their ids only. Before a
user becomes a member the identity service confirms the id names a user of
the group's org that is not deprovisioned, and a group's members are checked
again when they are read, so a deprovisioned user is never listed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import grpc

from protos.rivane.identity.v1 import identity_pb2
from services.common.errors import InvalidValue, ScimError, from_rpc_error, quoted
from services.group_mapping.errors import IdentityUnavailable

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
# Ids per CheckUsers call: a message of about 200 kB.
CHECK_BATCH = 5000
_SHOWN_UNKNOWN = 5


class UserDirectory:
    """Check user ids with `rivane.identity.v1.IdentityService.CheckUsers`."""

    def __init__(self, stub: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._stub = stub
        self._timeout = timeout

    async def require_users(
        self, *, org_id: uuid.UUID, ids: Sequence[str]
    ) -> dict[str, uuid.UUID]:
        """Return each of `ids` with its UUID when each names a live user of the org.

        Raises:
            InvalidValue: some ids name no such user; the detail names them,
                and only them.
            IdentityUnavailable: the identity service did not answer.
        """
        parsed = {text: _uuid(text) for text in ids}
        found = await self.existing(
            org_id=org_id, ids=[uid for uid in parsed.values() if uid is not None]
        )
        unknown = [text for text, uid in parsed.items() if uid not in found]
        if unknown:
            raise InvalidValue(_unknown_members(unknown))
        return {text: uid for text, uid in parsed.items() if uid is not None}

    async def existing(
        self, *, org_id: uuid.UUID, ids: Iterable[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Return which of `ids` name users of the org that are not deprovisioned."""
        pending = list(ids)
        found: set[uuid.UUID] = set()
        for start in range(0, len(pending), CHECK_BATCH):
            batch = pending[start : start + CHECK_BATCH]
            request = identity_pb2.CheckUsersRequest(
                org_id=str(org_id), user_ids=[str(uid) for uid in batch]
            )
            reply = await self._check(request)
            found.update(uuid.UUID(text) for text in reply.existing_ids)
        return found

    async def _check(self, request: Any) -> Any:
        try:
            return await self._stub.CheckUsers(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            rebuilt = from_rpc_error(error)
            if rebuilt is not None and rebuilt.status < 500:
                raise _as_ours(rebuilt) from error
            logger.warning("CheckUsers failed: %s %s", error.code(), error.details())
            raise IdentityUnavailable(
                "the identity service cannot check members now; retry later"
            ) from error


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _unknown_members(unknown: list[str]) -> str:
    shown = ", ".join(quoted(text) for text in unknown[:_SHOWN_UNKNOWN])
    more = len(unknown) - _SHOWN_UNKNOWN
    if more > 0:
        shown += f" and {more} more"
    if len(unknown) == 1:
        return f"member {shown} is not a user of this org"
    return f"members {shown} are not users of this org"


def _as_ours(error: ScimError) -> ScimError:
    # The identity service refused the question itself (say, a malformed org);
    # the client still only learns that the members were not accepted.
    return InvalidValue(f"the members could not be checked: {error.detail}")
