"""`RetryTargetService`: work of a service that the error tracker may replay.

Today that is publishing the service's outbox, the replay of an
EVENT_NOT_PUBLISHED error.
"""

from __future__ import annotations

import logging

import grpc
from aiokafka.errors import KafkaError

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.grpc_edge import Context, unary_edge
from services.common.outbox import OutboxRelay

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 5.0
MAX_FLUSH_SECONDS = 60


class RetryTargetServicer(pb_grpc.RetryTargetServiceServicer):
    """Serve `rivane.error_tracker.v1.RetryTargetService` for one outbox relay."""

    def __init__(self, relay: OutboxRelay) -> None:
        self._relay = relay

    @unary_edge
    async def FlushOutbox(
        self, request: pb.FlushOutboxRequest, context: Context
    ) -> pb.FlushOutboxResponse:
        seconds = (
            min(request.timeout_seconds, MAX_FLUSH_SECONDS)
            if request.timeout_seconds > 0
            else DEFAULT_FLUSH_SECONDS
        )
        try:
            published, pending = await self._relay.flush(seconds=seconds)
        except (KafkaError, OSError) as error:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"Kafka cannot take the events: {error}"
            )
            raise AssertionError("unreachable: abort raises") from error
        if pending:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"{pending} events still wait after {seconds:.0f}s",
            )
        return pb.FlushOutboxResponse(published=published, pending=pending)
