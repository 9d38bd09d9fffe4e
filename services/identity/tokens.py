"""Org-scoped SCIM bearer tokens as admins manage them: issued once, stored hashed.

An org may hold several live tokens: a token is live until it is revoked or
its `expires_at` passes. Rotation issues a new token and gives the old one an
expiry, so an identity provider can switch over without a failed request.
Every change writes its admin audit row in the same transaction and is
announced to the gateways after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.common.bearer_tokens import (
    CredentialKind,
    hash_token,
    mint,
    shown_prefix,
)
from services.common.documents import check_text
from services.common.errors import InvalidValue, NotFound
from services.identity.admin_audit import (
    AdminAction,
    AdminContext,
    iso,
    record_action,
)
from services.identity.db import session_factory
from services.identity.models import ScimToken
from services.identity.orgs import OrgRef, ensure_org, find_org, live_token_clause

__all__ = ["IssuedToken", "Rotation", "TokenRecord", "TokenStore", "hash_token"]

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
MAX_GRACE = timedelta(days=90)

Announce = Callable[[Sequence[uuid.UUID]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A SCIM token as admins see it: never its secret or hash."""

    token_id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token; `secret` is shown to its owner once and never stored."""

    token: TokenRecord
    secret: str
    org_created: bool


@dataclass(frozen=True, slots=True)
class Rotation:
    """The token a rotation issued and the one it set to expire."""

    issued: IssuedToken
    retired: TokenRecord


def check_name(name: str) -> str:
    """Return a token or credential name when it can be stored and shown."""
    check_text(name, what="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(f"name must be at most {MAX_NAME_LENGTH} characters")
    return name


def _token_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"token {value!r} not found") from None


def _record(token: ScimToken, org_name: str) -> TokenRecord:
    return TokenRecord(
        token_id=token.token_id,
        org_id=token.org_id,
        org_name=org_name,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


class TokenStore:
    """Issue, list, revoke, expire and rotate SCIM tokens."""

    def __init__(self, engine: AsyncEngine, *, announce: Announce) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._announce = announce

    async def issue(
        self,
        *,
        org_name: str,
        name: str,
        expires_at: datetime | None,
        create_org: bool,
        admin: AdminContext,
    ) -> IssuedToken:
        """Issue a token for an org, creating the org first when asked to."""
        check_name(name)
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise InvalidValue("expires_at must be in the future")

        async with self._sessions.begin() as session:
            if create_org:
                org, created = await ensure_org(session, name=org_name, admin=admin)
            else:
                org, created = await find_org(session, org_name), False
            issued = await self._add_token(
                session,
                org=org,
                name=name,
                expires_at=expires_at,
                admin=admin,
                action=AdminAction.CREATE_TOKEN,
            )
        logger.info("issued token %s for org %s", issued.token.token_id, org.org_id)
        return IssuedToken(
            token=issued.token, secret=issued.secret, org_created=created
        )

    async def list(self, *, org_name: str) -> list[TokenRecord]:
        """Return every token of an org, newest first, revoked ones included."""
        async with self._engine.connect() as connection:
            org = await find_org(connection, org_name)
            rows = await connection.execute(
                select(
                    ScimToken.token_id,
                    ScimToken.name,
                    ScimToken.prefix,
                    ScimToken.created_at,
                    ScimToken.last_used_at,
                    ScimToken.expires_at,
                    ScimToken.revoked_at,
                )
                .where(ScimToken.org_id == org.org_id)
                .order_by(ScimToken.created_at.desc(), ScimToken.token_id)
            )
            return [
                TokenRecord(
                    token_id=row.token_id,
                    org_id=org.org_id,
                    org_name=org.name,
                    name=row.name,
                    prefix=row.prefix,
                    created_at=row.created_at,
                    last_used_at=row.last_used_at,
                    expires_at=row.expires_at,
                    revoked_at=row.revoked_at,
                )
                for row in rows
            ]

    async def revoke(
        self, *, org_name: str, token_id: str, admin: AdminContext
    ) -> TokenRecord:
        """Revoke a token of an org for good; revoking it again changes nothing."""
        async with self._sessions.begin() as session:
            token, org = await self._locked(session, org_name, token_id)
            changed = token.revoked_at is None
            if changed:
                token.revoked_at = datetime.now(UTC)
                await record_action(
                    session,
                    admin=admin,
                    action=AdminAction.REVOKE_TOKEN,
                    org_id=org.org_id,
                    target=str(token.token_id),
                    details={"name": token.name, "prefix": token.prefix},
                )
            record = _record(token, org.name)
        if changed:
            logger.info("revoked token %s of org %s", token.token_id, org.org_id)
            await self._announce([token.token_id])
        return record

    async def set_expiry(
        self,
        *,
        org_name: str,
        token_id: str,
        expires_at: datetime | None,
        admin: AdminContext,
    ) -> TokenRecord:
        """Set when a token stops working (None: never); a past time ends it now."""
        async with self._sessions.begin() as session:
            token, org = await self._locked(session, org_name, token_id)
            if token.revoked_at is not None:
                raise InvalidValue("the token is revoked; its expiry cannot change")
            before = token.expires_at
            changed = before != expires_at
            if changed:
                token.expires_at = expires_at
                await record_action(
                    session,
                    admin=admin,
                    action=AdminAction.SET_TOKEN_EXPIRY,
                    org_id=org.org_id,
                    target=str(token.token_id),
                    details={"before": iso(before), "after": iso(expires_at)},
                )
            record = _record(token, org.name)
        if changed:
            await self._announce([token.token_id])
        return record

    async def rotate(
        self,
        *,
        org_name: str,
        token_id: str,
        grace: timedelta,
        name: str,
        admin: AdminContext,
    ) -> Rotation:
        """Issue a new token and make the old one expire after `grace`.

        Without a `token_id` the org's only live token is retired; an org with
        several must say which. An old token that expires sooner keeps its
        earlier expiry.
        """
        if not timedelta(0) <= grace <= MAX_GRACE:
            raise InvalidValue(f"grace must be 0 to {MAX_GRACE.days} days")
        check_name(name)

        async with self._sessions.begin() as session:
            org = await find_org(session, org_name)
            old = await self._retiring(session, org, token_id)
            now = datetime.now(UTC)
            before = old.expires_at
            ends = now + grace
            old.expires_at = ends if before is None else min(before, ends)
            issued = await self._add_token(
                session,
                org=org,
                name=name or old.name,
                expires_at=None,
                admin=admin,
                action=AdminAction.ROTATE_TOKEN,
                details={
                    "retired_token_id": str(old.token_id),
                    "grace_seconds": int(grace.total_seconds()),
                    "retired_expires_at": iso(old.expires_at),
                },
            )
            retired = _record(old, org.name)
        logger.info(
            "rotated token %s of org %s to %s",
            old.token_id,
            org.org_id,
            issued.token.token_id,
        )
        await self._announce([old.token_id])
        return Rotation(issued=issued, retired=retired)

    async def _add_token(
        self,
        session: AsyncSession,
        *,
        org: OrgRef,
        name: str,
        expires_at: datetime | None,
        admin: AdminContext,
        action: AdminAction,
        details: dict[str, object] | None = None,
    ) -> IssuedToken:
        secret = mint(CredentialKind.SCIM)
        token = ScimToken(
            token_id=uuid.uuid4(),
            org_id=org.org_id,
            token_hash=hash_token(secret),
            name=name,
            prefix=shown_prefix(secret, kind=CredentialKind.SCIM),
            created_at=datetime.now(UTC),
            expires_at=expires_at,
        )
        session.add(token)
        await record_action(
            session,
            admin=admin,
            action=action,
            org_id=org.org_id,
            target=str(token.token_id),
            details={
                "name": name,
                "prefix": token.prefix,
                "expires_at": iso(expires_at),
                **(details or {}),
            },
        )
        return IssuedToken(
            token=_record(token, org.name), secret=secret, org_created=False
        )

    async def _locked(
        self, session: AsyncSession, org_name: str, token_id: str
    ) -> tuple[ScimToken, OrgRef]:
        org = await find_org(session, org_name)
        # Another org's token id is as unknown as a made-up one.
        token = (
            await session.execute(
                select(ScimToken)
                .where(
                    ScimToken.token_id == _token_id(token_id),
                    ScimToken.org_id == org.org_id,
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if token is None:
            raise NotFound(f"token {token_id!r} not found in org {org.name!r}")
        return token, org

    async def _retiring(
        self, session: AsyncSession, org: OrgRef, token_id: str
    ) -> ScimToken:
        if token_id:
            token, _ = await self._locked(session, org.name, token_id)
            live = token.revoked_at is None and (
                token.expires_at is None or token.expires_at > datetime.now(UTC)
            )
            if not live:
                raise InvalidValue("the token to rotate is revoked or expired")
            return token

        live_tokens = list(
            (
                await session.execute(
                    select(ScimToken)
                    .where(ScimToken.org_id == org.org_id, live_token_clause())
                    .with_for_update()
                )
            ).scalars()
        )
        if not live_tokens:
            raise InvalidValue(
                f"org {org.name!r} has no live token to rotate; create one instead"
            )
        if len(live_tokens) > 1:
            raise InvalidValue(
                f"org {org.name!r} has {len(live_tokens)} live tokens; "
                "name the one to rotate"
            )
        return live_tokens[0]
