"""The reporting client: never in the caller's way, delivered once reachable."""

from __future__ import annotations

import asyncio
import json
import logging

import grpc
import pytest

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.error_reports import ErrorReporter, operation
from tests.integration.stack import free_port


class RecordingTracker(pb_grpc.ErrorTrackerServiceServicer):
    """An error tracker that keeps what it is sent."""

    def __init__(self) -> None:
        self.reports: list[pb.ReportErrorRequest] = []
        self.resolutions: list[pb.ResolveErrorsRequest] = []

    async def ReportError(  # type: ignore[override]
        self, request: pb.ReportErrorRequest, context: object
    ) -> pb.ReportErrorResponse:
        self.reports.append(request)
        return pb.ReportErrorResponse(error_id="e1", created=True)

    async def ResolveErrors(  # type: ignore[override]
        self, request: pb.ResolveErrorsRequest, context: object
    ) -> pb.ResolveErrorsResponse:
        self.resolutions.append(request)
        return pb.ResolveErrorsResponse(resolved=1)


def _report(reporter: ErrorReporter, key: str = "k1") -> None:
    reporter.report(
        org_id="org",
        kind=pb.ERROR_KIND_REVOCATION_FAILED,
        reason_code="UNAVAILABLE",
        reason="revoking failed",
        subject_type="User",
        subject_id="u1",
        dedup_key=key,
        operation=operation(
            "/rivane.error_tracker.v1.RetryTargetService/FlushOutbox",
            pb.FlushOutboxRequest(timeout_seconds=3),
            target="identity",
        ),
    )


async def test_reporter_delivers_once_the_tracker_comes_up() -> None:
    port = free_port()
    reporter = ErrorReporter(f"127.0.0.1:{port}", source="identity")
    _report(reporter)
    reporter.resolve(org_id="org", kind=pb.ERROR_KIND_UNMAPPED_GROUP, dedup_keys=["g1"])

    tracker = RecordingTracker()
    server = grpc.aio.server()
    pb_grpc.add_ErrorTrackerServiceServicer_to_server(tracker, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        await reporter.close(seconds=15)
    finally:
        await server.stop(None)

    (report,) = tracker.reports
    assert report.source == "identity"
    assert report.dedup_key == "k1"
    assert report.operation.target == "identity"
    assert report.operation.request_json == '{"timeoutSeconds": 3}'
    (resolution,) = tracker.resolutions
    assert list(resolution.dedup_keys) == ["g1"]


async def test_reporter_drops_with_a_warning_when_its_queue_is_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = ErrorReporter(
        f"127.0.0.1:{free_port()}",
        source="identity",
        queue_size=1,
        give_up_seconds=0.1,
    )
    with caplog.at_level(logging.WARNING, logger="services.common.error_reports"):
        _report(reporter, "k1")
        _report(reporter, "k2")
        _report(reporter, "k3")
    await reporter.close(seconds=0.1)
    assert any("queue is full" in record.message for record in caplog.records)


async def test_reports_not_delivered_before_close_are_logged_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens there: the reporter keeps retrying until it is closed.
    reporter = ErrorReporter(f"127.0.0.1:{free_port()}", source="identity")
    with caplog.at_level(logging.ERROR, logger="services.common.error_reports"):
        _report(reporter, "k1")
        _report(reporter, "k2")
        await asyncio.sleep(0.3)
        await reporter.close(seconds=0.2)

    logged = [
        record.getMessage()
        for record in caplog.records
        if "not delivered to the error tracker" in record.getMessage()
    ]
    assert len(logged) == 2, logged
    documents = [json.loads(line.split("as JSON: ", 1)[1]) for line in logged]
    assert [document["dedupKey"] for document in documents] == ["k1", "k2"]
    assert documents[0]["subjectId"] == "u1"
    assert documents[0]["operation"]["target"] == "identity"
    assert all("the process stopped first" in line for line in logged)
