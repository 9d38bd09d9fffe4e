"""The signing key: its RFC 7638 key id, its JWK Set, and where it comes from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.common.settings import StackSettings
from services.session_revocation.keys import (
    SigningKeyMissing,
    load_signing_key,
    signing_key_from_pem,
    thumbprint,
)

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
    "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
    "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
    "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
    "Cur-kEgU8awapJzKnqDKgw"
)


def _pem(curve: ec.EllipticCurve) -> bytes:
    return ec.generate_private_key(curve).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def test_thumbprint_matches_the_rfc_7638_example() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "x"}

    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_key_id_is_the_thumbprint_of_the_published_key() -> None:
    key = signing_key_from_pem(_pem(ec.SECP256R1()))

    (published,) = key.jwks()["keys"]
    assert published["kid"] == key.kid == thumbprint(published)
    assert (published["kty"], published["crv"], published["alg"]) == (
        "EC",
        "P-256",
        "ES256",
    )
    assert "d" not in published


def test_a_key_on_another_curve_is_refused() -> None:
    with pytest.raises(SigningKeyMissing):
        signing_key_from_pem(_pem(ec.SECP384R1()))


def test_dev_generates_the_key_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    settings = StackSettings(environment="dev", session_signing_key_file=str(path))

    first = load_signing_key(settings)
    second = load_signing_key(settings)

    assert first.kid == second.kid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]


def test_outside_dev_a_missing_key_stops_the_service(tmp_path: Path) -> None:
    settings = StackSettings(
        environment="production",
        session_signing_key_file=str(tmp_path / "absent.pem"),
    )

    with pytest.raises(SigningKeyMissing):
        load_signing_key(settings)
    assert not (tmp_path / "absent.pem").exists()


def test_a_configured_pem_value_wins_over_the_file(tmp_path: Path) -> None:
    pem = _pem(ec.SECP256R1())
    settings = StackSettings(
        environment="production",
        session_signing_key=pem.decode(),
        session_signing_key_file=str(tmp_path / "absent.pem"),
    )

    assert load_signing_key(settings).kid == signing_key_from_pem(pem).kid
