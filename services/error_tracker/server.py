"""gRPC edge of the error tracker: protobuf in, store calls, statuses out."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from services.common.documents import check_text
from services.common.errors import InvalidValue, NotFound
from services.common.grpc_edge import Context, unary_edge
from services.error_tracker import paging
from services.error_tracker.client_errors import (
    ClientErrorFilter,
    ClientErrorLog,
    new_id,
)
from services.error_tracker.models import ClientError, ErrorAttempt, TrackedError
from services.error_tracker.policy import Backoff, first_retry_in
from services.error_tracker.records import ErrorFilter, ErrorStore, Report
from services.error_tracker.replayer import Operation
from services.error_tracker.retries import RetryCoordinator

MAX_RETRY_IDS = 500
# A btree entry holds at most about 2.7 kB; a dedup key built from what a
# client sent (a Bulk bulkId) may be longer, so a long key is kept as its hash.
MAX_DEDUP_KEY_LENGTH = 256
_KIND_PREFIX = "ERROR_KIND_"
_STATE_PREFIX = "ERROR_STATE_"


def _kind_name(kind: int) -> str:
    if not kind:
        return ""
    try:
        return pb.ErrorKind.Name(kind).removeprefix(_KIND_PREFIX)  # type: ignore[arg-type]
    except ValueError as error:
        raise InvalidValue(f"unknown error kind {kind}") from error


def _state_name(state: int) -> str:
    if not state:
        return ""
    try:
        return pb.ErrorState.Name(state).removeprefix(_STATE_PREFIX)  # type: ignore[arg-type]
    except ValueError as error:
        raise InvalidValue(f"unknown error state {state}") from error


def _kind_value(name: str) -> pb.ErrorKind.ValueType:
    return pb.ErrorKind.Value(_KIND_PREFIX + name)


def _state_value(name: str) -> pb.ErrorState.ValueType:
    return pb.ErrorState.Value(_STATE_PREFIX + name)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _time(
    message: (
        pb.ListErrorsRequest | pb.ListClientErrorsRequest | pb.ListAdminRetriesRequest
    ),
    name: str,
) -> datetime | None:
    if not message.HasField(name):  # type: ignore[arg-type]
        return None
    stamp: Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=UTC)


def _error_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def stored_dedup_key(key: str) -> str:
    """Return the key an error is deduplicated by: `key`, or its hash if long."""
    if len(key) <= MAX_DEDUP_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def storable(text: str) -> str:
    """Return `text` with U+0000, which PostgreSQL cannot store, replaced."""
    return text.replace("\x00", "\ufffd")


def client_error_row(error: pb.ClientError, *, now: datetime) -> dict[str, object]:
    """Return the row of one client error; its texts are the gateway's echo."""
    return {
        "client_error_id": new_id(error.client_error_id),
        "org_id": storable(error.org_id),
        "status": error.status,
        "scim_type": storable(error.scim_type),
        "detail": storable(error.detail[:1000]),
        "method": storable(error.method),
        "path": storable(error.path),
        "request_id": storable(error.request_id),
        "occurred_at": (
            error.occurred_at.ToDatetime(tzinfo=UTC)
            if error.HasField("occurred_at")
            else now
        ),
    }


def _check_filters(*texts: tuple[str, str]) -> None:
    for text, what in texts:
        check_text(text, what=what)


def error_message(error: TrackedError) -> pb.ErrorRecord:
    """Render a stored error for the wire."""
    operation = Operation.of(error.operation)
    return pb.ErrorRecord(
        error_id=str(error.error_id),
        org_id=error.org_id,
        kind=_kind_value(error.kind),
        reason_code=error.reason_code,
        reason=error.reason,
        subject_type=error.subject_type,
        subject_id=error.subject_id,
        operation=pb.Operation(
            method=operation.method,
            request_json=operation.request_json,
            summary=operation.summary,
            target=operation.target,
        ),
        state=_state_value(error.state),
        first_seen=_timestamp(error.first_seen),
        last_seen=_timestamp(error.last_seen),
        occurrences=error.occurrences,
        attempts=error.attempts,
        next_attempt_at=_timestamp(error.next_attempt_at),
        last_retried_by=error.last_retried_by,
        last_retried_at=_timestamp(error.last_retried_at),
        resolved_at=_timestamp(error.resolved_at),
        resolved_by=error.resolved_by,
        dedup_key=error.dedup_key,
        request_id=error.request_id,
        trace_id=error.trace_id,
        source=error.source,
    )


