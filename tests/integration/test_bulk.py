"""SCIM Bulk (RFC 7644 §3.7) against the real stack: what an IdP migrating sees.

Each test runs in an org of its own and checks the BulkResponse, the users
and groups as the SCIM API then shows them, the audit and outbox rows in
PostgreSQL, and the events on Kafka; the last ones send odd input, or stop
the identity service half-way and read the error log.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.identity.models import OutboxEvent, ProvisioningAudit, User
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.error_steps import tracker
from tests.integration.kafka_reader import describe, read_events, take_mark
from tests.integration.stack import Stack

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user_op(bulk_id: str, user_name: str, **attributes: Any) -> dict[str, Any]:
    """A POST of a User."""
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"schemas": [USER], "userName": user_name, **attributes},
    }


def bulk_body(operations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A BulkRequest."""
    return {"schemas": [BULK_REQUEST], "Operations": operations, **extra}


def migration(run: str, count: int, *, prefix: str = "u") -> list[dict[str, Any]]:
    """`count` User POSTs as an IdP's first push sends them."""
    return [
        user_op(
            f"{prefix}{n}",
            f"{run}.{n}@bulk.example.test",
            externalId=f"{run}-{n}",
            name={"givenName": "Bulk", "familyName": f"User {n}"},
            emails=[{"type": "work", "value": f"{run}.{n}@bulk.example.test"}],
        )
        for n in range(count)
    ]


@pytest.fixture
async def org(stack: Stack, database: AsyncEngine) -> OrgCredentials:
    """A new org of its own."""
    return await new_org(stack, database)


@pytest.fixture
async def scim(stack: Stack, org: OrgCredentials) -> AsyncIterator[httpx.AsyncClient]:
    """An async SCIM client of the org."""
    async with httpx.AsyncClient(
        base_url=stack.scim_url,
        headers={**org.auth, "Content-Type": "application/scim+json"},
        timeout=60,
    ) as client:
        yield client


async def post_bulk(
    scim: httpx.AsyncClient, body: dict[str, Any]
) -> list[dict[str, Any]]:
    """Send a BulkRequest that must be answered 200; return its operations."""
    response = await scim.post("/Bulk", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["schemas"] == [BULK_RESPONSE]
    operations: list[dict[str, Any]] = answer["Operations"]
    return operations


def by_bulk_id(operations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index the answered operations by bulkId."""
    return {op["bulkId"]: op for op in operations if "bulkId" in op}


def created_id(operation: dict[str, Any]) -> str:
    """The id at the end of an operation's location."""
    location: str = operation["location"]
    return location.rsplit("/", 1)[1]


async def count_rows(database: AsyncEngine, org_id: uuid.UUID) -> tuple[int, int, int]:
    """Users, audit rows and outbox events of the org."""
    async with database.connect() as connection:
        users = await connection.scalar(
            select(func.count()).select_from(User).where(User.org_id == org_id)
        )
        audits = await connection.scalar(
            select(func.count())
            .select_from(ProvisioningAudit)
            .where(ProvisioningAudit.org_id == org_id)
        )
        events = await connection.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.payload["org_id"].astext == str(org_id))
        )
    return int(users or 0), int(audits or 0), int(events or 0)


