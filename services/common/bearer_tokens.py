"""Rivane bearer credentials: a recognisable prefix, a random secret, a checksum.

A credential reads `rvn_<kind>_<secret><checksum>`:

- `kind` says what it opens: `scim` an org's SCIM API, `admin` the admin API;
- `secret` holds 32 random bytes written in base62, 43 characters;
- `checksum` is the CRC-32 of everything before it, in base62, 6 characters.

The prefix lets secret scanners and people recognise a leaked credential; the
checksum lets the gateway refuse a mistyped or invented one without a lookup.
Only the SHA-256 of a credential is ever stored.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_BYTES = 32
# 62**43 > 2**256 > 62**42: the shortest width that holds every secret.
SECRET_LENGTH = 43
# 62**6 > 2**32: every CRC-32.
CHECKSUM_LENGTH = 6
# Characters of the secret shown to admins beside the prefix (about 24 bits).
SHOWN_SECRET_CHARS = 4

_ALPHABET = frozenset(BASE62)


class CredentialKind(enum.StrEnum):
    """What a credential opens."""

    SCIM = "scim"
    ADMIN = "admin"

    @property
    def prefix(self) -> str:
        """Return the text every credential of this kind starts with."""
        return f"rvn_{self.value}_"

    @property
    def length(self) -> int:
        """Return the length of every credential of this kind."""
        return len(self.prefix) + SECRET_LENGTH + CHECKSUM_LENGTH


def _base62(value: int, *, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    if value:
        raise ValueError(f"value does not fit in {width} base62 digits")
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), width=CHECKSUM_LENGTH)


def compose(kind: CredentialKind, secret: str) -> str:
    """Return the credential of `kind` around a base62 `secret`, checksum appended."""
    if len(secret) != SECRET_LENGTH or not _ALPHABET.issuperset(secret):
        raise ValueError(f"a secret is {SECRET_LENGTH} base62 characters")
    body = kind.prefix + secret
    return body + _checksum(body)


def mint(kind: CredentialKind) -> str:
    """Return a new credential of `kind` with a secret from the system's CSPRNG."""
    secret = _base62(
        int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big"), width=SECRET_LENGTH
    )
    return compose(kind, secret)


def is_well_formed(token: str, *, kind: CredentialKind) -> bool:
    """Say whether `token` is a credential of `kind` with a correct checksum.

    A mistyped, truncated or invented credential fails here, before any lookup.
    """
    if len(token) != kind.length or not token.startswith(kind.prefix):
        return False
    tail = token[len(kind.prefix) :]
    if not _ALPHABET.issuperset(tail):
        return False
    body, checksum = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    return _checksum(body) == checksum


def shown_prefix(token: str, *, kind: CredentialKind) -> str:
    """Return the start of a credential that admins see to tell tokens apart."""
    return token[: len(kind.prefix) + SHOWN_SECRET_CHARS]


def hash_token(token: str) -> str:
    """Return the stored form of a credential: SHA-256, hex.

    The secret carries 256 random bits, so a fast hash is enough: there is no
    dictionary to try.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
