"""Running a Bulk plan: batches, references, failOnErrors, failures on our side."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.bulk_plan import parse_bulk_request
from gateway.bulk_run import BulkRun, Result
from gateway.errors import ServiceUnavailable
from services.common.errors import ScimError, Uniqueness

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BASE = "https://scim.example.test/scim/v2"


@dataclass
class Created:
    id: str
    version: int = 1


class FakeIdentity:
    """Creates users named in order; refuses the userNames in `taken`."""

    def __init__(self, *, taken: Sequence[str] = ()) -> None:
        self.taken = set(taken)
        self.batches: list[list[dict[str, Any]]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    async def create_users(
        self, *, org_id: str, resources: Sequence[str], context: Any, max_errors: int
    ) -> list[Any]:
        bodies = [json.loads(text) for text in resources]
        self.batches.append(bodies)
        outcomes: list[Any] = []
        errors = 0
        for body in bodies:
            if body["userName"] in self.taken:
                outcomes.append(Uniqueness(f"userName {body['userName']!r} taken"))
                errors += 1
                if max_errors and errors >= max_errors:
                    break
            else:
                outcomes.append(Created(id=f"id-{body['userName']}"))
        return outcomes

    async def patch_user(self, *, user_id: str, patch: Any, **_: Any) -> Created:
        self.patched.append((user_id, patch))
        return Created(id=user_id, version=2)

    async def replace_user(self, **_: Any) -> Created:
        raise RuntimeError("connection reset with SELECT secret FROM somewhere")

    async def delete_user(self, **_: Any) -> None:
        raise ServiceUnavailable("the identity service is unavailable; retry later")


def user(bulk_id: str, **data: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"userName": bulk_id, **data},
    }


async def run(
    identity: FakeIdentity, *operations: Any, fail_on_errors: int | None = None
) -> list[Result]:
    body: dict[str, Any] = {"schemas": [BULK_REQUEST], "Operations": list(operations)}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    plan = parse_bulk_request(body, max_operations=100)
    return await BulkRun(
        plan,
        org_id="org",
        context=None,
        identity=identity,  # type: ignore[arg-type]
        groups=None,  # type: ignore[arg-type]
        base_url=BASE,
    ).run()


async def test_consecutive_user_posts_go_in_one_batch() -> None:
    identity = FakeIdentity()

    results = await run(identity, user("a"), user("b"), user("c"))

    assert [len(batch) for batch in identity.batches] == [3]
    assert [(r.status, r.location) for r in results] == [
        (201, f"{BASE}/Users/id-{name}") for name in "abc"
    ]
    assert results[0].version == 'W/"1"'


async def test_a_user_referencing_one_of_its_run_waits_for_the_next_batch() -> None:
    identity = FakeIdentity()
    manager = {"manager": {"value": "bulkId:boss"}}

    results = await run(identity, user("boss"), user("worker", **manager), user("x"))

    assert [[b["userName"] for b in batch] for batch in identity.batches] == [
        ["boss"],
        ["worker", "x"],
    ]
    assert identity.batches[1][0]["manager"] == {"value": "id-boss"}
    assert {r.status for r in results} == {201}


async def test_references_are_replaced_in_paths_and_patch_values() -> None:
    identity = FakeIdentity()
    patch = {"Operations": [{"op": "replace", "value": {"nickName": "bulkId:a"}}]}

    results = await run(
        identity,
        {"method": "PATCH", "path": "/Users/bulkId:a", "data": patch},
        user("a"),
    )

    assert identity.patched == [
        ("id-a", {"Operations": [{"op": "replace", "value": {"nickName": "id-a"}}]})
    ]
    assert [(r.index, r.status) for r in results] == [(0, 200), (1, 201)]


async def test_fail_on_errors_stops_inside_a_batch_and_answers_what_ran() -> None:
    identity = FakeIdentity(taken=["b", "d"])

    results = await run(
        identity,
        user("a"),
        user("b"),
        user("c"),
        user("d"),
        user("e"),
        fail_on_errors=2,
    )

    assert [(r.bulk_id, r.status) for r in results] == [
        ("a", 201),
        ("b", 409),
        ("c", 201),
        ("d", 409),
    ]


async def test_an_operation_after_a_failed_post_it_references_fails_clearly() -> None:
    identity = FakeIdentity(taken=["a"])
    patch = {"Operations": [{"op": "add", "value": {"nickName": "n"}}]}

    results = await run(
        identity,
        user("a"),
        {"method": "PATCH", "path": "/Users/bulkId:a", "data": patch},
    )

    assert results[1].status == 400
    assert results[1].error is not None
    assert "bulkId 'a' names a POST that failed" in results[1].error.detail
    assert identity.patched == []


async def test_failures_on_our_side_are_500_without_our_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    identity = FakeIdentity()
    put = {"method": "PUT", "path": "/Users/u1", "data": {"userName": "u1"}}
    delete = {"method": "DELETE", "path": "/Users/u2"}

    with caplog.at_level(logging.WARNING, logger="gateway.bulk_run"):
        results = await run(identity, put, delete, user("after"))

    assert [r.status for r in results] == [500, 503, 201]
    error = results[0].error
    assert isinstance(error, ScimError)
    assert "secret" not in error.detail and "on our side" in error.detail
    assert results[0].location == f"{BASE}/Users/u1"
    assert [record.levelname for record in caplog.records] == ["ERROR", "WARNING"]
    assert "u1" not in caplog.text