async def test_bulk_of_1000_users_answers_201_each_with_its_event_on_kafka(
    stack: Stack, scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    mark = await take_mark(stack.kafka_bootstrap)
    run = uuid.uuid4().hex[:8]
    request_id = f"bulk-{run}"

    response = await scim.post(
        "/Bulk",
        json=bulk_body(migration(run, 1000)),
        headers={"X-Request-Id": request_id},
    )

    assert response.status_code == 200, response.text
    operations = response.json()["Operations"]
    assert [op["status"] for op in operations] == ["201"] * 1000
    assert [op["bulkId"] for op in operations] == [f"u{n}" for n in range(1000)]
    assert all(op["version"] == 'W/"1"' and op["method"] == "POST" for op in operations)
    ids = {created_id(op) for op in operations}
    assert len(ids) == 1000

    sample = (await scim.get(f"/Users/{created_id(operations[7])}")).json()
    assert sample["userName"] == f"{run}.7@bulk.example.test"
    assert sample["externalId"] == f"{run}-7"
    listed = (await scim.get("/Users", params={"count": 1})).json()
    assert listed["totalResults"] == 1000

    events = await read_events(
        mark,
        until=lambda got: (
            ids <= {e.user_id for e in got if e.topic.endswith("provisioned")}
        ),
        wait_seconds=60,
    )
    provisioned = [e for e in events if e.user_id in ids]
    assert {e.user_id for e in provisioned} == ids, describe(provisioned[:5])
    assert len(provisioned) == 1000
    first = next(e for e in provisioned if e.user_id == created_id(operations[7]))
    assert first.topic == "scim.user_provisioned"
    assert first.key == first.user_id
    assert first.payload["action"] == "PROVISION"
    assert first.payload["request_id"] == request_id
    assert first.payload["org_id"] == str(org.org_id)
    assert first.payload["user_name"] == f"{run}.7@bulk.example.test"
    assert first.payload["attributes"]["name"]["familyName"] == "User 7"
    assert await count_rows(database, org.org_id) == (1000, 1000, 1000)

    async with database.connect() as connection:
        audit = (
            await connection.execute(
                select(ProvisioningAudit).where(
                    ProvisioningAudit.event_id == uuid.UUID(first.event_id)
                )
            )
        ).one()
    assert audit.action == "PROVISION"
    assert audit.request_id == request_id
    assert audit.token_id == org.token_id


async def test_retried_bulk_answers_409_uniqueness_per_user_and_writes_nothing(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    body = bulk_body(
        [
            *migration(run, 20),
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "g",
                "data": {
                    "schemas": [GROUP],
                    "displayName": f"Group {run}",
                    "members": [{"value": "bulkId:u0"}, {"value": "bulkId:u1"}],
                },
            },
        ]
    )
    first = await post_bulk(scim, body)
    assert {op["status"] for op in first} == {"201"}
    written = await count_rows(database, org.org_id)

    # The IdP timed out and sends the very same request again.
    again = await post_bulk(scim, body)

    users = [op for op in again if op["bulkId"].startswith("u")]
    assert [op["status"] for op in users] == ["409"] * 20
    assert all(op["response"]["scimType"] == "uniqueness" for op in users)
    assert all(op["response"]["schemas"] == [ERROR] for op in users)
    assert "is already taken" in users[3]["response"]["detail"]
    group = by_bulk_id(again)["g"]
    assert group["status"] == "400"
    assert "'u0'" in group["response"]["detail"]
    assert "failed" in group["response"]["detail"]
    assert await count_rows(database, org.org_id) == written
    listed = (await scim.get("/Groups")).json()
    assert listed["totalResults"] == 1


async def test_group_references_users_defined_later_in_the_request(
    scim: httpx.AsyncClient,
) -> None:
    run = uuid.uuid4().hex[:8]
    operations = await post_bulk(
        scim,
        bulk_body(
            [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "finance",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"Finance {run}",
                        "members": [
                            {"value": "bulkId:alice", "type": "User"},
                            {"value": "bulkId:bob", "type": "User"},
                        ],
                    },
                },
                user_op("alice", f"alice.{run}@bulk.example.test"),
                user_op(
                    "bob",
                    f"bob.{run}@bulk.example.test",
                    **{
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                            "manager": {"value": "bulkId:alice"}
                        }
                    },
                ),
            ]
        ),
    )

    answered = by_bulk_id(operations)
    assert [op["bulkId"] for op in operations] == ["finance", "alice", "bob"]
    assert {op["status"] for op in operations} == {"201"}, operations
    group_id = created_id(answered["finance"])
    alice, bob = created_id(answered["alice"]), created_id(answered["bob"])
    group = (await scim.get(f"/Groups/{group_id}")).json()
    assert {m["value"] for m in group["members"]} == {alice, bob}
    bob_user = (await scim.get(f"/Users/{bob}")).json()
    enterprise = bob_user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert enterprise["manager"]["value"] == alice


async def test_unknown_and_circular_bulk_ids_fail_their_operations_only(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    operations = await post_bulk(
        scim,
        bulk_body(
            [
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "ghosts",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"Ghosts {run}",
                        "members": [{"value": "bulkId:nobody"}],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "a",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"A {run}",
                        "members": [{"value": "bulkId:b"}],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "b",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"B {run}",
                        "members": [{"value": "bulkId:a"}],
                    },
                },
                user_op("fine", f"fine.{run}@bulk.example.test"),
            ]
        ),
    )

    answered = by_bulk_id(operations)
    ghosts = answered["ghosts"]
    assert ghosts["status"] == "400"
    assert ghosts["response"]["scimType"] == "invalidValue"
    assert "'nobody'" in ghosts["response"]["detail"]
    for name in ("a", "b"):
        # RFC 7644 §3.7.1: 409 for references that go round in a circle.
        assert answered[name]["status"] == "409"
        assert "circular" in answered[name]["response"]["detail"]
        assert "'a', 'b'" in answered[name]["response"]["detail"]
    assert answered["fine"]["status"] == "201"
    assert (await scim.get("/Groups")).json()["totalResults"] == 0
    assert (await count_rows(database, org.org_id))[0] == 1


