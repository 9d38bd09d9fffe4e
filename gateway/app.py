"""The gateway application: SCIM routes, the admin API, sessions, gRPC channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import Scope

from gateway import (
    admin_audit,
    admin_credentials,
    admin_errors,
    audit,
    bulk,
    discovery,
    groups,
    me,
    org_schemas,
    orgs,
    role_mappings,
    root_search,
    sessions,
    tokens,
    users,
)
from gateway.admin import AdminGuard, load_admin_token
from gateway.admin_ui import install_admin_ui
from gateway.client_errors import client_error_log
from gateway.context import SCIM_PATH
from gateway.error_tracker import error_reporter, error_tracker_client
from gateway.errors import install_error_handlers
from gateway.group_mapping import group_mapping_client
from gateway.identity import IdentityClient
from gateway.identity_admin import identity_admin_client
from gateway.middleware import RequestLogMiddleware, TrailingSlashMiddleware
from gateway.rate_limits import rate_limiter
from gateway.revocation import revocation_client
from gateway.token_events import scim_token_cache
from protos.rivane.identity.v1 import identity_pb2_grpc
from services.common.channels import client_channel
from services.common.settings import StackSettings

HEALTH_PATH = "/healthz"


def create_app(
    settings: StackSettings,
    identity_stub: Any = None,
    *,
    revocation_stub: Any = None,
    group_mapping_stub: Any = None,
    identity_admin_stub: Any = None,
    error_tracker_stub: Any = None,
) -> FastAPI:
    """Build the gateway.

    The gRPC channels to `settings.identity_addr`,
    `settings.revocation_addr` and `settings.group_mapping_addr` open at
    startup and close at shutdown; tests may pass a ready `identity_stub`,
    `revocation_stub`, `group_mapping_stub`, `identity_admin_stub` or
    `error_tracker_stub` instead; the error tracker's (`error_tracker_addr`)
    carries the client-error stream and failure reports in the background.
    So do the Redis clients of the token cache's listener and of the rate
    limiter, unless settings turn those off. Raises `AdminTokenMissing`
    outside "dev" when no usable admin credential is configured.
    """
    admin_token = load_admin_token(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            revocation_client(
                settings.revocation_addr, stub=revocation_stub
            ) as revocation,
            group_mapping_client(
                settings.group_mapping_addr, stub=group_mapping_stub
            ) as group_mapping,
            identity_admin_client(
                settings.identity_addr, stub=identity_admin_stub
            ) as identity_admin,
            error_tracker_client(
                settings.error_tracker_addr, stub=error_tracker_stub
            ) as error_tracker,
            client_error_log(error_tracker) as client_errors,
            error_reporter(settings) as reporter,
            scim_token_cache(settings) as token_cache,
            rate_limiter(settings) as limiter,
        ):
            app.state.revocation = revocation
            app.state.group_mapping = group_mapping
            app.state.identity_admin = identity_admin
            app.state.error_tracker = error_tracker
            app.state.client_errors = client_errors
            app.state.error_reporter = reporter
            app.state.token_cache = token_cache
            app.state.rate_limiter = limiter
            if identity_stub is not None:
                app.state.identity = IdentityClient(identity_stub)
                yield
                return

            # The interceptors carry the request's trace context in gRPC metadata.
            channel = client_channel(settings.identity_addr)
            app.state.identity = IdentityClient(
                identity_pb2_grpc.IdentityServiceStub(channel)
            )
            try:
                yield
            finally:
                await channel.close()

    app = FastAPI(
        title="Rivane SCIM gateway",
        summary="SCIM 2.0 (RFC 7643/7644) provisioning of Rivane users",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry={"exclude": _untraced},
        # Paths ending in "/" are served by TrailingSlashMiddleware instead.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.admin_token = admin_token
    app.state.admin_guard = AdminGuard(admin_token)

    install_error_handlers(app)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(TrailingSlashMiddleware)

    scim = APIRouter(prefix=SCIM_PATH)
    scim.include_router(users.router)
    scim.include_router(groups.router)
    scim.include_router(discovery.router)
    scim.include_router(root_search.router)
    scim.include_router(me.router)
    scim.include_router(bulk.router)
    app.include_router(scim)
    app.include_router(orgs.router)
    app.include_router(tokens.router)
    app.include_router(admin_credentials.router)
    app.include_router(admin_audit.router)
    app.include_router(admin_errors.router)
    app.include_router(org_schemas.router)
    app.include_router(role_mappings.router)
    app.include_router(audit.router)
    app.include_router(sessions.router)
    install_admin_ui(app, bootstrap_token=admin_token)
    app.add_api_route(HEALTH_PATH, healthz, methods=["GET"], tags=["Health"])
    return app


async def healthz() -> dict[str, str]:
    """Say the gateway is up and serving (no authentication)."""
    return {"status": "ok"}


def _untraced(scope: Scope) -> bool:
    return scope.get("path") == HEALTH_PATH