def attempt_message(attempt: ErrorAttempt) -> pb.ErrorAttempt:
    """Render an attempt for the wire."""
    return pb.ErrorAttempt(
        number=attempt.number,
        trigger=attempt.trigger,
        actor=attempt.actor,
        started_at=_timestamp(attempt.started_at),
        finished_at=_timestamp(attempt.finished_at),
        outcome=_state_value(attempt.outcome),
        status_code=attempt.status_code,
        detail=attempt.detail,
        request_id=attempt.request_id,
    )


def _client_error_message(row: ClientError) -> pb.ClientError:
    return pb.ClientError(
        client_error_id=str(row.client_error_id),
        org_id=row.org_id,
        status=row.status,
        scim_type=row.scim_type,
        detail=row.detail,
        method=row.method,
        path=row.path,
        request_id=row.request_id,
        occurred_at=_timestamp(row.occurred_at),
    )


def _report(request: pb.ReportErrorRequest) -> Report:
    kind = _kind_name(request.kind)
    if not kind:
        raise InvalidValue("a reported error needs a kind")
    if not request.dedup_key:
        raise InvalidValue("a reported error needs a dedup_key")
    for text, what in ((request.reason, "reason"), (request.dedup_key, "dedup key")):
        check_text(text, what=what)
    operation = Operation(
        method=request.operation.method,
        request_json=request.operation.request_json,
        summary=request.operation.summary,
        target=request.operation.target,
    )
    return Report(
        org_id=request.org_id,
        kind=kind,
        reason_code=request.reason_code,
        reason=request.reason,
        subject_type=request.subject_type,
        subject_id=request.subject_id,
        operation=operation.stored(),
        dedup_key=stored_dedup_key(request.dedup_key),
        request_id=request.request_id,
        trace_id=request.trace_id,
        source=request.source,
    )


