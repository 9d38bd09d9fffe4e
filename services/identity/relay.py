"""The identity service's outbox relay: `outbox_event` to Kafka, keyed by user id.

The relay itself is `services.common.outbox.OutboxRelay`; only one relay of
the identity service publishes at a time, so a user's events keep their order
even with several replicas.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.outbox import OutboxRelay
from services.common.outbox_watch import OutboxWatch
from services.identity.models import OutboxEvent

RELAY_LOCK_KEY = 0x5C1A_0001


def identity_relay(
    sessions: async_sessionmaker[AsyncSession],
    *,
    bootstrap_servers: str,
    watch: OutboxWatch | None = None,
) -> OutboxRelay:
    """Return the relay of the identity service's outbox."""
    return OutboxRelay(
        sessions,
        outbox=OutboxEvent.__table__,
        lock_key=RELAY_LOCK_KEY,
        bootstrap_servers=bootstrap_servers,
        watch=watch,
    )
