"""Bulk operations that fail on our side are reported with the call to replay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from test_bulk_run import BASE, BULK_REQUEST, FakeIdentity

from gateway.bulk_plan import parse_bulk_request, parse_operation
from gateway.bulk_replay import replay_call
from gateway.bulk_run import BulkRun
from gateway.errors import ServiceUnavailable
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.identity.v1 import identity_pb2
from services.common.error_reports import ErrorReporter

CONTEXT = identity_pb2.RequestContext(request_id="req-1", token_id="tok-1")


class Reports(ErrorReporter):
    """Keeps the reports instead of sending them."""

    def __init__(self) -> None:
        super().__init__("", source="gateway")
        self.sent: list[pb.ReportErrorRequest] = []

    def report(self, **fields: Any) -> None:
        self.sent.append(pb.ReportErrorRequest(**fields, source="gateway"))


class IdentityAway(FakeIdentity):
    async def create_users(self, **_: Any) -> list[Any]:
        raise ServiceUnavailable("the identity service is unavailable; retry later")


async def run(identity: FakeIdentity, *operations: Any) -> list[pb.ReportErrorRequest]:
    body = {"schemas": [BULK_REQUEST], "Operations": list(operations)}
    reports = Reports()
    await BulkRun(
        parse_bulk_request(body, max_operations=100),
        org_id="org-1",
        context=CONTEXT,
        identity=identity,  # type: ignore[arg-type]
        groups=None,  # type: ignore[arg-type]
        base_url=BASE,
        reporter=reports,
    ).run()
    return reports.sent


async def test_a_failed_put_is_reported_with_its_replace_call() -> None:
    put = {
        "method": "PUT",
        "path": "/Users/u1",
        "bulkId": "p1",
        "data": {"userName": "u1", "password": "never-kept"},
    }

    [report] = await run(FakeIdentity(), put)

    assert report.kind == pb.ERROR_KIND_BULK_OPERATION_FAILED
    assert (report.org_id, report.subject_type, report.subject_id) == (
        "org-1",
        "User",
        "u1",
    )
    assert report.dedup_key == "req-1:p1"
    assert report.request_id == "req-1"
    assert report.reason_code == "INTERNAL"
    assert report.source == "gateway"
    assert report.operation.method == "/rivane.identity.v1.IdentityService/ReplaceUser"
    request = json.loads(report.operation.request_json)
    assert request["userId"] == "u1"
    assert json.loads(request["resourceJson"]) == {"userName": "u1"}
    assert request["context"]["requestId"] == "req-1"
    assert "never-kept" not in str(report)
    assert report.operation.summary == "PUT /Users/u1 (bulk operation 0, bulkId=p1)"


async def test_a_failed_batch_reports_each_post_as_its_own_create_call() -> None:
    posts = [
        {"method": "POST", "path": "/Users", "bulkId": name, "data": {"userName": name}}
        for name in ("a", "b")
    ]

    reports = await run(IdentityAway(), *posts)

    assert [report.dedup_key for report in reports] == ["req-1:a", "req-1:b"]
    assert {report.operation.method for report in reports} == {
        "/rivane.identity.v1.IdentityService/CreateUser"
    }
    assert reports[0].reason_code == "HTTP_503"


async def test_client_errors_of_a_bulk_are_not_reported() -> None:
    identity = FakeIdentity(taken=["a"])
    post = {
        "method": "POST",
        "path": "/Users",
        "bulkId": "a",
        "data": {"userName": "a"},
    }

    assert await run(identity, post) == []


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PASSWORD_URN = "urn:ietf:params:scim:schemas:core:2.0:User:password"


@pytest.mark.parametrize(
    "operation",
    [
        {
            "method": "PATCH",
            "path": "/Users/u1",
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": "password", "value": "s3cret-a"},
                    {"op": "replace", "path": "displayName", "value": "Ada"},
                ],
            },
        },
        {
            "method": "PATCH",
            "path": "/Users/u1",
            "data": {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "replace", "path": PASSWORD_URN, "value": "s3cret-b"},
                    {"op": "replace", "value": {"password": "s3cret-c"}},
                    {"op": "replace", "value": {"displayName": "Ada"}},
                ],
            },
        },
        {
            "method": "PUT",
            "path": "/Users/u1",
            "data": {"userName": "u1", PASSWORD_URN: "s3cret-d", "displayName": "Ada"},
        },
        {
            "method": "POST",
            "path": "/Users",
            "bulkId": "u1",
            "data": {"userName": "u1", "Password": "s3cret-e", "displayName": "Ada"},
        },
    ],
)
def test_no_password_reaches_the_replay_call(operation: dict[str, Any]) -> None:
    _, request = replay_call(
        parse_operation(0, operation), org_id="org-1", context=CONTEXT
    )

    kept = json_format.MessageToJson(request)
    assert "s3cret" not in kept
    # What is not a secret is still replayed.
    assert "Ada" in kept
