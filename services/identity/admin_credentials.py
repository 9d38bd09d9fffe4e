"""Credentials of the admin API, stored only as hashes.

The bootstrap credential is configured (RIVANE_ADMIN_TOKEN or the token
file) and checked by the gateway; its hash is recorded here on first use so
that audit rows name it. Further credentials are issued through the admin API,
checked here, and can be revoked.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bearer_tokens import (
    CredentialKind,
    hash_token,
    is_well_formed,
    mint,
    shown_prefix,
)
from services.common.errors import InvalidValue, NotFound, Unauthorized
from services.identity.admin_audit import AdminAction, AdminContext, record_action
from services.identity.db import session_factory
from services.identity.models import AdminCredential, AdminCredentialKind
from services.identity.token_resolver import LAST_USED_EVERY_SECONDS
from services.identity.tokens import check_name

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
BOOTSTRAP_NAME = "bootstrap"


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    """The credential an admin request authenticated with."""

    credential_id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class AdminCredentialRecord:
    """An admin credential as the listing shows it: never its secret or hash."""

    credential_id: uuid.UUID
    name: str
    kind: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedAdminCredential:
    """A new admin credential; `secret` is shown once and never stored."""

    credential: AdminCredentialRecord
    secret: str


def _record(row: AdminCredential) -> AdminCredentialRecord:
    return AdminCredentialRecord(
        credential_id=row.credential_id,
        name=row.name,
        kind=row.kind,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class AdminCredentials:
    """Register, resolve, issue, list and revoke admin credentials."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._last_marked: dict[uuid.UUID, float] = {}

    async def register_bootstrap(self, *, token_hash: str) -> AdminIdentity:
        """Return the row of the configured credential with this hash, made once."""
        if not _SHA256_HEX.fullmatch(token_hash):
            raise InvalidValue("token_hash must be a SHA-256 in lower-case hex")
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(AdminCredential)
                .values(
                    credential_id=uuid.uuid4(),
                    kind=AdminCredentialKind.BOOTSTRAP,
                    name=BOOTSTRAP_NAME,
                    token_hash=token_hash,
                    prefix="",
                )
                .on_conflict_do_nothing(index_elements=[AdminCredential.token_hash])
            )
            row = (
                await connection.execute(
                    select(AdminCredential.credential_id, AdminCredential.name).where(
                        AdminCredential.token_hash == token_hash
                    )
                )
            ).one()
        await self._mark_used(row.credential_id)
        return AdminIdentity(credential_id=row.credential_id, name=row.name)

    async def resolve(self, secret: str) -> AdminIdentity:
        """Return the issued, unrevoked credential of `secret`, or raise."""
        if not is_well_formed(secret, kind=CredentialKind.ADMIN):
            raise Unauthorized("the admin credential is malformed")
        # Only issued credentials are checked here: a bootstrap row holds the
        # hash of a credential the gateway checks itself.
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(AdminCredential.credential_id, AdminCredential.name).where(
                        AdminCredential.token_hash == hash_token(secret),
                        AdminCredential.kind == AdminCredentialKind.ISSUED,
                        AdminCredential.revoked_at.is_(None),
                    )
                )
            ).one_or_none()
        if row is None:
            raise Unauthorized("unknown or revoked admin credential")
        await self._mark_used(row.credential_id)
        return AdminIdentity(credential_id=row.credential_id, name=row.name)

    async def create(self, *, name: str, admin: AdminContext) -> IssuedAdminCredential:
        """Issue an admin credential."""
        if not check_name(name).strip():
            raise InvalidValue("an admin credential needs a name")
        secret = mint(CredentialKind.ADMIN)
        row = AdminCredential(
            credential_id=uuid.uuid4(),
            kind=AdminCredentialKind.ISSUED,
            name=name,
            token_hash=hash_token(secret),
            prefix=shown_prefix(secret, kind=CredentialKind.ADMIN),
            created_at=datetime.now(UTC),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await record_action(
                session,
                admin=admin,
                action=AdminAction.CREATE_ADMIN_CREDENTIAL,
                org_id=None,
                target=str(row.credential_id),
                details={"name": name, "prefix": row.prefix},
            )
        return IssuedAdminCredential(credential=_record(row), secret=secret)

    async def list(self) -> list[AdminCredentialRecord]:
        """Return every admin credential, oldest first, revoked ones included."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(AdminCredential).order_by(
                        AdminCredential.created_at, AdminCredential.credential_id
                    )
                )
            ).scalars()
            return [_record(row) for row in rows]

    async def revoke(
        self, *, credential_id: str, admin: AdminContext
    ) -> AdminCredentialRecord:
        """Revoke an issued admin credential; revoking it again changes nothing."""
        try:
            wanted = uuid.UUID(credential_id)
        except ValueError:
            raise NotFound(f"admin credential {credential_id!r} not found") from None
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(AdminCredential)
                    .where(AdminCredential.credential_id == wanted)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"admin credential {credential_id!r} not found")
            if row.kind == AdminCredentialKind.BOOTSTRAP:
                raise InvalidValue(
                    "the bootstrap credential is configured, not issued: change "
                    "RIVANE_ADMIN_TOKEN (or the token file) to replace it"
                )
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                await record_action(
                    session,
                    admin=admin,
                    action=AdminAction.REVOKE_ADMIN_CREDENTIAL,
                    org_id=None,
                    target=str(row.credential_id),
                    details={"name": row.name, "prefix": row.prefix},
                )
            return _record(row)

    async def _mark_used(self, credential_id: uuid.UUID) -> None:
        now = time.monotonic()
        last = self._last_marked.get(credential_id)
        if last is not None and now - last < LAST_USED_EVERY_SECONDS:
            return
        self._last_marked[credential_id] = now
        async with self._engine.begin() as connection:
            await connection.execute(
                update(AdminCredential)
                .where(AdminCredential.credential_id == credential_id)
                .values(last_used_at=func.now())
            )
