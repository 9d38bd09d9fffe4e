"""Admin authentication of a browser: the credential in a cookie, and CSRF tokens.

The login page takes an admin credential and keeps it in an HttpOnly,
SameSite=Strict cookie that only `/admin/ui` paths receive; every page then
checks it exactly as the admin API checks a bearer credential. A form that
changes something carries a CSRF token: an HMAC of the credential's hash under
a key drawn from the deployment's bootstrap credential, so a page from
elsewhere cannot forge one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from gateway.admin import AdminCaller, AdminGuard
from gateway.auth import MAX_TOKEN_LENGTH
from gateway.identity_admin import get_identity_admin
from services.common.bearer_tokens import hash_token
from services.common.errors import Unauthorized

UI_PATH = "/admin/ui"
LOGIN_PATH = f"{UI_PATH}/login"
COOKIE = "rivane_admin"
# The browser forgets the credential after a working day.
COOKIE_SECONDS = 8 * 3600


class LoginRequired(Exception):
    """The browser holds no working admin credential: send it to the login page."""


class CsrfRefused(Exception):
    """A form came without the CSRF token of the credential that sent it."""


class CsrfKey:
    """Mint and check the CSRF tokens of one gateway process."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    @classmethod
    def of_deployment(cls, bootstrap_token: str) -> CsrfKey:
        """Return the key every replica sharing `bootstrap_token` uses.

        A form shown by one replica is then accepted by the others; only the
        holder of the bootstrap credential could mint tokens, and it needs none.
        """
        seed = hash_token(bootstrap_token).encode("ascii")
        return cls(hmac.new(seed, b"rivane admin ui csrf", hashlib.sha256).digest())

    def token_for(self, credential: str) -> str:
        """Return the CSRF token of the forms shown to `credential`."""
        digest = hash_token(credential).encode("ascii")
        return hmac.new(self._key, digest, hashlib.sha256).hexdigest()

    def check(self, credential: str, presented: str) -> None:
        """Raise `CsrfRefused` unless `presented` is the token of `credential`."""
        if not presented or not hmac.compare_digest(
            self.token_for(credential).encode("ascii"),
            presented.encode("ascii", errors="replace"),
        ):
            raise CsrfRefused


async def authenticate(request: Request, credential: str) -> AdminCaller:
    """Check a credential as `require_admin` does; raise `Unauthorized` if bad."""
    credential = credential.strip()
    if not credential or len(credential) > MAX_TOKEN_LENGTH:
        raise Unauthorized("an admin credential is required")
    guard: AdminGuard = request.app.state.admin_guard
    caller = await guard.authenticate(credential, admin=get_identity_admin(request))
    request.state.admin_credential_id = caller.credential_id
    return caller


def cookie_credential(request: Request) -> str:
    """Return the credential the browser sent in its cookie, or ""."""
    return request.cookies.get(COOKIE, "")


async def require_ui_admin(request: Request) -> AdminCaller:
    """Let only browsers holding an admin credential through; return which one."""
    try:
        return await authenticate(request, cookie_credential(request))
    except Unauthorized:
        raise LoginRequired from None


def keep_credential(response: Response, request: Request, credential: str) -> None:
    """Set the cookie that holds the credential for the admin pages only."""
    response.set_cookie(
        COOKIE,
        credential,
        max_age=COOKIE_SECONDS,
        path=UI_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def forget_credential(response: Response, request: Request) -> None:
    """Clear the credential cookie."""
    response.delete_cookie(
        COOKIE,
        path=UI_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


UiAdmin = Annotated[AdminCaller, Depends(require_ui_admin)]
