"""Hostile and sloppy SCIM clients against the real stack: a SCIM error, no writes.

Each test names what a client sent that once gave a 500, a 503, a redirect or
a wrong answer, and checks what the client sees now and that the database
holds no trace of the request.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from protos.rivane.identity.v1 import admin_pb2, admin_pb2_grpc
from protos.rivane.identity.v1 import identity_pb2 as pb
from protos.rivane.identity.v1 import identity_pb2_grpc as pb_grpc
from services.identity.models import OutboxEvent, ProvisioningAudit, User
from tests.integration.conftest import OrgCredentials, create_org_token
from tests.integration.stack import Stack

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def login() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.test"


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def assert_scim_error(
    response: httpx.Response, status: int, scim_type: str | None
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]


async def create(client: httpx.AsyncClient, **attributes: Any) -> dict[str, Any]:
    body = {"schemas": [USER_SCHEMA], "userName": login(), **attributes}
    response = await client.post("/Users", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def writes(database: AsyncEngine, org: OrgCredentials) -> tuple[int, ...]:
    """Users, audit rows, outbox events and the sum of user versions of an org."""
    async with database.connect() as connection:
        users = (
            await connection.execute(
                select(func.count(), func.coalesce(func.sum(User.version), 0)).where(
                    User.org_id == org.org_id
                )
            )
        ).one()
        audit = (
            await connection.execute(
                select(func.count()).where(ProvisioningAudit.org_id == org.org_id)
            )
        ).scalar_one()
        events = (
            await connection.execute(
                select(func.count()).where(
                    OutboxEvent.payload["org_id"].astext == str(org.org_id)
                )
            )
        ).scalar_one()
    return (users[0], int(users[1]), audit, events)


UNSTORABLE = {
    "nul": "ada\\u0000lovelace",
    "unpaired-surrogate": "ada\\ud800lovelace",
}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("text", UNSTORABLE.values(), ids=UNSTORABLE.keys())
async def test_text_the_database_cannot_store_is_invalid_value(
    client: httpx.AsyncClient,
    database: AsyncEngine,
    scim_org: OrgCredentials,
    method: str,
    text: str,
) -> None:
    # A 500 before: PostgreSQL refuses U+0000, UTF-8 an unpaired surrogate.
    user = await create(client)
    before = await writes(database, scim_org)
    if method == "PATCH":
        raw = json.dumps(patch({"op": "add", "path": "displayName", "value": "x"}))
        raw = raw.replace('"x"', f'"{text}"')
    else:
        raw = f'{{"schemas": ["{USER_SCHEMA}"], "userName": "{text}@example.test"}}'
    path = "/Users" if method == "POST" else f"/Users/{user['id']}"

    response = await client.request(method, path, content=raw.encode())

    assert_scim_error(response, 400, "invalidValue")
    assert await writes(database, scim_org) == before


async def test_user_name_longer_than_the_index_holds_is_invalid_value(
    client: httpx.AsyncClient, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    # Random 4-byte characters do not compress: 513 of them overflowed the
    # btree entry of the unique index, a 500 before.
    def name(length: int) -> str:
        return "".join(chr(random.randint(0x1F300, 0x1FAFF)) for _ in range(length))

    longest = await create(client, userName=name(512))
    before = await writes(database, scim_org)

    created = await client.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": name(513)}
    )
    patched = await client.patch(
        f"/Users/{longest['id']}",
        json=patch({"op": "replace", "path": "externalId", "value": name(513)}),
    )

    assert_scim_error(created, 400, "invalidValue")
    assert_scim_error(patched, 400, "invalidValue")
    assert await writes(database, scim_org) == before


@pytest.mark.parametrize(
    ("first", "second"),
    [("Ömer", "ömer"), ("élodie", "ÉLODIE"), ("STRAẞE", "straße")],
)
async def test_user_name_differing_in_non_ascii_case_is_taken_and_findable(
    client: httpx.AsyncClient,
    database: AsyncEngine,
    scim_org: OrgCredentials,
    first: str,
    second: str,
) -> None:
    # The database folded ASCII only while the service folded all letters:
    # one order gave two users, the other a 409 no filter could explain.
    suffix = f".{uuid.uuid4().hex[:8]}@example.test"
    taken = await create(client, userName=first + suffix)
    other = await create(client)
    before = await writes(database, scim_org)

    created = await client.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": second + suffix}
    )
    renamed = await client.patch(
        f"/Users/{other['id']}",
        json=patch({"op": "replace", "path": "userName", "value": second + suffix}),
    )
    found = await client.get(
        "/Users", params={"filter": f'userName eq "{second}{suffix}"'}
    )

    assert_scim_error(created, 409, "uniqueness")
    assert_scim_error(renamed, 409, "uniqueness")
    assert [user["id"] for user in found.json()["Resources"]] == [taken["id"]]
    assert await writes(database, scim_org) == before


@pytest.mark.parametrize(
    "filter_text",
    [
        'meta.lastModified gt "0001-01-01T00:00:00+14:00"',
        'meta.created lt "9999-12-31T23:59:59-14:00"',
        " or ".join(['userName eq "ada@example.test"'] * 1000),
    ],
    ids=["before-year-1", "after-year-9999", "thousand-terms"],
)
async def test_filter_the_service_cannot_run_is_invalid_filter(
    client: httpx.AsyncClient, filter_text: str
) -> None:
    # A 500 for the dates; the long filter held the service for seconds (503).
    response = await client.post(
        "/Users/.search", json={"schemas": [SEARCH_REQUEST], "filter": filter_text}
    )

    assert_scim_error(response, 400, "invalidFilter")


async def test_patch_op_too_big_to_apply_is_invalid_value(
    client: httpx.AsyncClient, database: AsyncEngine, scim_org: OrgCredentials
) -> None:
    # Thousands of values took seconds of the service's one event loop: a 503.
    user = await create(client)
    before = await writes(database, scim_org)
    emails = [{"value": f"a{i}@example.test", "type": "work"} for i in range(100)]

    too_many_values = await client.patch(
        f"/Users/{user['id']}",
        json=patch(*[{"op": "add", "path": "emails", "value": emails}] * 30),
    )
    too_many_emails = await client.patch(
        f"/Users/{user['id']}",
        json=patch(
            {"op": "add", "path": "emails", "value": emails[:60]},
            {"op": "add", "path": "emails", "value": [*emails[60:], {"value": "b@x"}]},
        ),
    )

    assert_scim_error(too_many_values, 400, "invalidValue")
    assert_scim_error(too_many_emails, 400, "invalidValue")
    assert await writes(database, scim_org) == before


async def test_trailing_slash_is_served_not_redirected(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    # A body-less 307 before, to a Location taken from the Host header.
    created = await client.post(
        "/Users/", json={"schemas": [USER_SCHEMA], "userName": login()}
    )

    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["location"] == f"{stack.scim_url}/Users/{user['id']}"
    fetched = await client.get(f"/Users/{user['id']}/")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == user["id"]


def test_two_authorization_headers_are_refused(
    stack: Stack, scim: httpx.Client
) -> None:
    # The first header won before, whatever a proxy had checked.
    other_token = create_org_token(stack, f"org-{uuid.uuid4().hex[:12]}")
    name = login()
    by_name = {"filter": f'userName eq "{name}"'}

    response = httpx.post(
        f"{stack.scim_url}/Users",
        json={"schemas": [USER_SCHEMA], "userName": name},
        headers=[
            ("Authorization", scim.headers["Authorization"]),
            ("Authorization", f"Bearer {other_token}"),
        ],
        timeout=30,
    )

    assert_scim_error(response, 401, None)
    assert response.headers["www-authenticate"].startswith("Bearer")
    found_by_other = httpx.get(
        f"{stack.scim_url}/Users",
        params=by_name,
        headers={"Authorization": f"Bearer {other_token}"},
        timeout=30,
    )
    assert scim.get("/Users", params=by_name).json()["totalResults"] == 0
    assert found_by_other.json()["totalResults"] == 0


async def test_identity_service_answers_garbage_with_a_clean_status(
    stack: Stack,
) -> None:
    # Each of these was UNKNOWN, with the exception's text, SQL included.
    calls = [
        (
            "CreateUser",
            pb.CreateUserRequest(
                org_id=str(uuid.uuid4()), resource_json='{"userName": "ada"}'
            ),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            "CreateUser",
            pb.CreateUserRequest(
                org_id=str(uuid.uuid4()),
                resource_json='{"userName": ' + "[" * 5000 + "]" * 5000 + "}",
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            "IssueToken",
            admin_pb2.IssueTokenRequest(
                org_name="acme\x00",
                create_org=True,
                admin=admin_pb2.AdminContext(credential_id=str(uuid.uuid4())),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    async with grpc.aio.insecure_channel(stack.identity_addr) as channel:
        identity = pb_grpc.IdentityServiceStub(channel)
        admin = admin_pb2_grpc.IdentityAdminServiceStub(channel)
        for method, request, code in calls:
            service = admin if method == "IssueToken" else identity
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await getattr(service, method)(request, timeout=10)

            assert raised.value.code() == code, method
            trailers = dict(raised.value.trailing_metadata() or ())
            assert trailers["scim-status"] in ("400", "401"), method
            assert "SQL" not in (raised.value.details() or "")
