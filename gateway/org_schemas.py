"""Admin API for an org's own User extension schemas (RFC 7643 §7 documents).

    GET    /admin/orgs/{org}/schemas                  the org's schemas
    POST   /admin/orgs/{org}/schemas[?required=true]  a Schema document: 201 new,
                                                      200 changed, 409 in use
    GET    /admin/orgs/{org}/schemas/{urn}            one schema
    DELETE /admin/orgs/{org}/schemas/{urn}            204, or 409 while users
                                                      hold values in it

The enterprise extension is always on and is not listed. `required` says
whether every User of the org must carry the extension, as the org's
`/ResourceTypes/User` then tells its clients.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from gateway.admin import Admin, require_admin
from gateway.admin_json import admin_response, iso
from gateway.body import JsonObject
from gateway.context import request_id
from gateway.identity import Identity
from services.common.errors import NotFound

router = APIRouter(
    prefix="/admin/orgs/{org}/schemas",
    tags=["Admin"],
    dependencies=[Depends(require_admin)],
)


def schema_json(schema: Any) -> dict[str, Any]:
    """Render a registered schema of the admin contract."""
    return {
        "urn": schema.urn,
        "required": schema.required,
        "version": schema.version,
        "created_at": iso(schema, "created_at"),
        "updated_at": iso(schema, "updated_at"),
        "schema": json.loads(schema.schema_json),
    }


@router.get("")
async def list_org_schemas(org: str, identity: Identity) -> JSONResponse:
    """List the extension schemas the org registered, oldest first."""
    org_id = str((await identity.get_org(name=org)).org_id)
    schemas = await identity.list_schemas(org_id=org_id)
    return admin_response({"schemas": [schema_json(s) for s in schemas]})


@router.post("")
async def register_org_schema(
    org: str,
    body: JsonObject,
    request: Request,
    caller: Admin,
    identity: Identity,
    required: Annotated[bool, Query()] = False,
) -> JSONResponse:
    """Add a Schema document, or change the one with its `id`.

    Adding attributes is always allowed; removing or tightening one is a 409
    while stored users hold values it would break.
    """
    org_id = str((await identity.get_org(name=org)).org_id)
    reply = await identity.register_schema(
        org_id=org_id,
        document=body,
        required=required,
        request_id=request_id(request),
        credential_id=caller.credential_id,
    )
    status = 201 if reply.created else 200
    return admin_response(schema_json(reply.schema), status_code=status)


@router.get("/{urn}")
async def get_org_schema(org: str, urn: str, identity: Identity) -> JSONResponse:
    """Return one schema of the org by its URN, matched ignoring case."""
    org_id = str((await identity.get_org(name=org)).org_id)
    for schema in await identity.list_schemas(org_id=org_id):
        if schema.urn.lower() == urn.lower():
            return admin_response(schema_json(schema))
    raise NotFound(f"no schema {urn!r} in org {org!r}")


@router.delete("/{urn}", status_code=204, response_class=Response)
async def delete_org_schema(
    org: str, urn: str, request: Request, caller: Admin, identity: Identity
) -> Response:
    """Remove a schema; refused with 409 while a user holds values in it."""
    org_id = str((await identity.get_org(name=org)).org_id)
    await identity.delete_schema(
        org_id=org_id,
        urn=urn,
        request_id=request_id(request),
        credential_id=caller.credential_id,
    )
    return Response(status_code=204)
