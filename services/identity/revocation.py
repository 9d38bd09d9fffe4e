"""The fast path of revocation: tell the session revocation service at once.

When a user is deactivated or deleted, the committed change is also sent to
the session revocation service over gRPC, in the background, with a short
deadline. The SCIM response does not wait for it: a slow or absent
revocation service must not slow provisioning down, and the Kafka event
`scim.user_deprovisioned` (same event id) revokes the user anyway once it is
consumed. A failure is logged at warning, counted in
`rivane_identity_fast_revocations_total{outcome="failed"}`, and reported to
the error tracker (REVOCATION_FAILED, keyed by the event id) with the
`RevokeUser` call, which is harmless to repeat, as its operation.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Counter

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as error_pb
from protos.rivane.session_revocation.v1 import session_revocation_pb2 as pb
from services.common.error_reports import ErrorReporter, operation

logger = logging.getLogger(__name__)

REVOKE_USER = "/rivane.session_revocation.v1.SessionRevocationService/RevokeUser"

FAST_REVOCATIONS = Counter(
    "rivane_identity_fast_revocations_total",
    "Direct revocation calls after a deactivation or deletion, by outcome",
    ["outcome"],
)


@dataclass(frozen=True, slots=True)
class AccessRemoved:
    """A committed change that took a user's access away."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    event_id: uuid.UUID
    action: str
    request_id: str
    request_received_at: datetime
    occurred_at: datetime


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class RevocationNotifier:
    """Send `RevokeUser` for each change that removed access, without waiting."""

    def __init__(
        self, stub: Any, *, timeout: float, reporter: ErrorReporter | None = None
    ) -> None:
        self._stub = stub
        self._timeout = timeout
        self._reporter = reporter
        self._pending: set[asyncio.Task[None]] = set()

    def notify(self, change: AccessRemoved) -> None:
        """Start the call in the background (needs a running event loop)."""
        task = asyncio.create_task(self._revoke(change), name="fast-revocation")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self, *, seconds: float) -> None:
        """Give the calls in flight up to `seconds` to finish."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=seconds)

    async def _revoke(self, change: AccessRemoved) -> None:
        request = pb.RevokeUserRequest(
            org_id=str(change.org_id),
            user_id=str(change.user_id),
            event_id=str(change.event_id),
            action=change.action,
            request_id=change.request_id,
            request_received_at=_timestamp(change.request_received_at),
            occurred_at=_timestamp(change.occurred_at),
        )
        try:
            await self._stub.RevokeUser(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            FAST_REVOCATIONS.labels(outcome="failed").inc()
            logger.warning(
                "fast-path revocation of user %s failed (%s); the "
                "scim.user_deprovisioned event %s revokes it once consumed",
                change.user_id,
                error.code().name,
                change.event_id,
                extra={"request_id": change.request_id, "org_id": str(change.org_id)},
            )
            self._report(change, request, error)
            return
        FAST_REVOCATIONS.labels(outcome="ok").inc()

    def _report(
        self,
        change: AccessRemoved,
        request: pb.RevokeUserRequest,
        error: grpc.aio.AioRpcError,
    ) -> None:
        if self._reporter is None:
            return
        self._reporter.report(
            org_id=str(change.org_id),
            kind=error_pb.ERROR_KIND_REVOCATION_FAILED,
            reason_code=error.code().name,
            reason=f"revoking user {change.user_id} ({change.action}) failed",
            subject_type="User",
            subject_id=str(change.user_id),
            dedup_key=str(change.event_id),
            operation=operation(
                REVOKE_USER,
                request,
                summary=f"revoke user {change.user_id} ({change.action.lower()})",
            ),
            request_id=change.request_id,
        )