async def test_fail_on_errors_stops_and_answers_exactly_what_ran(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    users = migration(run, 10)
    users[2]["data"]["userName"] = ""  # refused: userName is required
    users[5]["data"]["userName"] = users[0]["data"]["userName"].upper()  # taken
    users[7]["data"]["emails"] = "not a list"

    operations = await post_bulk(scim, bulk_body(users, failOnErrors=2))

    # The second failure (index 5) stops the run: 6 operations ran.
    assert [op["bulkId"] for op in operations] == [f"u{n}" for n in range(6)]
    assert [op["status"] for op in operations] == [
        "201", "201", "400", "201", "201", "409"
    ]  # fmt: skip
    assert operations[5]["response"]["scimType"] == "uniqueness"
    assert "earlier user of this request" in operations[5]["response"]["detail"]
    assert await count_rows(database, org.org_id) == (4, 4, 4)


async def test_fail_on_errors_counts_across_batches_and_single_operations(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    operations = [
        {"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"},
        *migration(run, 3),
        {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"schemas": ["x"]}},
        *migration(f"{run}b", 3, prefix="v"),
    ]

    answered = await post_bulk(scim, bulk_body(operations, failOnErrors=2))

    assert [op["status"] for op in answered] == ["404", "201", "201", "201", "400"]
    assert (await count_rows(database, org.org_id))[0] == 3


async def test_a_failed_operation_does_not_undo_the_others(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    users = migration(run, 6)
    users[3]["data"]["active"] = "sometimes"

    operations = await post_bulk(scim, bulk_body(users))

    assert [op["status"] for op in operations] == ["201"] * 3 + ["400"] + ["201"] * 2
    failed = operations[3]
    assert "location" not in failed and "version" not in failed
    assert failed["response"]["status"] == "400"
    assert await count_rows(database, org.org_id) == (5, 5, 5)


async def test_put_patch_and_delete_run_in_one_bulk_with_references(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    kept = (
        await scim.post(
            "/Users", json={"schemas": [USER], "userName": f"kept.{run}@x.test"}
        )
    ).json()
    gone = (
        await scim.post(
            "/Users", json={"schemas": [USER], "userName": f"gone.{run}@x.test"}
        )
    ).json()
    deactivate = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }

    operations = await post_bulk(
        scim,
        bulk_body(
            [
                {
                    "method": "PUT",
                    "path": f"/Users/{kept['id']}",
                    "version": 'W/"1"',
                    "data": {
                        "schemas": [USER],
                        "userName": f"kept.{run}@x.test",
                        "displayName": "Kept",
                    },
                },
                {"method": "PATCH", "path": "/Users/bulkId:new", "data": deactivate},
                user_op("new", f"new.{run}@x.test"),
                {"method": "DELETE", "path": f"/Users/{gone['id']}"},
                {
                    "method": "PATCH",
                    "path": f"/Users/{kept['id']}",
                    "version": 'W/"1"',
                    "data": deactivate,
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "team",
                    "data": {"schemas": [GROUP], "displayName": f"Team {run}"},
                },
                {
                    "method": "PATCH",
                    "path": "/Groups/bulkId:team",
                    "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [
                            {
                                "op": "add",
                                "path": "members",
                                "value": [
                                    {"value": kept["id"]},
                                    {"value": "bulkId:new"},
                                ],
                            }
                        ],
                    },
                },
            ]
        ),
    )

    statuses = [(op["method"], op["status"]) for op in operations]
    assert statuses == [
        ("PUT", "200"),
        ("PATCH", "200"),
        ("POST", "201"),
        ("DELETE", "204"),
        ("PATCH", "412"),
        ("POST", "201"),
        ("PATCH", "204"),
    ]
    assert operations[0]["version"] == 'W/"2"'
    assert operations[0]["location"].endswith(f"/Users/{kept['id']}")
    new_id = created_id(operations[2])
    assert operations[1]["location"].endswith(f"/Users/{new_id}")
    assert (await scim.get(f"/Users/{new_id}")).json()["active"] is False
    assert (await scim.get(f"/Users/{kept['id']}")).json()["displayName"] == "Kept"
    assert (await scim.get(f"/Users/{gone['id']}")).status_code == 404
    team = (await scim.get(f"/Groups/{created_id(operations[5])}")).json()
    assert {m["value"] for m in team["members"]} == {kept["id"], new_id}


