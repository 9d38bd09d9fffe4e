"""The error a failed Bulk operation leaves for admins: what to call to replay it.

An operation that failed on our side (5xx) is reported to the error tracker
as BULK_OPERATION_FAILED with the gRPC call the gateway made for it: its full
method name and the request in proto3 JSON, built as the clients build it.
A User POST that ran in a batch is replayed on its own, as `CreateUser`.
"""

from __future__ import annotations

import json
from typing import Any, cast

import grpc
from google.protobuf.message import Message

from gateway.bulk_plan import Operation
from gateway.group_mapping import group_context
from protos.rivane.error_tracker.v1 import error_tracker_pb2 as tracker_pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2 as groups_pb
from protos.rivane.identity.v1 import identity_pb2 as identity_pb
from services.common.error_reports import ErrorReporter
from services.common.error_reports import operation as replay_operation
from services.common.errors import ScimError

_IDENTITY = "/rivane.identity.v1.IdentityService/"
_GROUPS = "/rivane.group_mapping.v1.GroupMappingService/"
# Never kept in the error log, which admins read: the replay goes without it.
_SECRET_ATTRIBUTES = frozenset({"password"})


def replay_call(
    operation: Operation, *, org_id: str, context: Any
) -> tuple[str, Message]:
    """Return the full gRPC method and the request that run `operation`."""
    data = _without_secrets(operation.data or {})
    target, version = operation.resource_id, operation.expected_version
    if operation.endpoint == "Users":
        user: dict[str, tuple[str, Message]] = {
            "POST": (
                "CreateUser",
                identity_pb.CreateUserRequest(
                    org_id=org_id, resource_json=json.dumps(data), context=context
                ),
            ),
            "PUT": (
                "ReplaceUser",
                identity_pb.ReplaceUserRequest(
                    org_id=org_id,
                    user_id=target,
                    resource_json=json.dumps(data),
                    context=context,
                    expected_version=version,
                ),
            ),
            "PATCH": (
                "PatchUser",
                identity_pb.PatchUserRequest(
                    org_id=org_id,
                    user_id=target,
                    patch_json=json.dumps(data),
                    context=context,
                    expected_version=version,
                ),
            ),
            "DELETE": (
                "DeleteUser",
                identity_pb.DeleteUserRequest(
                    org_id=org_id,
                    user_id=target,
                    context=context,
                    expected_version=version,
                ),
            ),
        }
        name, request = user[operation.method]
        return _IDENTITY + name, request

    scim = group_context(context, source="SCIM")
    group: dict[str, tuple[str, Message]] = {
        "POST": (
            "CreateGroup",
            groups_pb.CreateGroupRequest(
                org_id=org_id, resource_json=json.dumps(data), context=scim
            ),
        ),
        "PUT": (
            "ReplaceGroup",
            groups_pb.ReplaceGroupRequest(
                org_id=org_id,
                group_id=target,
                resource_json=json.dumps(data),
                context=scim,
                expected_version=version,
            ),
        ),
        "PATCH": (
            "PatchGroup",
            groups_pb.PatchGroupRequest(
                org_id=org_id,
                group_id=target,
                patch_json=json.dumps(data),
                context=scim,
                expected_version=version,
            ),
        ),
        "DELETE": (
            "DeleteGroup",
            groups_pb.DeleteGroupRequest(
                org_id=org_id,
                group_id=target,
                context=scim,
                expected_version=version,
            ),
        ),
    }
    name, request = group[operation.method]
    return _GROUPS + name, request


def report_bulk_failure(
    reporter: ErrorReporter,
    operation: Operation,
    error: Exception,
    *,
    org_id: str,
    context: Any,
) -> None:
    """Report an operation that failed on our side as BULK_OPERATION_FAILED."""
    method, request = replay_call(operation, org_id=org_id, context=context)
    label = f"bulkId={operation.bulk_id}" if operation.bulk_id else "no bulkId"
    path = f"/{operation.endpoint}" + (
        f"/{operation.resource_id}" if operation.resource_id else ""
    )
    request_id = str(context.request_id)
    reporter.report(
        org_id=org_id,
        kind=tracker_pb.ERROR_KIND_BULK_OPERATION_FAILED,
        reason_code=reason_code(error),
        reason=_reason(error),
        subject_type=operation.endpoint.removesuffix("s"),
        subject_id=operation.resource_id,
        # One error per operation of one request, however often it is seen.
        dedup_key=f"{request_id}:{operation.report_key or operation.index}",
        operation=replay_operation(
            method,
            request,
            summary=f"{operation.method} {path} (bulk operation "
            f"{operation.index}, {label})",
        ),
        request_id=request_id,
    )


def reason_code(error: Exception) -> str:
    """Return the gRPC status name behind a failure, else what the client saw."""
    cause = error.__cause__
    if isinstance(cause, grpc.aio.AioRpcError):
        return str(cause.code().name)
    if isinstance(error, ScimError):
        return f"HTTP_{error.status}"
    return "INTERNAL"


def _reason(error: Exception) -> str:
    if isinstance(error, ScimError):
        return error.detail
    # Anything else is ours: its text may hold data, so only its class is kept.
    return f"failed on our side ({type(error).__name__})"


def _without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Return `data` without a secret anywhere: a resource's or a PatchOp's."""
    return cast(dict[str, Any], _strip_secrets(data))


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_secrets(item)
            for key, item in value.items()
            if not _names_secret(key)
        }
    if isinstance(value, list):
        # A PatchOp operation whose path names a secret goes whole: its value
        # is the secret (RFC 7644 §3.5.2).
        return [
            _strip_secrets(item)
            for item in value
            if not (isinstance(item, dict) and _names_secret(item.get("path")))
        ]
    return value


def _names_secret(name: Any) -> bool:
    """Tell whether an attribute name or PATCH path names a secret attribute.

    RFC 7644 §3.10: the name may carry its schema URN,
    `urn:ietf:params:scim:schemas:core:2.0:User:password`.
    """
    if not isinstance(name, str):
        return False
    attribute = name.partition("[")[0].rsplit(":", 1)[-1].partition(".")[0]
    return attribute.strip().lower() in _SECRET_ATTRIBUTES
