"""Whether a user is ACTIVE, as the identity service says, briefly cached.

Token checks ask here so that a deactivated user's tokens are refused even
when no revocation reached this service (Kafka down and the fast path
failed): the answer is trusted for `cache_seconds`, which bounds that case.
Issuing a token always asks afresh, and refreshes the cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import grpc

from protos.rivane.identity.v1 import identity_pb2
from services.session_revocation.errors import IdentityUnavailable

ACTIVE = "ACTIVE"
# The identity service knows no such user in that org (or it was deleted).
UNKNOWN = "UNKNOWN"
_NO_SUCH_USER = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)


class UserStatuses:
    """Look up users' lifecycle status in the identity service."""

    def __init__(
        self,
        stub: Any,
        *,
        cache_seconds: float,
        timeout: float = 2.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = stub
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    async def status(self, *, org_id: str, user_id: str, fresh: bool = False) -> str:
        """Return ACTIVE, INACTIVE, DEPROVISIONED or UNKNOWN.

        Raises `IdentityUnavailable` when the identity service cannot answer
        and no answer younger than `cache_seconds` is at hand.
        """
        key = (org_id, user_id)
        cached = self._cache.get(key)
        now = self._clock()
        if not fresh and cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]

        status = await self._ask(org_id=org_id, user_id=user_id)
        self._cache[key] = (status, now)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return status

    async def _ask(self, *, org_id: str, user_id: str) -> str:
        request = identity_pb2.GetUserRequest(org_id=org_id, user_id=user_id)
        try:
            user = await self._stub.GetUser(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in _NO_SUCH_USER:
                return UNKNOWN
            raise IdentityUnavailable(
                "the identity service cannot say whether the user is active"
            ) from error
        return str(user.status)