async def test_too_many_operations_is_413_before_anything_runs(
    stack: Stack, org: OrgCredentials, database: AsyncEngine
) -> None:
    base_url = stack.start_gateway(
        "gateway-bulk-limits",
        RIVANE_BULK_MAX_OPERATIONS="5",
        RIVANE_BULK_MAX_PAYLOAD_BYTES="4096",
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"{base_url}/scim/v2", headers=org.auth, timeout=30
        ) as client:
            config = (await client.get("/ServiceProviderConfig")).json()
            assert config["bulk"] == {
                "supported": True,
                "maxOperations": 5,
                "maxPayloadSize": 4096,
            }

            run = uuid.uuid4().hex[:8]
            too_many = await client.post("/Bulk", json=bulk_body(migration(run, 6)))
            padded = migration(run, 2)
            padded[0]["data"]["displayName"] = "x" * 5000
            too_big = await client.post("/Bulk", json=bulk_body(padded))
            unmeasured = await client.post(
                "/Bulk",
                content=_chunks(json.dumps(bulk_body(padded)).encode()),
                headers={"Content-Type": "application/scim+json"},
            )
    finally:
        stack.stop("gateway-bulk-limits")

    for response, words in (
        (too_many, "maxOperations is 5"),
        (too_big, "over 4096 bytes"),
        (unmeasured, "over 4096 bytes"),
    ):
        assert response.status_code == 413, response.text
        error = response.json()
        assert error["schemas"] == [ERROR]
        assert error["status"] == "413"
        assert words in error["detail"]
    assert await count_rows(database, org.org_id) == (0, 0, 0)


async def _chunks(raw: bytes) -> AsyncIterator[bytes]:
    # Sent chunked, without a Content-Length for the gateway to trust.
    for start in range(0, len(raw), 1024):
        yield raw[start : start + 1024]


async def test_default_limits_are_announced_and_allow_10000_operations(
    scim: httpx.AsyncClient,
) -> None:
    config = (await scim.get("/ServiceProviderConfig")).json()

    assert config["bulk"]["supported"] is True
    assert config["bulk"]["maxOperations"] >= 10_000
    assert config["bulk"]["maxPayloadSize"] >= 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "scim_type", "words"),
    [
        ({"Operations": []}, "invalidValue", "BulkRequest"),
        ({"schemas": [BULK_REQUEST], "Operations": {}}, "invalidSyntax", "list"),
        (bulk_body([], failOnErrors=0), "invalidValue", "failOnErrors"),
        # The rules of every body hold for the whole request.
        (bulk_body([user_op("n", "bad\u0000name")]), "invalidValue", "U+0000"),
    ],
)
async def test_malformed_bulk_request_is_400_and_runs_nothing(
    scim: httpx.AsyncClient,
    org: OrgCredentials,
    database: AsyncEngine,
    body: dict[str, Any],
    scim_type: str,
    words: str,
) -> None:
    response = await scim.post("/Bulk", json=body)

    assert await count_rows(database, org.org_id) == (0, 0, 0)
    assert response.status_code == 400
    assert response.json()["scimType"] == scim_type
    assert words in response.json()["detail"]


async def test_malformed_operations_fail_alone_with_a_clear_error(
    scim: httpx.AsyncClient,
) -> None:
    run = uuid.uuid4().hex[:8]
    operations = await post_bulk(
        scim,
        bulk_body(
            [
                {"method": "GET", "path": "/Users"},
                {"method": "POST", "path": "/Users", "data": {"userName": "x"}},
                {"method": "POST", "path": "/Widgets", "bulkId": "w", "data": {}},
                {"method": "PATCH", "path": "/Users"},
                user_op("twice", f"one.{run}@x.test"),
                user_op("twice", f"two.{run}@x.test"),
                "not an operation",
            ]
        ),
    )

    details = [op["response"]["detail"] for op in operations if "response" in op]
    assert [op["status"] for op in operations] == [
        "400", "400", "400", "400", "201", "400", "400"
    ]  # fmt: skip
    assert "method must be" in details[0]
    assert "bulkId is required" in details[1]
    assert "names no Users or Groups" in details[2]
    assert "needs a path" in details[3]
    assert "already the bulkId of operation 4" in details[4]
    assert "must be an object" in details[5]


