"""Steps of the error-tracker tests: find errors, wait for them, retry them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from tests.integration.stack import Stack

ADMIN = "cred-42 ops-admin"


@asynccontextmanager
async def tracker(stack: Stack) -> AsyncIterator[pb_grpc.ErrorTrackerServiceStub]:
    """A stub of the stack's error tracker."""
    async with grpc.aio.insecure_channel(stack.addresses["error_tracker"]) as channel:
        yield pb_grpc.ErrorTrackerServiceStub(channel)


async def find_error(
    stub: pb_grpc.ErrorTrackerServiceStub,
    *,
    kind: pb.ErrorKind.ValueType,
    dedup_key: str = "",
    subject_id: str = "",
    org_id: str = "",
    state: pb.ErrorState.ValueType = pb.ERROR_STATE_UNSPECIFIED,
) -> pb.ErrorRecord | None:
    """Return the newest error of a cause (or a subject), through ListErrors."""
    page = await stub.ListErrors(
        pb.ListErrorsRequest(org_id=org_id, kind=kind, state=state, limit=1000)
    )
    for error in page.errors:
        if error.org_id != org_id:
            continue
        if (dedup_key and error.dedup_key == dedup_key) or (
            subject_id and error.subject_id == subject_id
        ):
            return error
    return None


async def wait_for_error(
    stub: pb_grpc.ErrorTrackerServiceStub,
    *,
    kind: pb.ErrorKind.ValueType,
    dedup_key: str = "",
    subject_id: str = "",
    org_id: str = "",
    state: pb.ErrorState.ValueType = pb.ERROR_STATE_UNSPECIFIED,
    seconds: float = 30.0,
) -> pb.ErrorRecord:
    """Wait until an error of the cause (in `state`, when given) is listed."""
    deadline = time.monotonic() + seconds
    while True:
        found = await find_error(
            stub,
            kind=kind,
            dedup_key=dedup_key,
            subject_id=subject_id,
            org_id=org_id,
            state=state,
        )
        if found is not None:
            return found
        assert time.monotonic() < deadline, (
            f"no {pb.ErrorKind.Name(kind)} error for {dedup_key or subject_id} "
            f"in state {pb.ErrorState.Name(state)} after {seconds:.0f}s"
        )
        await asyncio.sleep(0.2)


async def retry(
    stub: pb_grpc.ErrorTrackerServiceStub, error_id: str, *, actor: str = ADMIN
) -> pb.RetryResult:
    """Retry one error as an admin; return its result."""
    reply = await stub.RetryErrors(
        pb.RetryErrorsRequest(
            error_ids=[error_id], actor=actor, request_id=str(uuid.uuid4())
        ),
        timeout=60,
    )
    (result,) = reply.results
    return result


async def history(
    stub: pb_grpc.ErrorTrackerServiceStub, error_id: str
) -> pb.GetErrorResponse:
    """Return an error and its attempts."""
    return await stub.GetError(pb.GetErrorRequest(error_id=error_id))
