"""The order of a Bulk request's operations and its bulkId rules (RFC 7644 §3.7)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.bulk_plan import (
    BulkRequest,
    CircularReference,
    parse_bulk_request,
    strongly_connected,
)
from gateway.errors import ContentTooLarge
from services.common.errors import InvalidSyntax, InvalidValue

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def post(bulk_id: str, endpoint: str = "Users", **data: Any) -> dict[str, Any]:
    return {"method": "POST", "path": f"/{endpoint}", "bulkId": bulk_id, "data": data}


def group(bulk_id: str, *members: str) -> dict[str, Any]:
    return post(bulk_id, "Groups", members=[{"value": f"bulkId:{m}"} for m in members])


def plan(*operations: Any, **extra: Any) -> BulkRequest:
    body = {"schemas": [BULK_REQUEST], "Operations": list(operations), **extra}
    return parse_bulk_request(body, max_operations=100)


def errors(request: BulkRequest) -> dict[int, str]:
    return {
        op.index: type(op.error).__name__
        for op in request.operations
        if op.error is not None
    }


def test_operations_without_references_run_in_request_order() -> None:
    request = plan(post("a"), {"method": "DELETE", "path": "/Users/1"}, post("b"))

    assert request.order == [0, 1, 2]
    assert errors(request) == {}


def test_a_group_runs_after_the_users_it_lists_as_early_as_it_can() -> None:
    request = plan(group("g", "a", "b"), post("x"), post("a"), post("b"), post("c"))

    assert request.order == [1, 2, 3, 0, 4]
    assert request.operations[0].references == {"a", "b"}


def test_references_in_any_value_and_in_the_path_are_followed() -> None:
    manager = {"urn:x:enterprise": {"manager": {"value": "bulkId:boss"}}}
    request = plan(
        {"method": "PATCH", "path": "/Users/bulkId:late", "data": {"Operations": []}},
        post("worker", **manager),
        post("boss"),
        post("late"),
    )

    assert request.order == [2, 1, 3, 0]
    assert request.operations[0].references == {"late"}


def test_a_chain_of_references_is_ordered_end_first() -> None:
    operations = [group(f"g{n}", f"g{n + 1}") for n in range(50)] + [post("g50")]

    request = plan(*operations)

    assert request.order == list(range(50, -1, -1))


def test_unknown_bulk_id_fails_its_operation_only() -> None:
    request = plan(group("g", "a", "ghost"), post("a"))

    error = request.operations[0].error
    assert isinstance(error, InvalidValue)
    assert "'ghost'" in error.detail
    assert errors(request) == {0: "InvalidValue"}
    assert request.order == [0, 1]


@pytest.mark.parametrize(
    "operations",
    [
        [group("a", "b"), group("b", "a")],
        [group("a", "b"), group("b", "c"), group("c", "a")],
        [group("a", "a")],
    ],
)
def test_circular_references_are_409_for_each_operation_on_the_circle(
    operations: list[dict[str, Any]],
) -> None:
    request = plan(*operations, post("free"))

    on_circle = range(len(operations))
    assert errors(request) == {index: "CircularReference" for index in on_circle}
    assert CircularReference.status == 409
    assert "circular" in (request.operations[0].error or InvalidValue("")).detail
    assert sorted(request.order) == list(range(len(operations) + 1))


def test_an_operation_depending_on_a_circle_is_not_on_it() -> None:
    # d -> a <-> b, and c sits between two circles: a <-> b <- c <- e <-> f.
    request = plan(
        group("a", "b"),
        group("b", "a"),
        group("c", "b"),
        group("d", "a"),
        group("e", "c", "f"),
        group("f", "e"),
    )

    assert errors(request) == {
        0: "CircularReference",
        1: "CircularReference",
        4: "CircularReference",
        5: "CircularReference",
    }
    # The others wait for what they reference, and fail when it has failed.
    assert request.order.index(2) > request.order.index(1)
    assert request.order.index(3) > request.order.index(0)


def test_a_repeated_bulk_id_fails_the_later_post() -> None:
    request = plan(post("a"), post("a"), group("g", "a"))

    assert errors(request) == {1: "InvalidValue"}
    assert "already the bulkId of operation 0" in str(request.operations[1].error)
    assert request.defined == {"a": 0, "g": 2}


@pytest.mark.parametrize(
    ("operation", "words"),
    [
        ({"method": "GET", "path": "/Users"}, "method must be"),
        ({"method": "POST", "path": "/Users", "data": {}}, "bulkId is required"),
        ({"method": "POST", "path": "/Users/1", "bulkId": "x", "data": {}}, "a POST"),
        ({"method": "PUT", "path": "/Users", "data": {}}, "needs a path"),
        ({"method": "PATCH", "path": "/Users/1"}, "needs data"),
        ({"method": "DELETE", "path": "/Things/1"}, "names no Users or Groups"),
        ({"method": "DELETE", "path": "/Users/1/x"}, "names no Users or Groups"),
        ({"method": "DELETE", "path": "/Users/1", "version": 3}, "ETag"),
        ({"method": "DELETE", "bulkId": "", "path": "/Users/1"}, "non-empty"),
        ("DELETE /Users/1", "must be an object"),
    ],
)
def test_a_malformed_operation_fails_alone(operation: Any, words: str) -> None:
    request = plan(post("ok"), operation)

    error = request.operations[1].error
    assert error is not None and words in error.detail
    assert request.operations[0].error is None


def test_methods_are_read_in_any_case_and_versions_as_etags() -> None:
    request = plan({"method": "delete", "path": "/Users/1", "version": 'W/"4"'})

    assert request.operations[0].method == "DELETE"
    assert request.operations[0].expected_version == 4


def test_too_many_operations_is_413_before_any_is_parsed() -> None:
    body = {"schemas": [BULK_REQUEST], "Operations": [post(str(n)) for n in range(3)]}

    with pytest.raises(ContentTooLarge, match="maxOperations is 2"):
        parse_bulk_request(body, max_operations=2)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Operations": []}, InvalidValue),
        ({"schemas": [BULK_REQUEST]}, InvalidSyntax),
        (
            {"schemas": [BULK_REQUEST], "Operations": [], "failOnErrors": 0},
            InvalidValue,
        ),
        (
            {"schemas": [BULK_REQUEST], "Operations": [], "failOnErrors": True},
            InvalidValue,
        ),
    ],
)
def test_a_malformed_request_is_refused_whole(
    body: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        parse_bulk_request(body, max_operations=10)


def test_strongly_connected_finds_each_circle_without_recursion() -> None:
    size = 5000
    graph = {n: {(n + 1) % size} for n in range(size)}
    graph[size] = {0}

    components = strongly_connected(graph)

    assert sorted(len(c) for c in components) == [1, size]
