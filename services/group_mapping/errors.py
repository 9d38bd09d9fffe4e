"""Errors of the group-mapping service besides the SCIM ones.

SCIM errors (`services.common.errors`) describe what is wrong with a request;
the ones here describe what kept the service from answering. The gRPC edge
(`server.py`) turns both into a status, once.
"""

from __future__ import annotations

from services.common.errors import ScimError


class IdentityUnavailable(ScimError):
    """The identity service did not answer whether members exist; retry later."""

    status = 503
