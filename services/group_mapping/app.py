"""Assemble the group-mapping service: database, gRPC server, relay and listener."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc
from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc as pb_grpc
from protos.rivane.identity.v1 import identity_pb2_grpc
from services.common.channels import client_channel
from services.common.error_reports import ErrorReporter
from services.common.health import HealthReporter
from services.common.outbox import OutboxRelay
from services.common.outbox_watch import OutboxWatch
from services.common.retry_target import RetryTargetServicer
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors
from services.group_mapping.db import create_engine, session_factory
from services.group_mapping.deprovisions import DeprovisionListener, MembershipCleaner
from services.group_mapping.directory import UserDirectory
from services.group_mapping.groups import GroupService
from services.group_mapping.mappings import RoleMappingService
from services.group_mapping.models import GroupOutboxEvent
from services.group_mapping.queries import GroupQueries
from services.group_mapping.server import GroupMappingServicer
from services.group_mapping.unmapped import UnmappedGroupAlerts

_GRACE_SECONDS = 5.0
# The identity service's relay holds 0x5C1A_0001.
RELAY_LOCK_KEY = 0x5C1A_0003


class GroupMappingApp:
    """The running parts of one group-mapping service process."""

    def __init__(self, settings: StackSettings, *, background: bool = True) -> None:
        self.engine = create_engine(settings.database_url)
        sessions = session_factory(self.engine)
        # The interceptors carry the request's trace on to the identity service.
        self._identity_channel = client_channel(settings.identity_addr)
        directory = UserDirectory(
            identity_pb2_grpc.IdentityServiceStub(self._identity_channel)
        )
        self.reporter = ErrorReporter.from_settings(settings, source="group_mapping")
        self.relay = OutboxRelay(
            sessions,
            outbox=GroupOutboxEvent.__table__,
            lock_key=RELAY_LOCK_KEY,
            bootstrap_servers=settings.kafka_bootstrap,
            watch=OutboxWatch(
                self.reporter,
                outbox=GroupOutboxEvent.__tablename__,
                target="group_mapping",
                alert_after_seconds=settings.outbox_alert_after_seconds,
            ),
        )
        alerts = UnmappedGroupAlerts(self.reporter)
        self.groups = GroupService(
            sessions, directory=directory, on_committed=self.relay.wake, alerts=alerts
        )
        self.queries = GroupQueries(self.engine, directory=directory)
        self.mappings = RoleMappingService(
            sessions, self.engine, on_committed=self.relay.wake, alerts=alerts
        )
        self.cleaner = MembershipCleaner(sessions, on_committed=self.relay.wake)
        self.listener = DeprovisionListener(
            self.cleaner,
            bootstrap_servers=settings.kafka_bootstrap,
            consumer_group=settings.group_mapping_consumer_group,
            reporter=self.reporter,
        )
        self._background = background
        self._relay_task: asyncio.Task[None] | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Serve on `address` (port 0 picks a free one); return the bound port."""
        server = grpc.aio.server(interceptors=grpc_server_interceptors())
        pb_grpc.add_GroupMappingServiceServicer_to_server(
            GroupMappingServicer(
                groups=self.groups,
                queries=self.queries,
                mappings=self.mappings,
                cleaner=self.cleaner,
            ),
            server,
        )
        error_tracker_pb2_grpc.add_RetryTargetServiceServicer_to_server(
            RetryTargetServicer(self.relay), server
        )
        health = HealthReporter(server, ["rivane.group_mapping.v1.GroupMappingService"])
        port = server.add_insecure_port(address)
        await server.start()
        await health.serving()
        self._health = health
        self._server = server
        if self._background:
            self._relay_task = asyncio.create_task(
                self.relay.run(), name="group-outbox-relay"
            )
            self._listener_task = asyncio.create_task(
                self.listener.run(), name="deprovision-listener"
            )
        return port

    async def stop(self) -> None:
        """Finish in-flight calls, stop the background tasks and close the pool."""
        if self._server is not None:
            await self._health.shutting_down()
            await self._server.stop(_GRACE_SECONDS)
        if self._listener_task is not None:
            # Offsets are committed after each applied batch; what was not
            # committed is applied again by the next consumer.
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener_task
        if self._relay_task is not None:
            # The relay ends between batches; one that hangs on Kafka is cut.
            self.relay.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._relay_task, timeout=_GRACE_SECONDS)
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        await self.reporter.close()
        await self._identity_channel.close()
        await self.engine.dispose()
