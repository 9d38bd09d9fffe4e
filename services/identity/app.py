"""Assemble the identity service: database, gRPC server and outbox relay."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from redis.asyncio import Redis

from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc
from protos.rivane.identity.v1 import admin_pb2_grpc
from protos.rivane.identity.v1 import identity_pb2_grpc as pb_grpc
from protos.rivane.session_revocation.v1 import session_revocation_pb2_grpc
from services.common.channels import client_channel
from services.common.error_reports import ErrorReporter
from services.common.health import HealthReporter
from services.common.metrics import MetricsServer
from services.common.outbox_watch import OutboxWatch
from services.common.retry_target import RetryTargetServicer
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors
from services.identity.admin_audit import AdminAuditLog
from services.identity.admin_credentials import AdminCredentials
from services.identity.admin_server import IdentityAdminServicer
from services.identity.audit import AuditTrail
from services.identity.db import create_engine, session_factory
from services.identity.models import OutboxEvent
from services.identity.org_schemas import OrgSchemas
from services.identity.orgs import OrgDirectory
from services.identity.relay import identity_relay
from services.identity.revocation import RevocationNotifier
from services.identity.server import IdentityServicer
from services.identity.token_announcer import TokenAnnouncer
from services.identity.token_resolver import TokenResolver
from services.identity.tokens import TokenStore
from services.identity.users import UserService

_GRACE_SECONDS = 5.0


class IdentityApp:
    """The running parts of one identity service process."""

    def __init__(self, settings: StackSettings, *, relay: bool = True) -> None:
        self.engine = create_engine(settings.database_url)
        sessions = session_factory(self.engine)
        self.reporter = ErrorReporter.from_settings(settings, source="identity")
        self.relay = identity_relay(
            sessions,
            bootstrap_servers=settings.kafka_bootstrap,
            watch=OutboxWatch(
                self.reporter,
                outbox=OutboxEvent.__tablename__,
                target="identity",
                alert_after_seconds=settings.outbox_alert_after_seconds,
            ),
        )
        # The revocation fast path; the Kafka event remains the durable one.
        self._revocation_channel = client_channel(settings.revocation_addr)
        self.revocations = RevocationNotifier(
            session_revocation_pb2_grpc.SessionRevocationServiceStub(
                self._revocation_channel
            ),
            timeout=settings.revocation_fast_path_timeout,
            reporter=self.reporter,
        )
        self.schemas = OrgSchemas(sessions)
        self.users = UserService(
            sessions,
            on_committed=self.relay.wake,
            on_access_removed=self.revocations.notify,
            schemas=self.schemas,
        )
        # Token changes reach every gateway replica over Redis pub/sub.
        self._redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        self.tokens = TokenStore(
            self.engine, announce=TokenAnnouncer(self._redis).announce
        )
        self._metrics = MetricsServer(settings.identity_metrics_port)
        self._run_relay = relay
        self._relay_task: asyncio.Task[None] | None = None
        self._health: HealthReporter
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Serve on `address` (port 0 picks a free one); return the bound port."""
        self._metrics.start()
        server = grpc.aio.server(interceptors=grpc_server_interceptors())
        servicer = IdentityServicer(
            users=self.users,
            tokens=TokenResolver(self.engine),
            orgs=OrgDirectory(self.engine),
            audit=AuditTrail(self.engine),
            schemas=self.schemas,
        )
        pb_grpc.add_IdentityServiceServicer_to_server(servicer, server)
        self._health = HealthReporter(
            server,
            [
                "rivane.identity.v1.IdentityService",
                "rivane.identity.v1.IdentityAdminService",
            ],
        )
        admin_pb2_grpc.add_IdentityAdminServiceServicer_to_server(
            IdentityAdminServicer(
                orgs=OrgDirectory(self.engine),
                tokens=self.tokens,
                credentials=AdminCredentials(self.engine),
                audit=AdminAuditLog(self.engine),
            ),
            server,
        )
        error_tracker_pb2_grpc.add_RetryTargetServiceServicer_to_server(
            RetryTargetServicer(self.relay), server
        )
        port = server.add_insecure_port(address)
        await server.start()
        await self._health.serving()
        self._server = server
        if self._run_relay:
            self._relay_task = asyncio.create_task(
                self.relay.run(), name="outbox-relay"
            )
        return port

    async def stop(self) -> None:
        """Finish in-flight calls, stop the relay and close the pool."""
        if self._server is not None:
            await self._health.shutting_down()
            await self._server.stop(_GRACE_SECONDS)
        if self._relay_task is not None:
            # The relay ends between batches; one that hangs on Kafka is cut.
            self.relay.stop()
            try:
                await asyncio.wait_for(self._relay_task, timeout=_GRACE_SECONDS)
            except TimeoutError:
                pass
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        await self.revocations.drain(seconds=_GRACE_SECONDS)
        await self.reporter.close()
        await self._revocation_channel.close()
        await self._redis.aclose()
        await self.engine.dispose()
        self._metrics.stop()
