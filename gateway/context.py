"""What the gateway knows about a request besides its body: ids, time, URLs."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.auth import ScimCaller
from protos.rivane.identity.v1 import identity_pb2
from services.common.settings import StackSettings

REQUEST_ID_HEADER = "X-Request-Id"
SCIM_PATH = "/scim/v2"

# A client's request id is echoed and logged, so only a plain token is kept.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_from(header: str | None) -> str:
    """Return the client's request id when it is a plain token, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return str(uuid.uuid4())


def request_id(request: Request) -> str:
    """Return the id the middleware gave this request."""
    return str(request.state.request_id)


def received_at(request: Request) -> datetime:
    """Return when the request reached the gateway."""
    value = request.state.received_at
    assert isinstance(value, datetime)
    return value


def audit_context(request: Request, caller: ScimCaller) -> Any:
    """Return the RequestContext a state change carries for the audit trail."""
    timestamp = Timestamp()
    timestamp.FromDatetime(received_at(request))
    return identity_pb2.RequestContext(
        request_id=request_id(request),
        token_id=caller.token_id,
        received_at=timestamp,
    )


def scim_base_url(request: Request) -> str:
    """Return the absolute SCIM base URL resources are located under."""
    settings: StackSettings = request.app.state.settings
    root = settings.public_base_url or str(request.base_url)
    return root.rstrip("/") + SCIM_PATH


AuditContext = Annotated[Any, Depends(audit_context)]
ScimBaseUrl = Annotated[str, Depends(scim_base_url)]
