"""The operations of a SCIM Bulk request and the order they run in (RFC 7644 §3.7).

Each operation is checked on its own: a malformed one fails alone. A POST's
`bulkId` may be referenced as `"bulkId:<id>"` by any value of another
operation's `data`, or in its path; an operation runs after the POSTs it
references, otherwise in the order of the request. A reference to no POST
of the request, and references that go round in a circle, fail the
operations that make them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway import urns
from gateway.errors import ContentTooLarge
from gateway.etags import parse_if_match
from services.common.errors import InvalidSyntax, InvalidValue, ScimError

BULK_ID_PREFIX = "bulkId:"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ENDPOINTS = frozenset({"Users", "Groups"})


class CircularReference(ScimError):
    """Operations reference each other's bulkIds in a circle.

    RFC 7644 §3.7.1: a service provider that does not resolve such a cycle
    answers 409 (Conflict).
    """

    status = 409


@dataclass(slots=True)
class Operation:
    """One operation of a Bulk request, as parsed."""

    index: int
    method: str
    bulk_id: str | None = None
    endpoint: str = ""
    # The id in the path of a PUT, PATCH or DELETE; may be "bulkId:<id>".
    resource_id: str = ""
    # The version its `version` attribute expects (If-Match), 0 for any.
    expected_version: int = 0
    data: dict[str, Any] | None = None
    # The bulkIds it references, in its path or its data.
    references: frozenset[str] = frozenset()
    # Why it fails without running, when it does.
    error: ScimError | None = None
    # Names it alone among the operations of the request, for the error log.
    report_key: str = ""

    @property
    def creates_user(self) -> bool:
        """Tell whether it is a well-formed POST of a User, which runs in batches."""
        return self.error is None and self.method == "POST" and self.endpoint == "Users"


@dataclass(slots=True)
class BulkRequest:
    """The operations of a request, in the order they run, and `failOnErrors`."""

    operations: list[Operation]
    fail_on_errors: int | None
    # Indexes of the operations, in the order they run.
    order: list[int] = field(default_factory=list)
    # bulkId -> index of the POST that defines it.
    defined: dict[str, int] = field(default_factory=dict)


def parse_bulk_request(body: Mapping[str, Any], *, max_operations: int) -> BulkRequest:
    """Return the checked and ordered operations of a BulkRequest body.

    Raises:
        ContentTooLarge: more operations than `max_operations` (RFC 7644 §3.7.4).
        InvalidSyntax, InvalidValue: the request as a whole is malformed.
    """
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or urns.BULK_REQUEST not in schemas:
        raise InvalidValue(f"schemas must list {urns.BULK_REQUEST}")
    raw_operations = body.get("Operations")
    if not isinstance(raw_operations, list):
        raise InvalidSyntax("Operations must be a list of operations")
    if len(raw_operations) > max_operations:
        raise ContentTooLarge(
            f"the request has {len(raw_operations)} operations; "
            f"maxOperations is {max_operations}"
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise InvalidValue("failOnErrors must be an integer of 1 or more")

    operations = [
        parse_operation(index, raw) for index, raw in enumerate(raw_operations)
    ]
    _name_for_reports(operations)
    request = BulkRequest(operations=operations, fail_on_errors=fail_on_errors)
    request.defined = _define_bulk_ids(operations)
    _refuse_unknown_references(operations, request.defined)
    _refuse_cycles(operations, request.defined)
    request.order = _run_order(operations, request.defined)
    return request


def parse_operation(index: int, raw: Any) -> Operation:
    """Return one operation; a malformed one carries the error it fails with."""
    if not isinstance(raw, dict):
        return Operation(
            index, "", error=InvalidSyntax("an operation must be an object")
        )
    method = raw.get("method")
    method = method.upper() if isinstance(method, str) else ""
    operation = Operation(index, method)
    try:
        _fill(operation, raw)
    except ScimError as error:
        operation.error = error
    return operation


def _fill(operation: Operation, raw: dict[str, Any]) -> None:
    if operation.method not in METHODS:
        raise InvalidValue("method must be POST, PUT, PATCH or DELETE")

    bulk_id = raw.get("bulkId")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise InvalidValue("bulkId must be a non-empty string")
    operation.bulk_id = bulk_id

    path = raw.get("path")
    if not isinstance(path, str):
        raise InvalidValue("path is required, e.g. /Users or /Users/{id}")
    if "?" in path or "#" in path:
        # RFC 7644 §3.7: the path names a resource; a query or fragment
        # would otherwise end up in the id and answer 404 for the wrong reason.
        raise InvalidValue(f"path {path!r} must not carry a query or fragment")
    endpoint, _, resource_id = path.strip("/").partition("/")
    if endpoint not in ENDPOINTS or "/" in resource_id:
        raise InvalidValue(f"path {path!r} names no Users or Groups resource")
    operation.endpoint, operation.resource_id = endpoint, resource_id

    if operation.method == "POST":
        # RFC 7644 §3.7: bulkId is required with POST, and a POST has no id.
        if bulk_id is None:
            raise InvalidValue("bulkId is required with POST")
        if resource_id:
            raise InvalidValue(f"a POST goes to /{endpoint}, not to one resource")
    elif not resource_id:
        raise InvalidValue(f"{operation.method} needs a path /{endpoint}/{{id}}")

    version = raw.get("version")
    if version is not None:
        if not isinstance(version, str):
            raise InvalidValue('version must be an ETag, as W/"<version>"')
        operation.expected_version = parse_if_match(version)

    # A DELETE has no data (RFC 7644 §3.7): whatever it sends is not used, so
    # neither does it reference anything nor wait for anything.
    data = raw.get("data") if operation.method != "DELETE" else None
    if operation.method != "DELETE":
        if not isinstance(data, dict):
            raise InvalidValue(f"{operation.method} needs data, a JSON object")
        operation.data = data
    references = references_in(data)
    if resource_id.startswith(BULK_ID_PREFIX):
        references.add(resource_id.removeprefix(BULK_ID_PREFIX))
    operation.references = frozenset(references)


def references_in(value: Any) -> set[str]:
    """Return the bulkIds that the strings of a JSON value reference."""
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if item.startswith(BULK_ID_PREFIX):
                found.add(item.removeprefix(BULK_ID_PREFIX))
            continue
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        for inner in item:
            # Strings are looked at here rather than pushed: most values are.
            if isinstance(inner, str):
                if inner.startswith(BULK_ID_PREFIX):
                    found.add(inner.removeprefix(BULK_ID_PREFIX))
            elif isinstance(inner, dict | list):
                pending.append(inner)
    return found


def _name_for_reports(operations: list[Operation]) -> None:
    """Give each operation a key no other operation of the request has.

    Its bulkId, or its index when it has none. A bulkId may repeat (on a
    PUT, on a refused POST) or read as another operation's index; when any
    two keys meet, every key is prefixed with its operation's index.
    """
    keys = [op.bulk_id or str(op.index) for op in operations]
    if len(set(keys)) < len(keys):
        keys = [f"{index}:{key}" for index, key in enumerate(keys)]
    for operation, key in zip(operations, keys, strict=True):
        operation.report_key = key


def _define_bulk_ids(operations: list[Operation]) -> dict[str, int]:
    defined: dict[str, int] = {}
    for operation in operations:
        if operation.method != "POST" or operation.bulk_id is None:
            continue
        if operation.bulk_id in defined:
            if operation.error is None:
                first = defined[operation.bulk_id]
                operation.error = InvalidValue(
                    f"bulkId {operation.bulk_id!r} is already the bulkId of "
                    f"operation {first}"
                )
            continue
        # Even a malformed POST defines its bulkId: what references it then
        # fails as depending on a failed operation, not as unknown.
        defined[operation.bulk_id] = operation.index
    return defined


def _refuse_unknown_references(
    operations: list[Operation], defined: dict[str, int]
) -> None:
    for operation in operations:
        if operation.error is not None:
            continue
        unknown = sorted(ref for ref in operation.references if ref not in defined)
        if unknown:
            operation.error = InvalidValue(
                f"bulkId {unknown[0]!r} is not the bulkId of any POST in this request"
            )


def _dependencies(operation: Operation, defined: dict[str, int]) -> set[int]:
    if operation.error is not None:
        return set()
    return {defined[ref] for ref in operation.references if ref in defined}


def _refuse_cycles(operations: list[Operation], defined: dict[str, int]) -> None:
    """Fail every operation on a circle of references (RFC 7644 §3.7.1)."""
    graph = {op.index: _dependencies(op, defined) for op in operations}
    if not any(graph.values()):
        return
    for component in strongly_connected(graph):
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        names = sorted(
            operations[index].bulk_id or f"operation {index}" for index in component
        )
        listed = ", ".join(repr(name) for name in names)
        for index in component:
            operations[index].error = CircularReference(
                f"circular bulkId references between {listed}; create one of "
                "them without the reference and PATCH it in a later request"
            )


def strongly_connected(graph: Mapping[int, set[int]]) -> list[list[int]]:
    """Return the strongly connected components of a graph (Tarjan, no recursion)."""
    index_of: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    counter = 0
    for root in graph:
        if root in index_of:
            continue
        work: list[tuple[int, Iterator[int]]] = [(root, iter(graph[root]))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index_of:
                    index_of[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index_of[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index_of[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _run_order(operations: list[Operation], defined: dict[str, int]) -> list[int]:
    """Order the operations after what they reference, else as in the request."""
    waiting = {op.index: _dependencies(op, defined) for op in operations}
    if not any(waiting.values()):
        return list(waiting)
    dependents: dict[int, list[int]] = {}
    for index, dependencies in waiting.items():
        for dependency in dependencies:
            dependents.setdefault(dependency, []).append(index)

    ready = [index for index, dependencies in waiting.items() if not dependencies]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for dependent in dependents.get(index, ()):
            waiting[dependent].discard(index)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    return order
