"""Resolve a presented SCIM bearer secret to its org and token, while it is live."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bearer_tokens import CredentialKind, hash_token, is_well_formed
from services.common.errors import Unauthorized
from services.identity.models import ScimToken
from services.identity.orgs import live_token_clause

# last_used_at is written at most this often per token and process.
LAST_USED_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The org and token a presented bearer secret belongs to."""

    org_id: uuid.UUID
    token_id: uuid.UUID
    expires_at: datetime | None


class TokenResolver:
    """Answer the gateways' `ResolveToken` calls."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._last_marked: dict[uuid.UUID, float] = {}

    async def resolve(self, secret: str) -> TokenOwner:
        """Return the owner of a live token, or raise `Unauthorized`."""
        # A malformed secret costs no query.
        if not is_well_formed(secret, kind=CredentialKind.SCIM):
            raise Unauthorized("the bearer token is malformed")

        # Every cache miss of every gateway passes here: a Core query on a
        # bare connection costs a third of an ORM session.
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(
                        ScimToken.org_id, ScimToken.token_id, ScimToken.expires_at
                    ).where(
                        ScimToken.token_hash == hash_token(secret),
                        live_token_clause(),
                    )
                )
            ).one_or_none()
        if row is None:
            raise Unauthorized("unknown, revoked or expired bearer token")

        await self._mark_used(row.token_id)
        return TokenOwner(
            org_id=row.org_id, token_id=row.token_id, expires_at=row.expires_at
        )

    async def _mark_used(self, token_id: uuid.UUID) -> None:
        # Gateways resolve a busy token about once a second each; a write per
        # minute keeps last_used_at useful without a write per resolution.
        now = time.monotonic()
        last = self._last_marked.get(token_id)
        if last is not None and now - last < LAST_USED_EVERY_SECONDS:
            return
        self._last_marked[token_id] = now
        async with self._engine.begin() as connection:
            await connection.execute(
                update(ScimToken)
                .where(ScimToken.token_id == token_id)
                .values(last_used_at=func.now())
            )