class ErrorTrackerServicer(pb_grpc.ErrorTrackerServiceServicer):
    """Serve `rivane.error_tracker.v1.ErrorTrackerService`."""

    def __init__(
        self,
        *,
        store: ErrorStore,
        retries: RetryCoordinator,
        client_errors: ClientErrorLog,
        backoff: Backoff,
    ) -> None:
        self._store = store
        self._retries = retries
        self._client_errors = client_errors
        self._backoff = backoff

    @unary_edge
    async def ReportError(
        self, request: pb.ReportErrorRequest, context: Context
    ) -> pb.ReportErrorResponse:
        report = _report(request)
        error_id, created = await self._store.report(
            report, first_retry_in=first_retry_in(report.kind, self._backoff)
        )
        return pb.ReportErrorResponse(error_id=str(error_id), created=created)

    @unary_edge
    async def ResolveErrors(
        self, request: pb.ResolveErrorsRequest, context: Context
    ) -> pb.ResolveErrorsResponse:
        kind = _kind_name(request.kind)
        if not kind:
            raise InvalidValue("resolving needs the kind of the errors")
        resolved = await self._store.resolve(
            org_id=request.org_id,
            kind=kind,
            dedup_keys=[stored_dedup_key(key) for key in request.dedup_keys],
            reason=request.reason,
            source=request.source or "source",
        )
        return pb.ResolveErrorsResponse(resolved=resolved)

    @unary_edge
    async def ListErrors(
        self, request: pb.ListErrorsRequest, context: Context
    ) -> pb.ListErrorsResponse:
        _check_filters((request.org_id, "org_id"))
        rows, next_key = await self._store.page(
            ErrorFilter(
                org_id=request.org_id,
                kind=_kind_name(request.kind),
                state=_state_name(request.state),
                since=_time(request, "since"),
                until=_time(request, "until"),
            ),
            limit=paging.page_size(request.limit),
            after=paging.decode(request.page_token),
        )
        return pb.ListErrorsResponse(
            errors=[error_message(row) for row in rows],
            next_page_token=paging.encode(next_key) if next_key else "",
        )

    @unary_edge
    async def GetError(
        self, request: pb.GetErrorRequest, context: Context
    ) -> pb.GetErrorResponse:
        error_id = _error_id(request.error_id)
        found = await self._store.get(error_id) if error_id else None
        if found is None:
            raise NotFound(f"no error {request.error_id}")
        error, attempts = found
        return pb.GetErrorResponse(
            error=error_message(error),
            attempts=[attempt_message(attempt) for attempt in attempts],
        )

    @unary_edge
    async def RetryErrors(
        self, request: pb.RetryErrorsRequest, context: Context
    ) -> pb.RetryErrorsResponse:
        if len(request.error_ids) > MAX_RETRY_IDS:
            raise InvalidValue(f"at most {MAX_RETRY_IDS} errors at once")
        if not request.actor:
            raise InvalidValue("a retry names the admin who asks for it")
        known = {text: _error_id(text) for text in request.error_ids}
        ids = list(dict.fromkeys(uid for uid in known.values() if uid is not None))
        outcomes = await self._retries.retry(
            ids, actor=request.actor, request_id=request.request_id
        )
        by_id = {outcome.error_id: outcome for outcome in outcomes}
        results = []
        # Every id sent is answered, in order, a repeated one as often as sent.
        for text in request.error_ids:
            uid = known[text]
            outcome = by_id.get(uid) if uid is not None else None
            result = pb.RetryResult(error_id=text, found=False)
            if outcome is not None and outcome.error is not None:
                result.found = True
                result.error.CopyFrom(error_message(outcome.error))
                if outcome.attempt is not None:
                    result.attempt.CopyFrom(attempt_message(outcome.attempt))
            results.append(result)
        return pb.RetryErrorsResponse(results=results)

    @unary_edge
    async def ListAdminRetries(
        self, request: pb.ListAdminRetriesRequest, context: Context
    ) -> pb.ListAdminRetriesResponse:
        _check_filters((request.org_id, "org_id"))
        rows = await self._store.admin_retries(
            org_id=request.org_id,
            limit=paging.page_size(request.limit),
            before=_time(request, "before"),
        )
        return pb.ListAdminRetriesResponse(
            retries=[
                pb.AdminRetry(
                    error_id=str(error.error_id),
                    org_id=error.org_id,
                    kind=_kind_value(error.kind),
                    subject_type=error.subject_type,
                    subject_id=error.subject_id,
                    attempt=attempt_message(attempt),
                )
                for attempt, error in rows
            ]
        )

    @unary_edge
    async def RecordClientErrors(
        self, request: pb.RecordClientErrorsRequest, context: Context
    ) -> pb.RecordClientErrorsResponse:
        now = datetime.now(UTC)
        rows = [client_error_row(error, now=now) for error in request.errors]
        recorded = await self._client_errors.record(rows)
        return pb.RecordClientErrorsResponse(recorded=recorded)

    @unary_edge
    async def ListClientErrors(
        self, request: pb.ListClientErrorsRequest, context: Context
    ) -> pb.ListClientErrorsResponse:
        _check_filters((request.org_id, "org_id"), (request.scim_type, "scim_type"))
        rows, next_key = await self._client_errors.page(
            ClientErrorFilter(
                org_id=request.org_id,
                status=request.status,
                scim_type=request.scim_type,
                since=_time(request, "since"),
                until=_time(request, "until"),
            ),
            limit=paging.page_size(request.limit),
            after=paging.decode(request.page_token),
        )
        return pb.ListClientErrorsResponse(
            errors=[_client_error_message(row) for row in rows],
            next_page_token=paging.encode(next_key) if next_key else "",
        )
