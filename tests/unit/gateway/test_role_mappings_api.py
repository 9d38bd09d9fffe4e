"""The role-mapping admin API and `scimctl mapping`, against fake services."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from gateway_fakes import ADMIN_TOKEN, BASE, ORG_ID, FakeIdentity, _abort
from group_mapping_fakes import FakeGroupMapping
from identity_admin_fakes import BOOTSTRAP_ID

from gateway.app import create_app
from gateway.cli import main
from protos.rivane.identity.v1 import identity_pb2
from services.common.errors import NotFound
from services.common.settings import StackSettings

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAPPINGS = f"{BASE}/admin/orgs/acme/role-mappings"


class IdentityWithOrgs(FakeIdentity):
    """The fake identity service, knowing one org by name: acme."""

    async def GetOrg(self, request: Any, context: Any) -> Any:
        await self._enter("GetOrg", request, context)
        if request.name != "acme":
            await _abort(context, NotFound(f"org {request.name!r} not found"))
        return identity_pb2.Org(org_id=ORG_ID, name="acme")


@pytest.fixture
async def fake_identity() -> AsyncIterator[FakeIdentity]:
    yield IdentityWithOrgs()


async def test_role_mappings_need_the_admin_credential(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get(MAPPINGS)

    assert response.status_code == 401


async def test_set_mapping_answers_201_and_acts_as_admin(
    anonymous: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Finance", ["u-1"])

    response = await anonymous.post(
        MAPPINGS, headers=ADMIN, json={"group": "Finance", "role": "finance.approver"}
    )

    assert response.status_code == 201
    assert response.json()["group_id"] == group_id
    assert response.json()["group"] == "Finance"
    assert response.json()["role"] == "finance.approver"
    asked = fake_group_mapping.requests["SetRoleMapping"]
    assert (asked.org_id, asked.group, asked.context.source) == (
        ORG_ID,
        "Finance",
        "ADMIN",
    )
    assert asked.context.request_id
    # The group's audit trail names the admin credential that asked.
    assert asked.context.token_id == BOOTSTRAP_ID


@pytest.mark.parametrize(
    "body", [{"group": "Finance"}, {"role": "r"}, {"group": "", "role": "r"}]
)
async def test_set_mapping_needs_a_group_and_a_role(
    anonymous: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await anonymous.post(MAPPINGS, headers=ADMIN, json=body)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


async def test_list_shows_mappings_and_unmapped_groups(
    anonymous: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    mapped = fake_group_mapping.add(ORG_ID, "Finance", ["u-1"])
    unmapped = fake_group_mapping.add(ORG_ID, "Interns", ["u-2", "u-3"])
    fake_group_mapping.mappings.append((ORG_ID, mapped, "finance.approver"))

    body = (await anonymous.get(MAPPINGS, headers=ADMIN)).json()

    assert body["org_id"] == ORG_ID
    assert [(m["group_id"], m["role"]) for m in body["mappings"]] == [
        (mapped, "finance.approver")
    ]
    [interns] = body["unmapped_groups"]
    assert (interns["group_id"], interns["group"], interns["members"]) == (
        unmapped,
        "Interns",
        2,
    )


async def test_delete_mapping_reports_how_many_went(
    anonymous: httpx.AsyncClient, fake_group_mapping: FakeGroupMapping
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Finance", [])
    fake_group_mapping.mappings.append((ORG_ID, group_id, "a"))
    fake_group_mapping.mappings.append((ORG_ID, group_id, "b"))

    response = await anonymous.delete(
        MAPPINGS, headers=ADMIN, params={"group": "Finance", "role": "a"}
    )

    assert response.json() == {"deleted": 1}
    assert fake_group_mapping.requests["DeleteRoleMapping"].role_id == "a"


async def test_unknown_org_is_a_404(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get(
        f"{BASE}/admin/orgs/nobody/role-mappings", headers=ADMIN
    )

    assert response.status_code == 404


@pytest.fixture
async def gateway_url(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    monkeypatch.setenv("RIVANE_GATEWAY_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", ADMIN_TOKEN)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.to_thread(thread.join, 10)


@pytest.mark.usefixtures("gateway_url")
async def test_scimctl_mapping_set_list_delete(
    fake_group_mapping: FakeGroupMapping, capsys: pytest.CaptureFixture[str]
) -> None:
    group_id = fake_group_mapping.add(ORG_ID, "Finance", ["u-1"])
    fake_group_mapping.add(ORG_ID, "Interns", ["u-2"])

    set_status = await asyncio.to_thread(
        main, ["mapping", "set", "--org", "acme", "--group", "Finance", "--role", "r1"]
    )
    set_out = capsys.readouterr().out
    list_status = await asyncio.to_thread(main, ["mapping", "list", "--org", "acme"])
    list_out = capsys.readouterr().out
    delete_status = await asyncio.to_thread(
        main, ["mapping", "delete", "--org", "acme", "--group", "Finance"]
    )
    delete_out = capsys.readouterr().out

    assert (set_status, list_status, delete_status) == (0, 0, 0)
    assert set_out == f"Finance ({group_id}) -> r1\n"
    assert f"Finance ({group_id}) -> r1" in list_out
    assert "Interns" in list_out.split("unmapped:")[1]
    assert delete_out == "removed 1 mapping\n"


@pytest.mark.usefixtures("gateway_url")
async def test_scimctl_mapping_of_an_unknown_group_fails_clearly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = await asyncio.to_thread(
        main, ["mapping", "set", "--org", "acme", "--group", "Nope", "--role", "r"]
    )

    out, err = capsys.readouterr()
    assert status != 0
    assert out == ""
    assert "404" in err and "Nope" in err
