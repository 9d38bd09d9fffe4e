"""The ES256 key that signs access tokens, its key id and its JWK Set.

The key is `settings.session_signing_key` (PEM), else the content of
`settings.session_signing_key_file`. In the "dev" environment a missing file
is generated once, so that a restarted service still verifies the tokens it
issued; anywhere else the service refuses to start without a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from services.common.settings import StackSettings

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"


class SigningKeyMissing(RuntimeError):
    """No usable signing key is configured outside the "dev" environment."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A P-256 private key and what verifiers need to know of it."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str
    public_jwk: dict[str, str]

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key that verifies the signatures."""
        return self.private_key.public_key()

    def jwks(self) -> dict[str, Any]:
        """Return the JWK Set that publishes the public key (RFC 7517 §5)."""
        return {"keys": [self.public_jwk]}


# RFC 7638 §3.2: the members a thumbprint covers, by key type.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


def thumbprint(jwk: dict[str, str]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a public JWK.

    RFC 7638 §3: only the required members, in lexicographic order, with no
    whitespace, hashed with SHA-256 and encoded base64url without padding.
    """
    required = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def signing_key_from_pem(pem: bytes) -> SigningKey:
    """Return the signing key in `pem`, which must hold a P-256 private key."""
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise SigningKeyMissing("the session signing key must be a P-256 EC key")

    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public = {name: str(jwk[name]) for name in ("kty", "crv", "x", "y")}
    kid = thumbprint(public)
    return SigningKey(
        private_key=private_key,
        kid=kid,
        public_jwk={**public, "kid": kid, "use": "sig", "alg": ALGORITHM},
    )


def load_signing_key(settings: StackSettings) -> SigningKey:
    """Return the configured signing key, generating a local one in "dev"."""
    if settings.session_signing_key:
        return signing_key_from_pem(settings.session_signing_key.encode("utf-8"))

    path = Path(settings.session_signing_key_file)
    if path.is_file():
        return signing_key_from_pem(path.read_bytes())

    if settings.environment != "dev":
        raise SigningKeyMissing(
            "set RIVANE_SESSION_SIGNING_KEY or RIVANE_SESSION_SIGNING_KEY_FILE "
            "outside the dev environment"
        )
    return _generate_local_key(path)


def _generate_local_key(path: Path) -> SigningKey:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once must end up with one key: write aside,
    # then link into place; the loser reads the winner's key.
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    try:
        os.link(staging, path)
        logger.info("generated the local session signing key in %s", path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
    return signing_key_from_pem(path.read_bytes())
