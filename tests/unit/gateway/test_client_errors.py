"""The client-error stream's buffer: batches, bounds, and a tracker away."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from gateway.client_errors import CLIENT_ERRORS_DROPPED, ClientErrorLog, is_kept
from gateway.error_tracker import ErrorTrackerClient
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.common.errors import ScimError


class Tracker(ErrorTrackerClient):
    """A tracker client that keeps the batches it is given, or fails."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__(stub=None)
        self.batches: list[list[pb.ClientError]] = []
        self.fail = fail

    async def record_client_errors(self, errors: Any) -> int:
        if self.fail:
            raise ScimError("the error tracker is unavailable")
        self.batches.append(list(errors))
        return len(errors)


def client_error(status: int = 409) -> pb.ClientError:
    return pb.ClientError(org_id="o", status=status, method="POST", path="/Users")


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        *[(status, True) for status in (400, 404, 409, 412, 413)],
        *[(status, False) for status in (401, 429, 500, 200)],
    ],
)
def test_is_kept_takes_4xx_but_401_and_429(status: int, kept: bool) -> None:
    assert is_kept(status) is kept


async def test_flush_sends_batches_of_batch_size() -> None:
    tracker = Tracker()
    log = ClientErrorLog(tracker, batch_size=2)
    for _ in range(5):
        log.note(client_error())

    await log.flush()

    assert [len(batch) for batch in tracker.batches] == [2, 2, 1]
    assert log.pending() == 0


async def test_note_drops_and_counts_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = ClientErrorLog(Tracker(), max_buffered=3)
    before = CLIENT_ERRORS_DROPPED._value.get()

    for _ in range(5):
        log.note(client_error())

    assert log.pending() == 3
    assert log.dropped == 2
    assert CLIENT_ERRORS_DROPPED._value.get() - before == 2
    assert "dropped 1 client error(s): the buffer is full" in caplog.text


async def test_a_tracker_away_drops_the_batch_without_raising() -> None:
    log = ClientErrorLog(Tracker(fail=True))
    log.note(client_error())

    await log.flush()

    assert log.dropped == 1
    assert log.pending() == 0


async def test_run_sends_a_full_batch_before_the_interval() -> None:
    tracker = Tracker()
    log = ClientErrorLog(tracker, batch_size=2, flush_seconds=60)
    sender = asyncio.create_task(log.run())
    try:
        log.note(client_error())
        log.note(client_error())
        for _ in range(100):
            if tracker.batches:
                break
            await asyncio.sleep(0.01)
    finally:
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender

    assert [len(batch) for batch in tracker.batches] == [2]


def test_note_answer_keeps_a_detail_protobuf_could_not_carry() -> None:
    log = ClientErrorLog(Tracker())
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/scim/v2/Users/\ud800",
            "query_string": b"",
            "headers": [],
            "state": {"org_id": "o", "request_id": "r"},
        }
    )

    log.note_answer(request, status=404, scim_type=None, detail="User \ud800 gone")

    assert log.pending() == 1
