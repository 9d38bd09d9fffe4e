"""Responses in the SCIM media type (RFC 7644 §3.1)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

SCIM_MEDIA_TYPE = "application/scim+json"


class ScimResponse(JSONResponse):
    """A JSON response typed `application/scim+json`."""

    media_type = SCIM_MEDIA_TYPE
