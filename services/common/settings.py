"""Typed settings shared by every process of the stack, read once."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # Public base URL of the gateway, used in `meta.location`; derived from
    # the request when empty.
    public_base_url: str = ""
    admin_token: str = Field(default="", repr=False)
    admin_token_file: str = ".data/admin-token"
    # Name of the service in traces and logs.
    service_name: str = "rivane"
    otel_exporter: str = "none"


@lru_cache(maxsize=1)
def get_settings() -> StackSettings:
    """Return the settings of this process, read once."""
    return StackSettings()
