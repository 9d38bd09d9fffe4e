"""Rivane access tokens: JWTs signed with ES256, and their verification.

Only ES256 with our key id is accepted: `alg: none`, HMAC algorithms keyed
with the public key (algorithm confusion) and unknown keys are refused before
any claim is read. Whether a token is revoked is not decided here (see
`sessions.py`); this module knows only the token itself.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

import jwt

from services.session_revocation.keys import ALGORITHM, SigningKey

# Far longer than any token we sign; a bigger one is not parsed at all.
MAX_TOKEN_LENGTH = 4096
REQUIRED_CLAIMS = ("iss", "sub", "org", "jti", "iat", "exp")
# Replicas' clocks may differ a little; a token from further ahead is refused.
CLOCK_SKEW_SECONDS = 5


class Reason(enum.StrEnum):
    """Why a token is not active."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    REVOKED = "revoked"
    USER_NOT_ACTIVE = "user_not_active"


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims of a token whose signature verified."""

    iss: str
    sub: str
    org: str
    jti: str
    iat: int
    exp: int
    # The user's Rivane roles when the token was issued.
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verification:
    """What a token is: active when `reason` is None.

    `claims` are there whenever the signature verified, even when the token
    has expired.
    """

    claims: Claims | None
    reason: Reason | None

    @property
    def active(self) -> bool:
        """Whether the token verified and has not expired."""
        return self.reason is None


@dataclass(frozen=True, slots=True)
class SignedToken:
    """A token just signed."""

    token: str
    claims: Claims


class AccessTokens:
    """Sign and verify the access tokens of one issuer with one key."""

    def __init__(self, *, key: SigningKey, issuer: str) -> None:
        self._key = key
        self._issuer = issuer

    def sign(
        self,
        *,
        org_id: str,
        user_id: str,
        issued_at: int,
        ttl_seconds: int,
        roles: Sequence[str] = (),
    ) -> SignedToken:
        """Sign a token for a user, valid from `issued_at` for `ttl_seconds`.

        `roles` are the user's Rivane roles, carried in the `roles` claim.
        """
        claims = Claims(
            iss=self._issuer,
            sub=user_id,
            org=org_id,
            jti=str(uuid.uuid4()),
            iat=issued_at,
            exp=issued_at + ttl_seconds,
            roles=tuple(roles),
        )
        token = jwt.encode(
            {
                "iss": claims.iss,
                "sub": claims.sub,
                "org": claims.org,
                "jti": claims.jti,
                "iat": claims.iat,
                "exp": claims.exp,
                "roles": list(claims.roles),
            },
            self._key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self._key.kid},
        )
        return SignedToken(token=token, claims=claims)

    def verify(self, token: str, *, now: float) -> Verification:
        """Check the token's form, algorithm, key, signature and expiry."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return Verification(claims=None, reason=Reason.MALFORMED)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return Verification(claims=None, reason=Reason.MALFORMED)

        # Decided by the header before any key is used: a token that names
        # another algorithm or key is not ours.
        if header.get("alg") != ALGORITHM or header.get("kid") != self._key.kid:
            return Verification(claims=None, reason=Reason.BAD_SIGNATURE)

        try:
            payload = jwt.decode(
                token,
                self._key.public_key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                # The times are checked below, against the caller's clock, so
                # that an expired token still tells whose it was.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
            return Verification(claims=None, reason=Reason.BAD_SIGNATURE)
        except jwt.InvalidTokenError:
            return Verification(claims=None, reason=Reason.MALFORMED)

        claims = _claims(payload)
        if claims is None or claims.iat > now + CLOCK_SKEW_SECONDS:
            return Verification(claims=None, reason=Reason.MALFORMED)
        # RFC 7519 §4.1.4: not accepted on or after the expiry time.
        if now >= claims.exp:
            return Verification(claims=claims, reason=Reason.EXPIRED)
        return Verification(claims=claims, reason=None)


def _claims(payload: dict[str, object]) -> Claims | None:
    """Return the claims when each has the type we sign it with."""
    iss, sub, org, jti = (payload.get(name) for name in ("iss", "sub", "org", "jti"))
    iat, exp = payload.get("iat"), payload.get("exp")
    if not (_text(iss) and _text(sub) and _text(org) and _text(jti)):
        return None
    if not (_numeric_date(iat) and _numeric_date(exp)):
        return None
    roles = payload.get("roles", [])
    # Tokens we sign carry a list of role ids; anything else is not ours.
    if not (isinstance(roles, list) and all(_text(role) for role in roles)):
        return None
    return Claims(
        iss=iss,
        sub=sub,
        org=org,
        jti=jti,
        iat=math.floor(iat),
        exp=math.floor(exp),
        roles=tuple(roles),
    )


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def _numeric_date(value: object) -> TypeGuard[int | float]:
    # RFC 7519 §2: a JSON number; bool is an int in Python but not a date.
    return isinstance(value, int | float) and not isinstance(value, bool)