HR = "urn:acme:scim:schemas:extension:hr:2.0:User"


async def test_bulk_holds_unique_extension_values_against_the_org_and_itself(
    stack: Stack, scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    schema = {
        "id": HR,
        "name": "HR",
        "attributes": [
            {"name": "badge", "type": "integer", "uniqueness": "server"},
            {"name": "alias", "type": "string", "uniqueness": "server"},
        ],
    }
    async with httpx.AsyncClient(
        base_url=f"{stack.base_url}/admin",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    ) as admin:
        registered = await admin.post(f"/orgs/{org.name}/schemas", json=schema)
    assert registered.status_code == 201, registered.text
    run = uuid.uuid4().hex[:8]
    held = await scim.post(
        "/Users",
        json={
            "schemas": [USER, HR],
            "userName": f"held.{run}@x.test",
            HR: {"badge": 7},
        },
    )
    assert held.status_code == 201, held.text

    def hr_user(bulk_id: str, **hr: Any) -> dict[str, Any]:
        return user_op(bulk_id, f"{bulk_id}.{run}@x.test", **{HR: hr})

    operations = await post_bulk(
        scim,
        bulk_body(
            [
                hr_user("holds7", badge=7),
                hr_user("first8", badge=8, alias="Ann"),
                hr_user("second8", badge=8),
                hr_user("sameAlias", badge=9, alias="ANN"),
                # Refused for its userName: it claims no value...
                user_op("taken", f"held.{run}@x.test", **{HR: {"badge": 10}}),
                # ...so this one may have badge 10.
                hr_user("gets10", badge=10),
            ]
        ),
    )

    statuses = {op["bulkId"]: op["status"] for op in operations}
    assert statuses == {
        "holds7": "409",
        "first8": "201",
        "second8": "409",
        "sameAlias": "409",
        "taken": "409",
        "gets10": "201",
    }
    answered = by_bulk_id(operations)
    assert "another user" in answered["holds7"]["response"]["detail"]
    assert f"{HR}:badge" in answered["second8"]["response"]["detail"]
    assert "earlier user of this request" in answered["second8"]["response"]["detail"]
    assert f"{HR}:alias" in answered["sameAlias"]["response"]["detail"]
    assert await count_rows(database, org.org_id) == (3, 3, 3)


async def test_concurrent_bulks_of_the_same_users_create_each_once(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    body = bulk_body(migration(run, 300))

    first, second = await asyncio.gather(post_bulk(scim, body), post_bulk(scim, body))

    for n in range(300):
        statuses = sorted([first[n]["status"], second[n]["status"]])
        assert statuses == ["201", "409"], (n, first[n], second[n])
    assert await count_rows(database, org.org_id) == (300, 300, 300)


# Odd input, and a service failing half-way.


async def _until_the_gateway_answers(scim: httpx.AsyncClient) -> None:
    """Wait until the gateway reaches the identity service again."""
    for _ in range(600):
        if (await scim.get("/Users", params={"count": 1})).status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the gateway did not reach the identity service again")


def rename(path: str, value: str, **extra: Any) -> dict[str, Any]:
    """A PATCH that replaces displayName."""
    return {
        "method": "PATCH",
        "path": path,
        "data": {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": value}],
        },
        **extra,
    }


async def test_fail_on_errors_past_32_bits_creates_the_users(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]

    operations = await post_bulk(scim, bulk_body(migration(run, 3), failOnErrors=2**40))

    assert [op["status"] for op in operations] == ["201"] * 3
    assert await count_rows(database, org.org_id) == (3, 3, 3)


async def test_delete_with_a_stale_version_is_412_and_deletes_nothing(
    scim: httpx.AsyncClient,
) -> None:
    run = uuid.uuid4().hex[:8]
    operations = await post_bulk(
        scim,
        bulk_body(
            [
                user_op("a", f"a.{run}@bulk.example.test"),
                rename("/Users/bulkId:a", "Renamed"),
                {"method": "DELETE", "path": "/Users/bulkId:a", "version": 'W/"1"'},
            ]
        ),
    )

    assert [op["status"] for op in operations] == ["201", "200", "412"]
    assert operations[2]["response"]["status"] == "412"
    user_id = created_id(operations[0])
    assert (await scim.get(f"/Users/{user_id}")).status_code == 200

    again = await post_bulk(
        scim,
        bulk_body(
            [
                {
                    "method": "DELETE",
                    "path": f"/Users/{user_id}",
                    "version": operations[1]["version"],
                }
            ]
        ),
    )

    assert [op["status"] for op in again] == ["204"]
    assert (await scim.get(f"/Users/{user_id}")).status_code == 404


async def test_malformed_paths_fail_alone_without_a_location(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    somebody = str(uuid.uuid4())

    operations = await post_bulk(
        scim,
        bulk_body(
            [
                {**user_op("a", f"a.{run}@x.test"), "path": f"/Users/{somebody}"},
                rename(f"/Users/{somebody}?attributes=id", "x"),
                {"method": "DELETE", "path": f"/Groups/{somebody}#g"},
                {**user_op("b", f"b.{run}@x.test"), "path": "/Users/"},
            ]
        ),
    )

    assert [op["status"] for op in operations] == ["400", "400", "400", "201"]
    assert ["location" in op for op in operations] == [False, False, False, True]
    assert "must not carry a query" in operations[1]["response"]["detail"]
    assert await count_rows(database, org.org_id) == (1, 1, 1)


async def test_groups_reference_users_of_both_batches_of_1500(
    scim: httpx.AsyncClient, org: OrgCredentials, database: AsyncEngine
) -> None:
    run = uuid.uuid4().hex[:8]
    members = [{"value": f"bulkId:u{n}"} for n in (0, 999, 1000, 1499)]
    added = [{"value": "bulkId:u5"}, {"value": "bulkId:u1205"}]
    operations = await post_bulk(
        scim,
        bulk_body(
            [
                rename("/Users/bulkId:u1400", "bulkId:u3"),
                *migration(run, 1500),
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": f"Both {run}",
                        "members": members,
                    },
                },
                {
                    "method": "PATCH",
                    "path": "/Groups/bulkId:g",
                    "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [
                            {"op": "add", "path": "members", "value": added}
                        ],
                    },
                },
            ]
        ),
    )

    answered = by_bulk_id(operations)
    assert [op["status"] for op in operations] == ["200", *["201"] * 1501, "204"]
    group = (await scim.get(f"/Groups/{created_id(answered['g'])}")).json()
    wanted = {created_id(answered[f"u{n}"]) for n in (0, 999, 1000, 1499, 5, 1205)}
    assert {member["value"] for member in group["members"]} == wanted
    renamed = (await scim.get(f"/Users/{created_id(answered['u1400'])}")).json()
    assert renamed["displayName"] == created_id(answered["u3"])
    assert await count_rows(database, org.org_id) == (1500, 1501, 1501)


