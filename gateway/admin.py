"""The admin API's credentials: the configured one, and those issued through it.

The bootstrap credential is `settings.admin_token`, else the content of
`settings.admin_token_file`. In the "dev" environment a missing one is
generated into that file; anywhere else the gateway refuses to start without
one of at least `MIN_CONFIGURED_LENGTH` characters. The gateway keeps only its
hash and compares hashes in constant time; the identity service records the
same hash, so that admin audit rows can name it.

Further credentials (`rvn_admin_...`) are issued through `/admin/credentials`
and checked by the identity service, which stores their hashes. A SCIM token
never opens the admin API.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import authorization_of, bearer_token
from gateway.context import request_id
from gateway.identity_admin import IdentityAdminClient, get_identity_admin
from protos.rivane.identity.v1 import admin_pb2
from services.common.bearer_tokens import (
    CredentialKind,
    hash_token,
    is_well_formed,
    mint,
)
from services.common.errors import ScimError, Unauthorized
from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

ADMIN_TOKEN_PREFIX = CredentialKind.ADMIN.prefix
MIN_CONFIGURED_LENGTH = 32
# How long the bootstrap credential's audit identity is reused; registering
# it again also refreshes its last_used_at.
_BOOTSTRAP_REFRESH_SECONDS = 60.0


class AdminTokenMissing(RuntimeError):
    """No usable admin credential is configured outside the "dev" environment."""


def load_admin_token(settings: StackSettings) -> str:
    """Return the bootstrap admin credential, generating a local one in "dev"."""
    token = settings.admin_token.strip()
    path = Path(settings.admin_token_file)
    if not token and path.is_file():
        token = path.read_text(encoding="utf-8").strip()

    if settings.environment == "dev":
        return token or _generate_local_token(path)
    if len(token) < MIN_CONFIGURED_LENGTH:
        raise AdminTokenMissing(
            "set RIVANE_ADMIN_TOKEN or RIVANE_ADMIN_TOKEN_FILE to a credential of "
            f"at least {MIN_CONFIGURED_LENGTH} characters outside the dev "
            "environment (`scimctl credential generate` prints a new one)"
        )
    return token


def _generate_local_token(path: Path) -> str:
    token = mint(CredentialKind.ADMIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only, from the moment it exists.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    logger.info("generated the local admin credential in %s", path)
    return token


@dataclass(frozen=True, slots=True)
class AdminCaller:
    """The admin credential a request authenticated with."""

    credential_id: str
    name: str


class AdminGuard:
    """Tell admin credentials from everything else."""

    def __init__(self, bootstrap_token: str) -> None:
        self._bootstrap_hash = hash_token(bootstrap_token).encode("ascii")
        self._bootstrap: AdminCaller | None = None
        self._bootstrap_checked = 0.0

    async def authenticate(
        self, presented: str, *, admin: IdentityAdminClient
    ) -> AdminCaller:
        """Return the admin behind `presented`, or raise `Unauthorized`."""
        if hmac.compare_digest(
            hash_token(presented).encode("ascii"), self._bootstrap_hash
        ):
            return await self._bootstrap_caller(admin)
        # Anything else must look like an issued admin credential before the
        # identity service is asked: a SCIM token or a guess costs no call.
        if not is_well_formed(presented, kind=CredentialKind.ADMIN):
            raise Unauthorized("unknown admin credential")
        try:
            found = await admin.resolve_admin_credential(secret=presented)
        except ScimError as error:
            if error.status >= 500:
                raise
            raise Unauthorized("unknown or revoked admin credential") from error
        return AdminCaller(credential_id=str(found.credential_id), name=found.name)

    async def _bootstrap_caller(self, admin: IdentityAdminClient) -> AdminCaller:
        now = time.monotonic()
        if (
            self._bootstrap is None
            or now - self._bootstrap_checked > _BOOTSTRAP_REFRESH_SECONDS
        ):
            found = await admin.register_bootstrap_admin(
                token_hash=self._bootstrap_hash.decode("ascii")
            )
            self._bootstrap = AdminCaller(
                credential_id=str(found.credential_id), name=found.name
            )
            self._bootstrap_checked = now
        return self._bootstrap


async def require_admin(request: Request) -> AdminCaller:
    """Let only holders of an admin credential through; return which one."""
    presented = bearer_token(authorization_of(request))
    guard: AdminGuard = request.app.state.admin_guard
    caller = await guard.authenticate(presented, admin=get_identity_admin(request))
    request.state.admin_credential_id = caller.credential_id
    return caller


Admin = Annotated[AdminCaller, Depends(require_admin)]


def admin_change(request: Request, caller: Admin) -> admin_pb2.AdminContext:
    """Return who asks for an admin change, for the admin audit log."""
    return admin_pb2.AdminContext(
        credential_id=caller.credential_id, request_id=request_id(request)
    )


AdminChange = Annotated[admin_pb2.AdminContext, Depends(admin_change)]
