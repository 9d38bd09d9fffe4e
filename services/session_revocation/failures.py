"""Tell the error tracker about revocations the consumer cannot apply.

The consumer never skips an event: it keeps retrying while the stores are
away. After a few failed tries it reports REVOCATION_FAILED for the event
(keyed by its id, as the identity service's fast path reports it), so that
admins see the revocation is late. Whenever the consumer is the first to
apply an event, the fast path had not, so an error that either of them
reported for it is resolved.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as error_pb
from protos.rivane.session_revocation.v1 import session_revocation_pb2 as pb
from services.common.error_reports import ErrorReporter, operation
from services.session_revocation.revocations import Outcome, RevocationNotice

REVOKE_USER = "/rivane.session_revocation.v1.SessionRevocationService/RevokeUser"
# Failed tries of one event before it is reported.
REPORT_AFTER_FAILURES = 3


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def revoke_request(notice: RevocationNotice) -> pb.RevokeUserRequest:
    """Return the `RevokeUser` call that applies a notice again."""
    return pb.RevokeUserRequest(
        org_id=str(notice.org_id),
        user_id=str(notice.user_id),
        event_id=str(notice.event_id),
        action=notice.action,
        request_id=notice.request_id,
        request_received_at=_timestamp(notice.request_received_at),
        occurred_at=_timestamp(notice.occurred_at),
    )


class RevocationFailures:
    """Report late revocations, and resolve them once applied."""

    def __init__(self, reporter: ErrorReporter) -> None:
        self._reporter = reporter

    def failed(self, notice: RevocationNotice, *, failures: int, why: str) -> None:
        """Note one more failed try of a notice; report it once it keeps failing."""
        if failures != REPORT_AFTER_FAILURES:
            return
        self._reporter.report(
            org_id=str(notice.org_id),
            kind=error_pb.ERROR_KIND_REVOCATION_FAILED,
            reason_code="STORE_UNAVAILABLE",
            reason=f"revoking user {notice.user_id} keeps failing: {why}",
            subject_type="User",
            subject_id=str(notice.user_id),
            dedup_key=str(notice.event_id),
            operation=operation(
                REVOKE_USER,
                revoke_request(notice),
                summary=f"revoke user {notice.user_id} ({notice.action.lower()})",
            ),
            request_id=notice.request_id,
        )

    def applied(self, notice: RevocationNotice, outcome: Outcome) -> None:
        """Resolve the error of a notice this consumer was first to apply."""
        if not outcome.first:
            return
        self._reporter.resolve(
            org_id=str(notice.org_id),
            kind=error_pb.ERROR_KIND_REVOCATION_FAILED,
            dedup_keys=[str(notice.event_id)],
            reason="the revocation service's consumer revoked the user",
        )
