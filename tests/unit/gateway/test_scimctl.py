"""`scimctl` against a gateway served by uvicorn, as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from gateway_fakes import ADMIN_TOKEN, TOKEN, FakeIdentity
from identity_admin_fakes import FakeIdentityAdmin

from gateway.admin_cli import duration
from gateway.app import create_app
from gateway.cli import main
from services.common.bearer_tokens import CredentialKind, is_well_formed
from services.common.settings import StackSettings


@pytest.fixture
async def gateway_url(settings: StackSettings) -> AsyncIterator[str]:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.to_thread(thread.join, 10)


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch, gateway_url: str) -> None:
    monkeypatch.setenv("RIVANE_GATEWAY_URL", gateway_url)
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", ADMIN_TOKEN)


@pytest.mark.usefixtures("admin_env")
async def test_token_create_prints_only_the_new_token(
    fake_identity: FakeIdentity,
    fake_identity_admin: FakeIdentityAdmin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = await asyncio.to_thread(
        main, ["token", "create", "--org", "acme", "--description", "Okta"]
    )

    out, err = capsys.readouterr()
    assert status == 0
    token = out.removesuffix("\n")
    assert "\n" not in token
    assert token in fake_identity.tokens and token != TOKEN
    assert is_well_formed(token, kind=CredentialKind.SCIM)
    assert err == ""
    request = fake_identity_admin.requests["IssueToken"]
    assert (request.org_name, request.name, request.create_org) == (
        "acme",
        "Okta",
        True,
    )


@pytest.mark.usefixtures("admin_env")
async def test_token_list_prints_a_table_or_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.to_thread(
        main, ["token", "create", "--org", "acme", "--name", "Okta"]
    )
    capsys.readouterr()

    assert await asyncio.to_thread(main, ["token", "list", "--org", "acme"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert (
        await asyncio.to_thread(main, ["token", "list", "--org", "acme", "--json"]) == 0
    )
    document = json.loads(capsys.readouterr().out)

    assert table[0].split() == [
        "ID",
        "NAME",
        "PREFIX",
        "STATE",
        "CREATED",
        "LAST",
        "USED",
        "EXPIRES",
        "REVOKED",
    ]
    [token] = document["tokens"]
    assert token["token_id"] in table[1] and "Okta" in table[1]
    assert "active" in table[1]


@pytest.mark.usefixtures("admin_env")
async def test_token_rotate_prints_the_new_token_and_says_when_the_old_ends(
    fake_identity: FakeIdentity,
    fake_identity_admin: FakeIdentityAdmin,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.to_thread(main, ["token", "create", "--org", "acme"])
    old = capsys.readouterr().out.strip()

    status = await asyncio.to_thread(
        main, ["token", "rotate", "--org", "acme", "--grace", "24h"]
    )

    out, err = capsys.readouterr()
    assert status == 0
    new = out.removesuffix("\n")
    assert new != old and new in fake_identity.tokens
    assert fake_identity_admin.requests["RotateToken"].grace_seconds == 86400
    assert "keeps working until" in err


def test_durations_read_as_operators_write_them() -> None:
    assert [duration(text) for text in ("90", "90s", "30m", "24h", "7d", "2w")] == [
        90,
        90,
        1800,
        86400,
        604800,
        1209600,
    ]


def test_a_bad_duration_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["token", "rotate", "--org", "acme", "--grace", "a day"])

    assert "not a duration" in capsys.readouterr().err


def test_credential_generate_prints_a_new_admin_credential_offline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["credential", "generate"]) == 0

    assert is_well_formed(capsys.readouterr().out.strip(), kind=CredentialKind.ADMIN)


async def test_token_create_with_a_wrong_admin_token_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
    gateway_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RIVANE_GATEWAY_URL", gateway_url)
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", "not-the-admin-token")

    status = await asyncio.to_thread(main, ["token", "create", "--org", "acme"])

    out, err = capsys.readouterr()
    assert status != 0
    assert out == ""
    assert "401" in err


async def test_token_create_when_the_gateway_is_down_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("RIVANE_GATEWAY_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", ADMIN_TOKEN)

    status = await asyncio.to_thread(main, ["token", "create", "--org", "acme"])

    out, err = capsys.readouterr()
    assert status != 0
    assert out == ""
    assert "cannot reach the gateway" in err


def test_admin_token_prints_the_local_credential_file(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("rvnadm_local\n")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", "")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN_FILE", str(token_file))

    status = main(["admin-token"])

    assert status == 0
    assert capsys.readouterr().out == "rvnadm_local\n"


def test_admin_token_without_a_file_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", "")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))

    status = main(["admin-token"])

    out, err = capsys.readouterr()
    assert status != 0
    assert out == ""
    assert "no admin credential" in err


def test_token_create_requires_an_org(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["token", "create"])

    assert exit_info.value.code != 0
    assert "--org" in capsys.readouterr().err
