"""Running the operations of a SCIM Bulk request (RFC 7644 §3.7.3).

Operations run in the plan's order. Consecutive POSTs of Users go to the
identity service in batches, each one transaction that writes its users,
their audit rows and their events; every other operation is one call of the
same service a single request would make. Each operation succeeds or fails
on its own; `failOnErrors` stops the run at the operation that makes that
many failures, and only the operations that ran are answered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.bulk_plan import BULK_ID_PREFIX, BulkRequest, Operation
from gateway.bulk_replay import report_bulk_failure
from gateway.errors import InternalError
from gateway.etags import weak_etag
from gateway.group_mapping import GroupMappingClient
from gateway.identity import IdentityClient
from gateway.rendering import location_of
from services.common.error_reports import ErrorReporter
from services.common.errors import InvalidValue, ScimError

logger = logging.getLogger(__name__)

# Users per CreateUsers call, and the JSON bytes they may take together: one
# transaction stays short, and one message far below gRPC's 4 MiB.
BATCH_SIZE = 1000
BATCH_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one operation, as the BulkResponse shows it."""

    index: int
    method: str
    bulk_id: str | None
    status: int
    location: str | None = None
    version: str | None = None
    error: ScimError | None = None
    # The id of the resource it created or changed.
    resource_id: str = ""


