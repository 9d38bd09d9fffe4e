"""Typed settings shared by every process of the stack, read once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# The checkout the stack runs from; relative paths in settings start here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class StackSettings(BaseSettings):
    """Addresses of the stack's parts; every variable is prefixed `RIVANE_`."""

    model_config = SettingsConfigDict(env_prefix="RIVANE_", extra="ignore")

    # "dev" allows the generated local admin credential; anything else must
    # configure it explicitly.
    environment: str = "dev"
    database_url: str = "postgresql+asyncpg://rivane@127.0.0.1:55432/rivane"
    redis_url: str = "redis://127.0.0.1:56379/0"
    kafka_bootstrap: str = "127.0.0.1:59092"
    identity_addr: str = "127.0.0.1:50061"
    revocation_addr: str = "127.0.0.1:50062"
    group_mapping_addr: str = "127.0.0.1:50063"
    error_tracker_addr: str = "127.0.0.1:50064"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # Public base URL of the gateway, used in `meta.location`; derived from
    # the request when empty.
    public_base_url: str = ""
    admin_token: str = Field(default="", repr=False)
    admin_token_file: str = ".data/admin-token"
    # Name of the service in traces and logs.
    service_name: str = "rivane"
    # "none", "console" or "otlp" (then OTEL_EXPORTER_OTLP_ENDPOINT names the
    # collector).
    otel_exporter: str = "none"
    # "json": one JSON object a line, for collectors; "text" for a terminal.
    log_format: Literal["json", "text"] = "json"

    # Other Rivane services call /oauth2/introspect and /sessions with this
    # credential; the admin credential is accepted as well.
    internal_token: str = Field(default="", repr=False)

    # Prometheus scrape ports; 0 serves no metrics. The loopback only, unless
    # a container sets the host to 0.0.0.0 for its cluster's scraper.
    metrics_host: str = "127.0.0.1"
    gateway_metrics_port: int = 9460
    identity_metrics_port: int = 9461
    revocation_metrics_port: int = 9462
    error_tracker_metrics_port: int = 9463

    # Session tokens. The ES256 signing key is a PEM value or file; in "dev" a
    # missing file is generated once.
    session_signing_key: str = Field(default="", repr=False)
    session_signing_key_file: str = ".data/keys/session-signing.pem"
    session_issuer: str = "rivane"
    session_token_ttl_seconds: int = Field(default=900, gt=0)
    session_token_max_ttl_seconds: int = Field(default=3600, gt=0)
    # How long CheckToken trusts the identity service's answer that a user is
    # ACTIVE; bounds revocation while both Kafka and the fast path fail.
    user_status_cache_seconds: float = Field(default=10.0, ge=0)
    revocation_consumer_group: str = "session-revocation"
    # The group-mapping service drops a deleted user's memberships as
    # `scim.user_deprovisioned` reports it.
    group_mapping_consumer_group: str = "group-mapping"
    # The identity service's direct call to the revocation service.
    revocation_fast_path_timeout: float = Field(default=0.5, gt=0)

    # How long a gateway reuses the identity service's answer about a SCIM
    # token. Revocations reach every replica over Redis pub/sub at once; this
    # bounds how long a lost announcement can keep a revoked token alive, so
    # it may not exceed one second. 0 resolves every request.
    token_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    # Requests per second each SCIM token may make, and the burst it may save
    # up; 0 per second turns the limit off.
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)

    # The error tracker. A transient error is replayed after base * 2**n
    # seconds (at most max), up to max attempts, then it is FAILED and waits
    # for an admin. The first wait leaves the durable paths (the relay, the
    # Kafka consumers) time to repair the cause themselves.
    error_retry_base_seconds: float = Field(default=30.0, gt=0)
    error_retry_max_seconds: float = Field(default=900.0, gt=0)
    error_retry_max_attempts: int = Field(default=8, ge=0)
    # Deadline of one replayed call.
    error_replay_timeout_seconds: float = Field(default=15.0, gt=0)
    # Client errors (4xx) are kept this long for admins.
    client_error_retention_days: int = Field(default=14, ge=1)
    # An outbox whose oldest unpublished event is older than this is reported
    # to the error tracker (EVENT_NOT_PUBLISHED).
    outbox_alert_after_seconds: float = Field(default=30.0, gt=0)
    # Reports wait in memory while the error tracker is away; more are dropped.
    error_report_queue_size: int = Field(default=1000, ge=1)

    # SCIM Bulk (RFC 7644 §3.7.4), announced in /ServiceProviderConfig: a
    # request with more operations or bytes is refused with 413 unread.
    bulk_max_operations: int = Field(default=10_000, ge=1)
    bulk_max_payload_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    @field_validator("admin_token_file", "session_signing_key_file")
    @classmethod
    def _anchor_to_project(cls, value: str) -> str:
        # The same file whatever directory scimctl or the gateway starts in.
        return str(PROJECT_ROOT / value) if value else value

    @property
    def gateway_url(self) -> str:
        """Return the URL the local gateway answers on."""
        return f"http://{self.gateway_host}:{self.gateway_port}"

    def sibling_database_url(self, name: str) -> str:
        """Return `database_url` with the database `name` on the same server."""
        url = make_url(self.database_url).set(database=name)
        return url.render_as_string(hide_password=False)


@lru_cache(maxsize=1)
def get_settings() -> StackSettings:
    """Return the settings of this process, read once."""
    return StackSettings()
