"""An in-memory error tracker, and fake identity services that know org acme."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from gateway_fakes import ORG_ID, FakeIdentity, _abort
from google.protobuf.timestamp_pb2 import Timestamp
from identity_admin_fakes import BOOTSTRAP_ID, FakeIdentityAdmin

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from protos.rivane.error_tracker.v1 import error_tracker_pb2_grpc as pb_grpc
from protos.rivane.identity.v1 import admin_pb2, identity_pb2
from services.common.errors import NotFound
from services.common.settings import StackSettings
from services.common.telemetry import grpc_server_interceptors


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


class IdentityKnowingAcme(FakeIdentity):
    """The fake identity service, knowing one org by name: acme."""

    async def GetOrg(self, request: Any, context: Any) -> Any:
        await self._enter("GetOrg", request, context)
        if request.name != "acme":
            await _abort(context, NotFound(f"org {request.name!r} not found"))
        return identity_pb2.Org(org_id=ORG_ID, name="acme")


class AdminListingAcme(FakeIdentityAdmin):
    """The fake admin service, listing org acme."""

    async def ListOrgs(self, request: Any, context: Any) -> Any:
        self._enter("ListOrgs", request)
        return admin_pb2.ListOrgsResponse(
            orgs=[admin_pb2.OrgInfo(org_id=ORG_ID, name="acme")]
        )


def stamp_at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


class AdminAuditOfAcme(AdminListingAcme):
    """The fake admin service, with the admin audit rows a test sets."""

    audit: tuple[admin_pb2.AdminAuditEntry, ...] = ()

    async def ListAdminAudit(self, request: Any, context: Any) -> Any:
        self._enter("ListAdminAudit", request)
        entries = list(self.audit)[: request.limit]
        return admin_pb2.ListAdminAuditResponse(entries=entries)

    async def ListAdminCredentials(self, request: Any, context: Any) -> Any:
        self._enter("ListAdminCredentials", request)
        return admin_pb2.ListAdminCredentialsResponse(
            credentials=[
                admin_pb2.AdminCredentialInfo(
                    credential_id=BOOTSTRAP_ID, name="bootstrap", kind="BOOTSTRAP"
                )
            ]
        )


def unmapped_group_error(**fields: Any) -> pb.ErrorRecord:
    """Return an OPEN UNMAPPED_GROUP error of org acme."""
    values: dict[str, Any] = {
        "error_id": str(uuid.uuid4()),
        "org_id": ORG_ID,
        "kind": pb.ERROR_KIND_UNMAPPED_GROUP,
        "reason_code": "NO_ROLE_MAPPING",
        "reason": "group engineers maps to no role",
        "subject_type": "Group",
        "subject_id": "g-1",
        "operation": pb.Operation(
            method="/rivane.group_mapping.v1.GroupMappingService/GetUserRoles",
            request_json='{"orgId": "acme"}',
            summary="roles of engineers",
        ),
        "state": pb.ERROR_STATE_OPEN,
        "first_seen": now(),
        "last_seen": now(),
        "occurrences": 1,
    }
    values.update(fields)
    return pb.ErrorRecord(**values)


@dataclass
class FakeErrorTracker(pb_grpc.ErrorTrackerServiceServicer):
    """In-memory ErrorTrackerService that records what it was asked."""

    errors: dict[str, pb.ErrorRecord] = field(default_factory=dict)
    attempts: dict[str, list[pb.ErrorAttempt]] = field(default_factory=dict)
    client_errors: list[pb.ClientError] = field(default_factory=list)
    reports: list[pb.ReportErrorRequest] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    # When set, RetryErrors fails with this status, as an absent tracker does.
    retry_status: grpc.StatusCode | None = None

    def add(self, record: pb.ErrorRecord) -> pb.ErrorRecord:
        self.errors[record.error_id] = record
        return record

    async def ListErrors(self, request: Any, context: Any) -> Any:
        self.requests["ListErrors"] = request
        found = [
            record
            for record in self.errors.values()
            if (not request.kind or record.kind == request.kind)
            and (not request.state or record.state == request.state)
            and (not request.org_id or record.org_id == request.org_id)
        ]
        return pb.ListErrorsResponse(errors=found, next_page_token="")

    async def GetError(self, request: Any, context: Any) -> Any:
        self.requests["GetError"] = request
        record = self.errors.get(request.error_id)
        if record is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such error")
        return pb.GetErrorResponse(
            error=record, attempts=self.attempts.get(request.error_id, [])
        )

    async def RetryErrors(self, request: Any, context: Any) -> Any:
        self.requests["RetryErrors"] = request
        if self.retry_status is not None:
            await context.abort(self.retry_status, "the tracker is away")
        results = []
        for error_id in request.error_ids:
            record = self.errors.get(error_id)
            if record is None:
                results.append(pb.RetryResult(error_id=error_id, found=False))
                continue
            record.state = pb.ERROR_STATE_RESOLVED
            record.attempts += 1
            record.last_retried_by = request.actor
            attempt = pb.ErrorAttempt(
                number=record.attempts,
                trigger="admin",
                actor=request.actor,
                started_at=now(),
                finished_at=now(),
                outcome=pb.ERROR_STATE_RESOLVED,
                status_code="OK",
                request_id=request.request_id,
            )
            self.attempts.setdefault(error_id, []).append(attempt)
            results.append(
                pb.RetryResult(
                    error_id=error_id, found=True, error=record, attempt=attempt
                )
            )
        return pb.RetryErrorsResponse(results=results)

    async def ListAdminRetries(self, request: Any, context: Any) -> Any:
        self.requests["ListAdminRetries"] = request
        found = [
            pb.AdminRetry(
                error_id=error_id,
                org_id=self.errors[error_id].org_id,
                kind=self.errors[error_id].kind,
                subject_type=self.errors[error_id].subject_type,
                subject_id=self.errors[error_id].subject_id,
                attempt=attempt,
            )
            for error_id, attempts in self.attempts.items()
            for attempt in attempts
            if attempt.trigger == "admin"
        ]
        found.sort(key=lambda item: item.attempt.finished_at.ToDatetime(), reverse=True)
        return pb.ListAdminRetriesResponse(retries=found[: request.limit])

    async def ReportError(self, request: Any, context: Any) -> Any:
        self.reports.append(request)
        return pb.ReportErrorResponse(error_id=str(uuid.uuid4()), created=True)

    async def RecordClientErrors(self, request: Any, context: Any) -> Any:
        self.client_errors.extend(request.errors)
        return pb.RecordClientErrorsResponse(recorded=len(request.errors))

    async def ListClientErrors(self, request: Any, context: Any) -> Any:
        self.requests["ListClientErrors"] = request
        found = [
            item
            for item in self.client_errors
            if not request.status or item.status == request.status
        ]
        return pb.ListClientErrorsResponse(errors=found)


@asynccontextmanager
async def serving(tracker: FakeErrorTracker) -> AsyncIterator[str]:
    """Serve `tracker` on a free port; yield its address."""
    server = grpc.aio.server(interceptors=grpc_server_interceptors())
    pb_grpc.add_ErrorTrackerServiceServicer_to_server(tracker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


def settings_with_tracker(
    settings: StackSettings, tracker_addr: str, **changes: Any
) -> StackSettings:
    """Return the unit tests' settings with the fake tracker's address."""
    return settings.model_copy(update={"error_tracker_addr": tracker_addr, **changes})
