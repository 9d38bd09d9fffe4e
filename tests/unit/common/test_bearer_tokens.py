"""The format of Rivane credentials: prefix, base62 secret, CRC-32 checksum."""

from __future__ import annotations

import hashlib
import re
import zlib

import pytest

from services.common.bearer_tokens import (
    BASE62,
    CHECKSUM_LENGTH,
    SECRET_LENGTH,
    CredentialKind,
    compose,
    hash_token,
    is_well_formed,
    mint,
    shown_prefix,
)

SCIM_TOKEN = re.compile(r"rvn_scim_[0-9A-Za-z]{43}[0-9A-Za-z]{6}")


@pytest.mark.parametrize("kind", list(CredentialKind))
def test_a_minted_credential_is_well_formed_for_its_kind_only(
    kind: CredentialKind,
) -> None:
    token = mint(kind)

    assert token.startswith(f"rvn_{kind.value}_")
    assert len(token) == kind.length
    assert is_well_formed(token, kind=kind)
    others = [other for other in CredentialKind if other is not kind]
    assert not any(is_well_formed(token, kind=other) for other in others)


def test_a_scim_token_matches_the_pattern_secret_scanners_use() -> None:
    assert SCIM_TOKEN.fullmatch(mint(CredentialKind.SCIM))


def test_minted_secrets_differ() -> None:
    tokens = {mint(CredentialKind.SCIM) for _ in range(1000)}

    assert len(tokens) == 1000


def test_the_checksum_is_the_crc32_of_the_rest_in_base62() -> None:
    token = mint(CredentialKind.SCIM)
    body, checksum = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]

    value = 0
    for char in checksum:
        value = value * 62 + BASE62.index(char)
    assert value == zlib.crc32(body.encode("ascii"))


def test_every_single_character_typo_is_caught() -> None:
    token = mint(CredentialKind.SCIM)
    start = len(CredentialKind.SCIM.prefix)

    for position in range(start, len(token)):
        for char in "0aZ":
            if token[position] == char:
                continue
            typo = token[:position] + char + token[position + 1 :]
            assert not is_well_formed(typo, kind=CredentialKind.SCIM), typo


@pytest.mark.parametrize(
    "token",
    [
        "",
        "rvn_scim_",
        "rvn_" + "a" * 43,
        "Bearer rvn_scim_" + "a" * 49,
        "rvn_scim_" + "a" * 48,
        "rvn_scim_" + "a" * 50,
        "rvn_scim_" + "-" * 49,
        "rvn_scim_" + "é" * 49,
        "RVN_SCIM_" + "a" * 49,
    ],
)
def test_other_text_is_not_a_scim_token(token: str) -> None:
    assert not is_well_formed(token, kind=CredentialKind.SCIM)


def test_compose_refuses_a_secret_that_is_not_43_base62_characters() -> None:
    with pytest.raises(ValueError):
        compose(CredentialKind.SCIM, "short")
    with pytest.raises(ValueError):
        compose(CredentialKind.SCIM, "_" * SECRET_LENGTH)


def test_the_shown_prefix_is_the_kind_and_four_characters() -> None:
    token = mint(CredentialKind.SCIM)

    assert shown_prefix(token, kind=CredentialKind.SCIM) == token[:13]


def test_the_stored_hash_is_sha256_hex_of_the_whole_token() -> None:
    token = mint(CredentialKind.SCIM)

    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