async def test_identity_stopped_half_way_answers_each_operation_and_logs_it(
    stack: Stack,
    scim: httpx.AsyncClient,
    org: OrgCredentials,
    database: AsyncEngine,
) -> None:
    run = uuid.uuid4().hex[:8]
    body = bulk_body(
        [
            *migration(run, 3000),
            *(rename(f"/Users/bulkId:u{n}", "p") for n in range(100)),
        ]
    )
    sent = asyncio.create_task(scim.post("/Bulk", json=body))
    try:
        # Stop it once the first batch is written.
        for _ in range(1200):
            if (await count_rows(database, org.org_id))[0] or sent.done():
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(stack.stop, "identity")
        response = await sent
    finally:
        await asyncio.to_thread(stack.start, "identity")
        await _until_the_gateway_answers(scim)

    assert response.status_code == 200, response.text
    operations = response.json()["Operations"]
    assert len(operations) == 3100
    statuses = [op["status"] for op in operations]
    assert set(statuses) <= {"200", "201", "503"}, set(statuses)
    created = statuses.count("201")
    failed = [op for op in operations if op["status"] == "503"]
    assert 0 < created < 3000 and failed
    # Nothing half-written: exactly the users answered 201, each audited.
    assert await count_rows(database, org.org_id) == (
        created,
        created + statuses.count("200"),
        created + statuses.count("200"),
    )
    async with tracker(stack) as stub:
        for _ in range(150):
            listed = await stub.ListErrors(
                pb.ListErrorsRequest(
                    org_id=str(org.org_id),
                    kind=pb.ERROR_KIND_BULK_OPERATION_FAILED,
                    limit=1000,
                )
            )
            if listed.errors:
                break
            await asyncio.sleep(0.2)
    assert listed.errors
    assert {error.source for error in listed.errors} == {"gateway"}
