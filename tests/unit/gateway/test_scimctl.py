"""`scimctl` against a gateway served by uvicorn, as an operator runs it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from gateway_fakes import ADMIN_TOKEN, TOKEN, FakeIdentity

from gateway.app import create_app
from gateway.cli import main
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
    fake_identity: FakeIdentity, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(
        main, ["token", "create", "--org", "acme", "--description", "Okta"]
    )

    out, err = capsys.readouterr()
    assert status == 0
    token = out.removesuffix("\n")
    assert "\n" not in token
    assert token in fake_identity.tokens and token != TOKEN
    assert err == ""
    request = fake_identity.requests["CreateToken"]
    assert (request.org_name, request.description) == ("acme", "Okta")


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
