"""A stuck outbox is reported, again now and then, and resolved once it drains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.common.error_reports import ErrorReporter
from services.common.outbox_watch import (
    FLUSH_METHOD,
    REPORT_AGAIN_SECONDS,
    Backlog,
    OutboxWatch,
)


class RecordingReporter(ErrorReporter):
    """Keeps what would be sent to the error tracker."""

    def __init__(self) -> None:
        super().__init__("", source="identity")
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def report(self, **fields: Any) -> None:  # type: ignore[override]
        self.sent.append(("report", fields))

    def resolve(  # type: ignore[override]
        self, *, org_id: str, kind: int, dedup_keys: Sequence[str], reason: str = ""
    ) -> None:
        self.sent.append(("resolve", {"dedup_keys": list(dedup_keys)}))


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watch(reporter: RecordingReporter, clock: Clock | None = None) -> OutboxWatch:
    return OutboxWatch(
        reporter,
        outbox="outbox_event",
        target="identity",
        alert_after_seconds=30,
        clock=clock or Clock(),
    )


def test_outbox_watch_reports_once_past_the_threshold() -> None:
    reporter = RecordingReporter()
    watch = _watch(reporter)

    watch.observe(Backlog(3, "ev-1", oldest_age_seconds=5))
    watch.observe(Backlog(4, "ev-1", oldest_age_seconds=31))
    watch.observe(Backlog(9, "ev-1", oldest_age_seconds=60))

    (sent,) = reporter.sent
    what, fields = sent
    assert what == "report"
    assert fields["kind"] == pb.ERROR_KIND_EVENT_NOT_PUBLISHED
    assert fields["reason_code"] == "KAFKA_UNAVAILABLE"
    assert (fields["dedup_key"], fields["subject_id"]) == ("outbox_event", "ev-1")
    assert fields["reason"].startswith("4 events wait in outbox_event")
    assert fields["operation"].method == FLUSH_METHOD
    assert fields["operation"].target == "identity"


def test_outbox_watch_resolves_once_the_backlog_drains() -> None:
    reporter = RecordingReporter()
    watch = _watch(reporter)

    watch.observe(Backlog(1, "ev-1", oldest_age_seconds=40))
    watch.observe(Backlog(0, "", oldest_age_seconds=0))
    watch.observe(Backlog(0, "", oldest_age_seconds=0))

    assert [what for what, _ in reporter.sent] == ["report", "resolve"]
    assert reporter.sent[1][1] == {"dedup_keys": ["outbox_event"]}


def test_outbox_watch_clears_a_stale_error_on_its_first_empty_look() -> None:
    reporter = RecordingReporter()
    watch = _watch(reporter)

    watch.observe(Backlog(0, "", oldest_age_seconds=0))
    watch.observe(Backlog(0, "", oldest_age_seconds=0))

    assert [what for what, _ in reporter.sent] == ["resolve"]


def test_outbox_watch_reports_a_stuck_outbox_again_with_its_count() -> None:
    reporter = RecordingReporter()
    clock = Clock()
    watch = _watch(reporter, clock)

    watch.observe(Backlog(4, "ev-1", oldest_age_seconds=31))
    clock.now += REPORT_AGAIN_SECONDS - 1
    watch.observe(Backlog(7, "ev-1", oldest_age_seconds=90))
    clock.now += 1
    watch.observe(Backlog(9, "ev-1", oldest_age_seconds=91))

    reasons = [fields["reason"] for what, fields in reporter.sent]
    assert [what for what, _ in reporter.sent] == ["report", "report"]
    assert reasons[0].startswith("4 events wait")
    assert reasons[1].startswith("9 events wait")
    assert {fields["dedup_key"] for _, fields in reporter.sent} == {"outbox_event"}
