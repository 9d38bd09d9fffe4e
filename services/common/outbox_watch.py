"""Tell the error tracker when an outbox's events stop reaching Kafka.

The relay measures its backlog now and then; once the oldest unpublished
event is older than `outbox_alert_after_seconds`, one EVENT_NOT_PUBLISHED
error is reported for the outbox (its dedup key is the outbox's name), and
once the backlog drains it is resolved. While the outbox stays stuck the
report is sent again every `REPORT_AGAIN_SECONDS`: it joins the same error,
brings its count and last_seen up to date, and makes up for a report lost
while the error tracker itself was away. Its operation is
`RetryTargetService/FlushOutbox` on the service that owns the outbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.common.error_reports import ErrorReporter, operation

logger = logging.getLogger(__name__)

FLUSH_METHOD = "/rivane.error_tracker.v1.RetryTargetService/FlushOutbox"
REPORT_AGAIN_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in an outbox: how many events, and the oldest of them."""

    count: int
    oldest_event_id: str
    oldest_age_seconds: float


class OutboxWatch:
    """Report a stuck outbox, again now and then, and resolve it once it drains."""

    def __init__(
        self,
        reporter: ErrorReporter,
        *,
        outbox: str,
        target: str,
        alert_after_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Watch the outbox table `outbox` of the service `target`."""
        self._reporter = reporter
        self._outbox = outbox
        self._target = target
        self.alert_after_seconds = alert_after_seconds
        # None until the first measurement: an error left open by an earlier
        # process is resolved when this one first finds the outbox drained.
        self._alerted: bool | None = None
        self._clock = clock
        self._reported_at = 0.0

    def observe(self, backlog: Backlog) -> None:
        """Report or resolve the outbox's error as the backlog says."""
        stuck = backlog.count > 0 and (
            backlog.oldest_age_seconds >= self.alert_after_seconds
        )
        due = not self._alerted or (
            self._clock() - self._reported_at >= REPORT_AGAIN_SECONDS
        )
        if stuck and due:
            self._alerted = True
            self._reported_at = self._clock()
            logger.warning(
                "%d events wait in %s, the oldest for %.0fs; reporting it",
                backlog.count,
                self._outbox,
                backlog.oldest_age_seconds,
            )
            self._reporter.report(
                org_id="",
                kind=pb.ERROR_KIND_EVENT_NOT_PUBLISHED,
                reason_code="KAFKA_UNAVAILABLE",
                reason=(
                    f"{backlog.count} events wait in {self._outbox}, the oldest "
                    f"for {backlog.oldest_age_seconds:.0f}s"
                ),
                subject_type="Event",
                subject_id=backlog.oldest_event_id,
                dedup_key=self._outbox,
                operation=operation(
                    FLUSH_METHOD,
                    pb.FlushOutboxRequest(),
                    summary=f"publish the events waiting in {self._outbox}",
                    target=self._target,
                ),
            )
        elif backlog.count == 0 and self._alerted is not False:
            self._alerted = False
            self._reporter.resolve(
                org_id="",
                kind=pb.ERROR_KIND_EVENT_NOT_PUBLISHED,
                dedup_keys=[self._outbox],
                reason=f"the relay published the events of {self._outbox}",
            )


def oldest_age(created_at: datetime | None, now: datetime) -> float:
    """Return the age in seconds of the oldest event; 0 for none."""
    return 0.0 if created_at is None else max((now - created_at).total_seconds(), 0.0)
