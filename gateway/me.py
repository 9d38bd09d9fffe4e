"""The /Me alias (RFC 7644 §3.11), answered 501 Not Implemented.

/Me names the subject the bearer token authenticates. Our tokens
authenticate identity providers on behalf of an org, never an end user, so
there is no User for /Me to stand for.
"""

from __future__ import annotations

from fastapi import APIRouter

from gateway.auth import ScimCaller
from gateway.errors import NotImplementedOperation

router = APIRouter(tags=["Me"])

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_DETAIL = (
    "/Me is not implemented: this service provider authenticates identity "
    "providers, not end users, so no User is the subject of a token"
)


async def me(caller: ScimCaller) -> None:
    """Answer 501: a SCIM token authenticates an identity provider, not a user."""
    raise NotImplementedOperation(_DETAIL)


# One route per method and path, each with an operation id of its own.
for _path, _suffix in (("/Me", ""), ("/Me/{rest:path}", "_subpath")):
    for _method in _METHODS:
        router.add_api_route(
            _path, me, methods=[_method], operation_id=f"me_{_method.lower()}{_suffix}"
        )