class BulkRun:
    """Run the operations of one Bulk request for one org."""

    def __init__(
        self,
        request: BulkRequest,
        *,
        org_id: str,
        context: Any,
        identity: IdentityClient,
        groups: GroupMappingClient,
        base_url: str,
        reporter: ErrorReporter | None = None,
    ) -> None:
        self._request = request
        self._reporter = reporter
        self._org_id = org_id
        self._context = context
        self._identity = identity
        self._groups = groups
        self._base_url = base_url
        # bulkId -> the id of the resource its POST created.
        self._created: dict[str, str] = {}
        self._results: list[Result] = []
        self._errors = 0

    async def run(self) -> list[Result]:
        """Run the operations; return the results of those that ran, in order."""
        for step in self._steps():
            if self._stopped():
                break
            if isinstance(step, list):
                await self._create_users(step)
            else:
                self._record(await self._run_one(step))
        return sorted(self._results, key=lambda result: result.index)

    def _stopped(self) -> bool:
        limit = self._request.fail_on_errors
        return limit is not None and self._errors >= limit

    def _steps(self) -> Iterator[Operation | list[Operation]]:
        """Yield operations to run alone and runs of consecutive User POSTs."""
        run: list[Operation] = []
        in_run: set[str] = set()
        for index in self._request.order:
            operation = self._request.operations[index]
            batchable = (
                operation.creates_user
                and len(run) < BATCH_SIZE
                # A user referencing another of the run waits for it.
                and not operation.references & in_run
            )
            if run and not batchable:
                yield run
                run, in_run = [], set()
            if operation.creates_user:
                run.append(operation)
                in_run.add(operation.bulk_id or "")
            else:
                yield operation
        if run:
            yield run

    def _record(self, result: Result) -> None:
        self._results.append(result)
        if result.error is not None:
            self._errors += 1
        operation = self._request.operations[result.index]
        # Its data is not needed any more: memory stays near the body's size.
        operation.data = None
        if result.error is None and operation.method == "POST":
            self._created[operation.bulk_id or ""] = result.resource_id

    async def _create_users(self, operations: list[Operation]) -> None:
        ready: list[tuple[Operation, str]] = []
        for operation in operations:
            try:
                self._resolve(operation)
            except ScimError as error:
                if self._request.fail_on_errors is not None:
                    # Counted in order: the users before it may stop the run.
                    await self._send(ready)
                    ready = []
                    if self._stopped():
                        return
                self._record(self._failed(operation, error))
                continue
            ready.append((operation, json.dumps(operation.data)))
        await self._send(ready)

    async def _send(self, ready: list[tuple[Operation, str]]) -> None:
        """Create the resolved users of a run, in batches, until the run stops."""
        for batch in _batches(ready):
            if self._stopped():
                return
            limit = self._request.fail_on_errors
            # A batch cannot fail more often than it has users, and the call
            # carries the count as an int32, which failOnErrors may exceed.
            max_errors = 0 if limit is None else min(limit - self._errors, len(batch))
            try:
                outcomes = await self._identity.create_users(
                    org_id=self._org_id,
                    resources=[text for _, text in batch],
                    context=self._context,
                    max_errors=max_errors,
                )
            except Exception as error:  # each operation is answered on its own
                failure = self._server_failure(
                    error,
                    what=f"a batch of {len(batch)} User POSTs",
                    operations=[operation for operation, _ in batch],
                )
                for operation, _ in batch:
                    self._record(self._failed(operation, failure, handled=True))
                continue
            for (operation, _), outcome in zip(batch, outcomes, strict=False):
                if isinstance(outcome, ScimError):
                    self._record(self._failed(operation, outcome))
                else:
                    self._record(self._done(operation, outcome, status=201))

    async def _run_one(self, operation: Operation) -> Result:
        if operation.error is not None:
            return self._failed(operation, operation.error)
        try:
            self._resolve(operation)
            return await self._call(operation)
        except Exception as error:  # each operation is answered on its own
            return self._failed(operation, error)

    async def _call(self, operation: Operation) -> Result:
        org_id, context, data = self._org_id, self._context, operation.data or {}
        target = operation.resource_id
        version = operation.expected_version
        if operation.endpoint == "Users":
            users = self._identity
            if operation.method == "PUT":
                user = await users.replace_user(
                    org_id=org_id,
                    user_id=target,
                    resource=data,
                    context=context,
                    expected_version=version,
                )
                return self._done(operation, user, status=200)
            if operation.method == "PATCH":
                user = await users.patch_user(
                    org_id=org_id,
                    user_id=target,
                    patch=data,
                    context=context,
                    expected_version=version,
                )
                return self._done(operation, user, status=200)
            # A POST of a User always runs in a batch, never here.
            await users.delete_user(
                org_id=org_id,
                user_id=target,
                context=context,
                expected_version=version,
            )
            return self._done(operation, None, status=204)

        groups = self._groups
        if operation.method == "POST":
            view = await groups.create_group(
                org_id=org_id, resource=data, context=context
            )
            return self._done(operation, view.group, status=201)
        if operation.method == "PUT":
            view = await groups.replace_group(
                org_id=org_id,
                group_id=target,
                resource=data,
                context=context,
                expected_version=version,
            )
            return self._done(operation, view.group, status=200)
        if operation.method == "PATCH":
            group = await groups.patch_group(
                org_id=org_id,
                group_id=target,
                patch=data,
                context=context,
                expected_version=version,
            )
            # As PATCH /Groups/{id} answers: no body, the new version.
            return self._done(operation, group, status=204)
        await groups.delete_group(
            org_id=org_id,
            group_id=target,
            context=context,
            expected_version=version,
        )
        return self._done(operation, None, status=204)

    def _resolve(self, operation: Operation) -> None:
        """Put the ids the referenced POSTs created in place of their bulkIds."""
        if not operation.references:
            return
        for bulk_id in sorted(operation.references):
            if bulk_id not in self._created:
                raise InvalidValue(
                    f"bulkId {bulk_id!r} names a POST that failed, so this "
                    "operation cannot reference what it would have created"
                )
        if operation.resource_id.startswith(BULK_ID_PREFIX):
            operation.resource_id = self._created[
                operation.resource_id.removeprefix(BULK_ID_PREFIX)
            ]
        operation.data = _replace_references(operation.data, self._created)

    def _done(self, operation: Operation, resource: Any, *, status: int) -> Result:
        resource_id = str(resource.id) if resource is not None else ""
        resource_id = resource_id or operation.resource_id
        return Result(
            index=operation.index,
            method=operation.method,
            bulk_id=operation.bulk_id,
            status=status,
            location=location_of(self._base_url, operation.endpoint, resource_id),
            version=weak_etag(int(resource.version)) if resource is not None else None,
            resource_id=resource_id,
        )

    def _failed(
        self, operation: Operation, error: Exception, *, handled: bool = False
    ) -> Result:
        """Return the result of a failed operation.

        A failure on our side goes through `_server_failure` first, unless
        it was `handled` there already (once for a whole batch).
        """
        if not handled and (not isinstance(error, ScimError) or error.status >= 500):
            error = self._server_failure(
                error,
                what=f"operation {operation.index} ({operation.method} "
                f"/{operation.endpoint})",
                operations=[operation],
            )
        assert isinstance(error, ScimError)
        location = None
        # RFC 7644 §3.7.3: a failed POST has no location; the path of one is
        # not a resource even when it names one.
        if (
            operation.method != "POST"
            and operation.resource_id
            and not operation.resource_id.startswith(BULK_ID_PREFIX)
        ):
            location = location_of(
                self._base_url, operation.endpoint, operation.resource_id
            )
        return Result(
            index=operation.index,
            method=operation.method,
            bulk_id=operation.bulk_id,
            status=error.status,
            location=location,
            error=error,
        )

    def _server_failure(
        self, error: Exception, *, what: str, operations: list[Operation]
    ) -> ScimError:
        """Handle operations that failed on our side: the one place for them.

        A SCIM 5xx (a service unavailable) is answered as it is; anything
        else is answered 500 with no detail of ours. The log keeps the
        error, never an operation's data; the error tracker gets each
        operation with the call that replays it.
        """
        if self._reporter is not None:
            for operation in operations:
                report_bulk_failure(
                    self._reporter,
                    operation,
                    error,
                    org_id=self._org_id,
                    context=self._context,
                )
        if isinstance(error, ScimError):
            logger.warning(
                "bulk: %s failed with %d: %s",
                what,
                error.status,
                error.detail,
                extra={"org_id": self._org_id},
            )
            return error
        logger.error(
            "bulk: %s failed on our side",
            what,
            exc_info=error,
            extra={"org_id": self._org_id},
        )
        return InternalError("the operation failed on our side; retry it later")


def _batches(
    ready: list[tuple[Operation, str]],
) -> Iterator[list[tuple[Operation, str]]]:
    batch: list[tuple[Operation, str]] = []
    size = 0
    for item in ready:
        if batch and size + len(item[1]) > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item[1])
    if batch:
        yield batch


def _replace_references(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(BULK_ID_PREFIX):
        return created.get(value.removeprefix(BULK_ID_PREFIX), value)
    if isinstance(value, dict):
        return {key: _replace_references(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_references(item, created) for item in value]
    return value
