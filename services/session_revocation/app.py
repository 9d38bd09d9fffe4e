"""Assemble the session revocation service: stores, gRPC server, Kafka consumer."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import grpc
from redis.asyncio import Redis

from protos.rivane.group_mapping.v1 import group_mapping_pb2_grpc
from protos.rivane.identity.v1 import identity_pb2_grpc
from protos.rivane.session_revocation.v1 import session_revocation_pb2_grpc as pb_grpc
from services.common.channels import client_channel
from services.common.error_reports import ErrorReporter
from services.common.health import HealthReporter
from services.common.metrics import MetricsServer
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors
from services.session_revocation.consumer import DeprovisionConsumer
from services.session_revocation.db import create_engine
from services.session_revocation.failures import RevocationFailures
from services.session_revocation.keys import load_signing_key
from services.session_revocation.records import RevocationRecords
from services.session_revocation.restore import RevocationRestorer
from services.session_revocation.revocations import Revoker
from services.session_revocation.roles import UserRoles
from services.session_revocation.server import SessionRevocationServicer
from services.session_revocation.sessions import SessionService
from services.session_revocation.store import SessionStore
from services.session_revocation.tokens import AccessTokens
from services.session_revocation.users import UserStatuses

logger = logging.getLogger(__name__)

_GRACE_SECONDS = 5.0
_CONSUMER_RESTART_SECONDS = 5.0


def deployment_of(database_url: str) -> str:
    """Name the deployment by its database: its revocation records live there."""
    return hashlib.sha256(database_url.encode("utf-8")).hexdigest()[:16]


class RevocationApp:
    """The running parts of one session revocation service process."""

    def __init__(self, settings: StackSettings, *, consume: bool = True) -> None:
        self.key = load_signing_key(settings)
        self.redis = Redis.from_url(settings.redis_url, decode_responses=True)
        self.engine = create_engine(settings.database_url)
        self._identity_channel = client_channel(settings.identity_addr)
        # Tokens carry the user's roles, which the group-mapping service knows.
        self._group_mapping_channel = client_channel(settings.group_mapping_addr)
        store = SessionStore(
            self.redis,
            max_token_ttl_seconds=settings.session_token_max_ttl_seconds,
            deployment=deployment_of(settings.database_url),
        )
        records = RevocationRecords(self.engine)
        self.revoker = Revoker(store=store, records=records)
        self.sessions = SessionService(
            tokens=AccessTokens(key=self.key, issuer=settings.session_issuer),
            store=store,
            users=UserStatuses(
                identity_pb2_grpc.IdentityServiceStub(self._identity_channel),
                cache_seconds=settings.user_status_cache_seconds,
            ),
            restorer=RevocationRestorer(store=store, records=records),
            default_ttl_seconds=settings.session_token_ttl_seconds,
            max_ttl_seconds=settings.session_token_max_ttl_seconds,
            roles=UserRoles(
                group_mapping_pb2_grpc.GroupMappingServiceStub(
                    self._group_mapping_channel
                )
            ),
        )
        self.reporter = ErrorReporter.from_settings(
            settings, source="session_revocation"
        )
        self.consumer = DeprovisionConsumer(
            revoker=self.revoker,
            failures=RevocationFailures(self.reporter),
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.revocation_consumer_group,
        )
        self._metrics = MetricsServer(settings.revocation_metrics_port)
        self._consume = consume
        self._consumer_task: asyncio.Task[None] | None = None
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Serve on `address` (port 0 picks a free one); return the bound port."""
        self._metrics.start()
        server = grpc.aio.server(interceptors=grpc_server_interceptors())
        pb_grpc.add_SessionRevocationServiceServicer_to_server(
            SessionRevocationServicer(
                sessions=self.sessions, revoker=self.revoker, key=self.key
            ),
            server,
        )
        health = HealthReporter(
            server, ["rivane.session_revocation.v1.SessionRevocationService"]
        )
        port = server.add_insecure_port(address)
        await server.start()
        await health.serving()
        self._health = health
        self._server = server
        if self._consume:
            self._consumer_task = asyncio.create_task(
                self._supervise_consumer(), name="revocation-consumer"
            )
        return port

    async def stop(self) -> None:
        """Finish in-flight calls, leave the consumer group, close the clients."""
        if self._server is not None:
            await self._health.shutting_down()
            await self._server.stop(_GRACE_SECONDS)
        if self._consumer_task is not None:
            self._consumer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer_task
        await self.reporter.close()
        await self._identity_channel.close()
        await self._group_mapping_channel.close()
        await self.redis.aclose()
        await self.engine.dispose()
        self._metrics.stop()

    async def _supervise_consumer(self) -> None:
        # Revocations must keep flowing: a consumer that fails in a way it
        # does not handle itself starts again; its uncommitted events repeat.
        while True:
            try:
                await self.consumer.run()
            except Exception:
                logger.exception(
                    "revocation consumer failed; restarting in %.0fs",
                    _CONSUMER_RESTART_SECONDS,
                )
            await asyncio.sleep(_CONSUMER_RESTART_SECONDS)
