"""Access tokens verify only as ES256 with our key; every forgery is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.session_revocation.keys import SigningKey, signing_key_from_pem
from services.session_revocation.tokens import AccessTokens, Reason

ORG = "0b7f6c2e-0000-4000-8000-00000000a11c"
USER = "4e796e78-0000-4000-8000-0000000000a1"
NOW = 1_800_000_000
ISSUER = "rivane-test"


def _new_key() -> SigningKey:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return signing_key_from_pem(pem)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return _new_key()


@pytest.fixture(scope="module")
def tokens(key: SigningKey) -> AccessTokens:
    return AccessTokens(key=key, issuer=ISSUER)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "sub": USER,
        "org": ORG,
        "jti": "jti-1",
        "iat": NOW,
        "exp": NOW + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    parts = [json.dumps(header).encode(), json.dumps(claims).encode()]
    return ".".join(_b64(part) for part in parts)


def test_a_signed_token_verifies_with_its_claims(tokens: AccessTokens) -> None:
    signed = tokens.sign(org_id=ORG, user_id=USER, issued_at=NOW, ttl_seconds=600)

    verification = tokens.verify(signed.token, now=NOW + 1)

    assert verification.active
    assert verification.claims == signed.claims
    assert (signed.claims.sub, signed.claims.org) == (USER, ORG)
    assert signed.claims.exp == NOW + 600
    header = jwt.get_unverified_header(signed.token)
    assert header["alg"] == "ES256"


def test_alg_none_is_refused(key: SigningKey, tokens: AccessTokens) -> None:
    token = _unsigned({"alg": "none", "kid": key.kid}, _claims()) + "."

    assert tokens.verify(token, now=NOW).reason == Reason.BAD_SIGNATURE


def test_hmac_keyed_with_the_public_key_is_refused(
    key: SigningKey, tokens: AccessTokens
) -> None:
    # Algorithm confusion: HS256 with the PEM of our public key as the secret.
    public_pem = key.public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    signing_input = _unsigned({"alg": "HS256", "kid": key.kid}, _claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    verification = tokens.verify(f"{signing_input}.{_b64(mac)}", now=NOW)

    assert verification.reason == Reason.BAD_SIGNATURE
    assert verification.claims is None


def test_a_tampered_token_is_refused(tokens: AccessTokens) -> None:
    signed = tokens.sign(org_id=ORG, user_id=USER, issued_at=NOW, ttl_seconds=600)
    header, _payload, signature = signed.token.split(".")
    forged_payload = _b64(json.dumps(_claims(sub=USER[:-1] + "b")).encode())

    verification = tokens.verify(f"{header}.{forged_payload}.{signature}", now=NOW)

    assert verification.reason == Reason.BAD_SIGNATURE


def test_another_key_claiming_our_key_id_is_refused(
    key: SigningKey, tokens: AccessTokens
) -> None:
    other = _new_key()
    token = jwt.encode(
        _claims(), other.private_key, algorithm="ES256", headers={"kid": key.kid}
    )

    assert tokens.verify(token, now=NOW).reason == Reason.BAD_SIGNATURE


def test_an_unknown_key_id_is_refused(key: SigningKey, tokens: AccessTokens) -> None:
    token = jwt.encode(
        _claims(), key.private_key, algorithm="ES256", headers={"kid": "rotated-out"}
    )

    assert tokens.verify(token, now=NOW).reason == Reason.BAD_SIGNATURE


def test_another_asymmetric_algorithm_is_refused(
    key: SigningKey, tokens: AccessTokens
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": key.kid})

    assert tokens.verify(token, now=NOW).reason == Reason.BAD_SIGNATURE


def test_an_expired_token_is_refused_but_says_whose_it_was(
    tokens: AccessTokens,
) -> None:
    signed = tokens.sign(org_id=ORG, user_id=USER, issued_at=NOW, ttl_seconds=60)

    verification = tokens.verify(signed.token, now=NOW + 60)

    assert verification.reason == Reason.EXPIRED
    assert verification.claims is not None and verification.claims.sub == USER


@pytest.mark.parametrize("missing", ["sub", "org", "jti", "iat", "exp", "iss"])
def test_a_token_without_a_required_claim_is_refused(
    key: SigningKey, tokens: AccessTokens, missing: str
) -> None:
    claims = _claims(**{missing: None})
    token = jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid}
    )

    assert tokens.verify(token, now=NOW).reason == Reason.MALFORMED


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"org": 42},
        {"exp": "tomorrow"},
        {"roles": "admin"},
        {"roles": ["admin", 7]},
    ],
)
def test_claims_of_the_wrong_issuer_or_type_are_refused(
    key: SigningKey, tokens: AccessTokens, changes: dict[str, Any]
) -> None:
    token = jwt.encode(
        _claims(**changes), key.private_key, algorithm="ES256", headers={"kid": key.kid}
    )

    assert not tokens.verify(token, now=NOW).active


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 5000])
def test_garbage_is_malformed(tokens: AccessTokens, token: str) -> None:
    assert tokens.verify(token, now=NOW).reason == Reason.MALFORMED


def test_a_token_issued_in_the_future_is_refused(
    key: SigningKey, tokens: AccessTokens
) -> None:
    token = jwt.encode(
        _claims(iat=NOW + 60),
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid},
    )

    assert tokens.verify(token, now=NOW).reason == Reason.MALFORMED


def test_a_verified_token_tells_the_roles_it_was_issued_with(
    tokens: AccessTokens,
) -> None:
    signed = tokens.sign(
        org_id="org-1",
        user_id="user-1",
        issued_at=int(NOW),
        ttl_seconds=60,
        roles=["finance.approver", "staff"],
    )

    verified = tokens.verify(signed.token, now=NOW)

    assert verified.active
    assert verified.claims is not None
    assert verified.claims.roles == ("finance.approver", "staff")
