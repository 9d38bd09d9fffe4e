"""Org-scoped SCIM bearer tokens: issued once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.common.documents import check_text
from services.common.errors import InvalidValue, Unauthorized
from services.identity.db import session_factory
from services.identity.models import Org, ScimToken

TOKEN_PREFIX = "rvn_"
_MAX_ORG_NAME = 200


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token; `secret` is shown to its owner once and never stored."""

    org_id: uuid.UUID
    token_id: uuid.UUID
    secret: str


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The org and token a presented bearer secret belongs to."""

    org_id: uuid.UUID
    token_id: uuid.UUID


def hash_token(secret: str) -> str:
    """Return the stored form of a bearer secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    """Create and resolve SCIM tokens."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def create(self, *, org_name: str, description: str = "") -> IssuedToken:
        """Issue a token for `org_name`, creating the org when it is new."""
        name = org_name.strip()
        if not name or len(name) > _MAX_ORG_NAME:
            raise InvalidValue("org name must be 1 to 200 characters")
        check_text(name, what="org name")
        check_text(description, what="description")

        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            org_id = await self._ensure_org(session, name)
            token = ScimToken(
                token_id=uuid.uuid4(),
                org_id=org_id,
                token_hash=hash_token(secret),
                description=description,
            )
            session.add(token)
        return IssuedToken(org_id=org_id, token_id=token.token_id, secret=secret)

    async def resolve(self, secret: str) -> TokenOwner:
        """Return the owner of a live token, or raise `Unauthorized`."""
        if not secret.startswith(TOKEN_PREFIX):
            raise Unauthorized("unknown bearer token")
        # Every SCIM request passes here: a Core query on a bare connection
        # costs a third of an ORM session.
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(ScimToken.org_id, ScimToken.token_id).where(
                        ScimToken.token_hash == hash_token(secret),
                        ScimToken.revoked_at.is_(None),
                    )
                )
            ).one_or_none()
        if row is None:
            raise Unauthorized("unknown bearer token")
        return TokenOwner(org_id=row.org_id, token_id=row.token_id)

    @staticmethod
    async def _ensure_org(session: AsyncSession, name: str) -> uuid.UUID:
        # Two concurrent creations of the same org must end with one row.
        await session.execute(
            insert(Org)
            .values(org_id=uuid.uuid4(), name=name)
            .on_conflict_do_nothing(index_elements=[Org.name])
        )
        org_id: uuid.UUID = (
            await session.execute(select(Org.org_id).where(Org.name == name))
        ).scalar_one()
        return org_id
