"""Admin authentication of a browser: a sealed credential cookie, and CSRF tokens.

The login page takes an admin credential and hands the browser a cookie that
holds it sealed (Fernet: encrypted and authenticated, with the time it was
issued), never in the clear. The cookie is HttpOnly, SameSite=Strict and sent
only to `/admin/ui` paths; every page opens it, refuses it after
`COOKIE_SECONDS` whatever the browser kept, and checks the credential inside
exactly as the admin API checks a bearer credential, so a revoked credential
ends its sessions at once.

A form that changes something carries a CSRF token: an HMAC of the
credential's hash. The login form carries one too, bound to a random value in
a SameSite=Strict cookie of its own, so a page from elsewhere cannot log a
browser in under a credential of its choosing. The keys of both are drawn from
the bootstrap credential itself (not its hash, which the database keeps), so
every replica of a deployment shares them and nobody else can derive them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated

from cryptography.fernet import Fernet, InvalidToken
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
LOGIN_COOKIE = "rivane_admin_login"
# The credential cookie works for a working day, then the browser logs in again.
COOKIE_SECONDS = 8 * 3600
# A login form left open longer than this is shown again.
LOGIN_FORM_SECONDS = 3600
# A sealed cookie of the longest credential is under 400 characters.
MAX_COOKIE_LENGTH = 1024


class LoginRequired(Exception):
    """The browser holds no working admin credential: send it to the login page."""


class CsrfRefused(Exception):
    """A form came without the CSRF token of the credential that sent it."""


def deployment_key(bootstrap_token: str, purpose: bytes) -> bytes:
    """Return the 32-byte key for `purpose` shared by every replica of a deployment."""
    return hmac.new(bootstrap_token.encode("utf-8"), purpose, hashlib.sha256).digest()


class CsrfKey:
    """Mint and check the CSRF tokens of the admin pages' forms."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    @classmethod
    def of_deployment(cls, bootstrap_token: str) -> CsrfKey:
        """Return the key every replica sharing `bootstrap_token` uses.

        A form shown by one replica is then accepted by the others; only the
        holder of the bootstrap credential could mint tokens, and it needs none.
        """
        return cls(deployment_key(bootstrap_token, b"rivane admin ui csrf"))

    def token_for(self, credential: str) -> str:
        """Return the CSRF token of the forms shown to `credential`."""
        digest = hash_token(credential).encode("ascii")
        return hmac.new(self._key, digest, hashlib.sha256).hexdigest()

    def check(self, credential: str, presented: str) -> None:
        """Raise `CsrfRefused` unless `presented` is the token of `credential`."""
        if not credential or not _same(self.token_for(credential), presented):
            raise CsrfRefused

    def login_token_for(self, nonce: str) -> str:
        """Return the CSRF token of a login form shown with cookie value `nonce`."""
        return hmac.new(
            self._key, b"login:" + nonce.encode(), hashlib.sha256
        ).hexdigest()

    def check_login(self, nonce: str, presented: str) -> None:
        """Raise `CsrfRefused` unless the login form came from our own page."""
        if not nonce or not _same(self.login_token_for(nonce), presented):
            raise CsrfRefused


def _same(expected: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(
        expected.encode("ascii"), presented.encode("ascii", errors="replace")
    )


class CookieSeal:
    """Seal a credential into a cookie value, and open it within its lifetime."""

    def __init__(self, key: bytes | None = None) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key or secrets.token_bytes(32)))

    @classmethod
    def of_deployment(cls, bootstrap_token: str) -> CookieSeal:
        """Return the seal every replica sharing `bootstrap_token` uses."""
        return cls(deployment_key(bootstrap_token, b"rivane admin ui cookie"))

    def seal(self, credential: str) -> str:
        """Return the cookie value that carries `credential`."""
        return self._fernet.encrypt(credential.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, *, max_age_seconds: int = COOKIE_SECONDS) -> str:
        """Return the credential in `sealed`, or "" if forged, altered or too old."""
        if not sealed or len(sealed) > MAX_COOKIE_LENGTH:
            return ""
        try:
            opened = self._fernet.decrypt(sealed, ttl=max_age_seconds)
        except (InvalidToken, ValueError):
            return ""
        return opened.decode("utf-8", errors="replace")


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
    """Return the credential sealed in the browser's cookie, or "" if none works."""
    seal: CookieSeal = request.app.state.cookie_seal
    return seal.open(request.cookies.get(COOKIE, ""))


def has_cookie(request: Request) -> bool:
    """Say whether the browser sent a credential cookie, working or not."""
    return COOKIE in request.cookies


async def require_ui_admin(request: Request) -> AdminCaller:
    """Let only browsers holding an admin credential through; return which one."""
    try:
        return await authenticate(request, cookie_credential(request))
    except Unauthorized:
        raise LoginRequired from None


def _set_cookie(
    response: Response,
    request: Request,
    *,
    name: str,
    value: str,
    max_age: int,
    path: str,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _drop_cookie(response: Response, request: Request, *, name: str, path: str) -> None:
    response.delete_cookie(
        name,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def keep_credential(response: Response, request: Request, credential: str) -> None:
    """Set the cookie that holds the credential, sealed, for the admin pages only."""
    seal: CookieSeal = request.app.state.cookie_seal
    _set_cookie(
        response,
        request,
        name=COOKIE,
        value=seal.seal(credential),
        max_age=COOKIE_SECONDS,
        path=UI_PATH,
    )
    _drop_cookie(response, request, name=LOGIN_COOKIE, path=LOGIN_PATH)


def forget_credential(response: Response, request: Request) -> None:
    """Clear the credential cookie."""
    _drop_cookie(response, request, name=COOKIE, path=UI_PATH)


def login_nonce(request: Request) -> str:
    """Return the login cookie's value the browser sent, or ""."""
    value = request.cookies.get(LOGIN_COOKIE, "")
    return value if 0 < len(value) <= 64 else ""


def start_login(response: Response, request: Request, nonce: str) -> None:
    """Set the login cookie that the login form's CSRF token is bound to."""
    _set_cookie(
        response,
        request,
        name=LOGIN_COOKIE,
        value=nonce,
        max_age=LOGIN_FORM_SECONDS,
        path=LOGIN_PATH,
    )


UiAdmin = Annotated[AdminCaller, Depends(require_ui_admin)]
