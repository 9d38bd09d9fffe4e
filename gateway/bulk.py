"""The /Bulk endpoint (RFC 7644 §3.7): many operations in one request.

The body has a size limit of its own, `bulk_max_payload_bytes`, and at most
`bulk_max_operations` operations; both are announced in
/ServiceProviderConfig, and a request over either is answered 413 before
anything runs (§3.7.4). The body is read with the rules of every other body:
JSON in UTF-8, shallow, no text PostgreSQL cannot store.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway import urns
from gateway.auth import ScimCaller
from gateway.body import check_content_type, parse_object, read_body
from gateway.bulk_plan import parse_bulk_request
from gateway.bulk_run import BulkRun, Result
from gateway.context import AuditContext, ScimBaseUrl
from gateway.errors import error_body
from gateway.group_mapping import GroupMapping
from gateway.identity import Identity
from gateway.responses import ScimResponse
from services.common.settings import StackSettings

router = APIRouter(tags=["Bulk"])


@router.post("/Bulk", response_class=ScimResponse)
async def bulk(
    request: Request,
    caller: ScimCaller,
    identity: Identity,
    groups: GroupMapping,
    context: AuditContext,
    base_url: ScimBaseUrl,
) -> ScimResponse:
    """Run the operations of a BulkRequest and answer each (RFC 7644 §3.7).

    POST, PUT, PATCH and DELETE of Users and Groups; a POST's `bulkId` may be
    referenced as `"bulkId:<id>"` by the operations after or before it. Each
    operation succeeds or fails on its own; `failOnErrors` stops the run, and
    the answer then lists the operations that ran.
    """
    settings: StackSettings = request.app.state.settings
    check_content_type(request.headers.get("content-type"))
    body = parse_object(await read_body(request, limit=settings.bulk_max_payload_bytes))
    plan = parse_bulk_request(body, max_operations=settings.bulk_max_operations)
    del body  # the operations hold what is still needed

    results = await BulkRun(
        plan,
        org_id=caller.org_id,
        context=context,
        identity=identity,
        groups=groups,
        base_url=base_url,
        reporter=request.app.state.error_reporter,
    ).run()
    _note_client_errors(request, results)
    return ScimResponse(
        {
            "schemas": [urns.BULK_RESPONSE],
            "Operations": [_operation_response(result) for result in results],
        }
    )


def _note_client_errors(request: Request, results: list[Result]) -> None:
    """Keep the operations refused to the client in the client-error stream.

    The IdP sees each one in the BulkResponse as it would see the answer to
    the same request made alone, so admins see them as they see those.
    """
    stream = getattr(request.app.state, "client_errors", None)
    if stream is None:
        return
    for result in results:
        error = result.error
        if error is None:
            continue
        label = f", bulkId {result.bulk_id}" if result.bulk_id is not None else ""
        stream.note_answer(
            request,
            status=error.status,
            scim_type=error.scim_type,
            detail=f"operation {result.index} ({result.method}{label}): {error.detail}",
        )


def _operation_response(result: Result) -> dict[str, Any]:
    """Render one operation's outcome (RFC 7644 §3.7.3)."""
    answer: dict[str, Any] = {}
    if result.method:
        answer["method"] = result.method
    if result.bulk_id is not None:
        answer["bulkId"] = result.bulk_id
    if result.version is not None:
        answer["version"] = result.version
    if result.location is not None:
        answer["location"] = result.location
    answer["status"] = str(result.status)
    error = result.error
    if error is not None:
        # §3.7.3: a failed operation carries its SCIM Error as `response`.
        answer["response"] = error_body(
            status=error.status, detail=error.detail, scim_type=error.scim_type
        )
    return answer
