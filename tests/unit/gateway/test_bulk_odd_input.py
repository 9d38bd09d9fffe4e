"""Bulk requests that are odd but legal, or malformed in one operation only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from gateway.bulk_plan import parse_bulk_request
from gateway.bulk_run import BulkRun, Result
from gateway.errors import ServiceUnavailable
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.identity.v1 import identity_pb2
from services.common.error_reports import ErrorReporter
from services.common.errors import Uniqueness

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BASE = "https://scim.example.test/scim/v2"
CONTEXT = identity_pb2.RequestContext(request_id="req-1", token_id="tok-1")


@dataclass
class Created:
    id: str
    version: int = 1


class Identity:
    """Builds each request as the real client does; refuses the `taken` names."""

    def __init__(self, *, taken: Sequence[str] = ()) -> None:
        self.taken = set(taken)
        self.created: list[str] = []
        self.deleted: list[tuple[str, int]] = []

    async def create_users(
        self, *, org_id: str, resources: Sequence[str], context: Any, max_errors: int
    ) -> list[Any]:
        identity_pb2.CreateUsersRequest(
            org_id=org_id, resources_json=list(resources), max_errors=max_errors
        )
        outcomes: list[Any] = []
        errors = 0
        for text in resources:
            name = json.loads(text)["userName"]
            if name in self.taken:
                outcomes.append(Uniqueness(f"userName {name!r} is already taken"))
                errors += 1
                if max_errors and errors >= max_errors:
                    break
            else:
                self.created.append(name)
                outcomes.append(Created(id=f"id-{name}"))
        return outcomes

    async def delete_user(
        self, *, user_id: str, expected_version: int = 0, **_: Any
    ) -> None:
        self.deleted.append((user_id, expected_version))

    async def replace_user(self, **_: Any) -> Created:
        raise ServiceUnavailable("the identity service is unavailable; retry later")


class Groups:
    """Deletes groups, remembering the version each delete expected."""

    def __init__(self) -> None:
        self.deleted: list[tuple[str, int]] = []

    async def delete_group(
        self, *, group_id: str, expected_version: int = 0, **_: Any
    ) -> None:
        self.deleted.append((group_id, expected_version))


class Reports(ErrorReporter):
    """Keeps the reports instead of sending them."""

    def __init__(self) -> None:
        super().__init__("", source="gateway")
        self.sent: list[pb.ReportErrorRequest] = []

    def report(self, **fields: Any) -> None:
        self.sent.append(pb.ReportErrorRequest(**fields, source="gateway"))


def user(bulk_id: str, **data: Any) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"userName": bulk_id, **data},
    }


def body(*operations: Any, **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}


async def run(
    *operations: Any,
    identity: Identity | None = None,
    groups: Groups | None = None,
    reporter: Reports | None = None,
    **extra: Any,
) -> list[Result]:
    return await BulkRun(
        parse_bulk_request(body(*operations, **extra), max_operations=100),
        org_id="org-1",
        context=CONTEXT,
        identity=identity or Identity(),  # type: ignore[arg-type]
        groups=groups or Groups(),  # type: ignore[arg-type]
        base_url=BASE,
        reporter=reporter,
    ).run()


async def test_a_fail_on_errors_past_32_bits_creates_the_users() -> None:
    identity = Identity(taken=["b"])

    results = await run(user("a"), user("b"), identity=identity, failOnErrors=2**40)

    assert [(r.bulk_id, r.status) for r in results] == [("a", 201), ("b", 409)]
    assert identity.created == ["a"]


async def test_fail_on_errors_counts_failed_references_in_order() -> None:
    identity = Identity(taken=["u0", "z"])
    on_u0 = {"manager": {"value": "bulkId:u0"}}
    on_a = {"manager": {"value": "bulkId:a"}}

    results = await run(
        user("u0"),
        user("a"),
        user("w", **on_a),
        user("z"),
        user("y", **on_u0),
        user("x", **on_u0),
        identity=identity,
        failOnErrors=2,
    )

    # z is the second failure: y and x, after it, do not run.
    assert [(r.bulk_id, r.status) for r in results] == [
        ("u0", 409),
        ("a", 201),
        ("w", 201),
        ("z", 409),
    ]


async def test_fail_on_errors_stops_among_failed_references() -> None:
    on_u0 = {"manager": {"value": "bulkId:u0"}}

    results = await run(
        user("u0"),
        user("y", **on_u0),
        user("x", **on_u0),
        identity=Identity(taken=["u0"]),
        failOnErrors=2,
    )

    assert [(r.bulk_id, r.status) for r in results] == [("u0", 409), ("y", 400)]


async def test_delete_expects_the_version_it_names() -> None:
    identity, groups = Identity(), Groups()

    await run(
        {"method": "DELETE", "path": "/Users/u1", "version": 'W/"3"'},
        {"method": "DELETE", "path": "/Groups/g1", "version": '"4"'},
        {"method": "DELETE", "path": "/Users/u2"},
        identity=identity,
        groups=groups,
    )

    assert identity.deleted == [("u1", 3), ("u2", 0)]
    assert groups.deleted == [("g1", 4)]


async def test_a_failed_delete_is_replayed_with_its_version() -> None:
    class Away(Identity):
        async def delete_user(self, **_: Any) -> None:
            raise ServiceUnavailable("the identity service is unavailable")

    reports = Reports()
    delete = {"method": "DELETE", "path": "/Users/u1", "version": 'W/"3"'}

    await run(delete, identity=Away(), reporter=reports)

    [report] = reports.sent
    request = json.loads(report.operation.request_json)
    assert request["expectedVersion"] == "3"


async def test_a_failed_post_has_no_location() -> None:
    results = await run(
        {**user("a"), "path": "/Users/5d0c6f6e-0000-4000-8000-000000000001"},
        user("b"),
        identity=Identity(taken=["b"]),
    )

    assert [(r.status, r.location) for r in results] == [(400, None), (409, None)]


async def test_a_delete_references_nothing_in_data_it_does_not_use() -> None:
    plan = parse_bulk_request(
        body(
            {
                "method": "DELETE",
                "path": "/Users/u1",
                "data": {"manager": "bulkId:nowhere"},
            },
        ),
        max_operations=10,
    )

    [operation] = plan.operations
    assert operation.error is None
    assert operation.references == frozenset()


async def test_a_path_with_a_query_or_fragment_is_refused() -> None:
    patch = {"Operations": [{"op": "add", "value": {"nickName": "n"}}]}
    paths = ["/Users/u1?attributes=id", "/Users/u1#x", "/Users?x=1", "/Groups/?"]

    plan = parse_bulk_request(
        body(*({"method": "PATCH", "path": p, "data": patch} for p in paths)),
        max_operations=10,
    )

    for operation in plan.operations:
        assert operation.error is not None
        assert operation.error.status == 400
        assert "must not carry a query" in operation.error.detail


async def test_each_failed_operation_is_its_own_error_however_it_is_named() -> None:
    reports = Reports()
    put = {"method": "PUT", "path": "/Users/u1", "data": {"userName": "u1"}}

    await run(
        {**put, "bulkId": "same"},
        {**put, "bulkId": "same"},
        {**put, "bulkId": "3"},
        put,
        reporter=reports,
    )

    keys = [report.dedup_key for report in reports.sent]
    assert len(keys) == 4
    assert len(set(keys)) == 4


async def test_distinct_bulk_ids_still_name_their_errors() -> None:
    reports = Reports()
    put = {"method": "PUT", "path": "/Users/u1", "data": {"userName": "u1"}}

    await run({**put, "bulkId": "p1"}, put, reporter=reports)

    assert [r.dedup_key for r in reports.sent] == ["req-1:p1", "req-1:1"]
    assert json_format.MessageToDict(reports.sent[0])["kind"] == (
        "ERROR_KIND_BULK_OPERATION_FAILED"
    )
