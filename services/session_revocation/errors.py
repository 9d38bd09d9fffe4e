"""Errors of the session revocation service, one gRPC status code each.

The service raises these; its gRPC edge (`server.py`) turns them into a
status and a message, once. Nothing else crosses the edge.
"""

from __future__ import annotations

from typing import ClassVar

import grpc


class RevocationError(Exception):
    """A request the service cannot serve; the message is safe to show."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL


class InvalidRequest(RevocationError):
    """A field of the request is missing or malformed."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class UserNotActive(RevocationError):
    """Tokens are issued only for an ACTIVE user of the org."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class IdentityUnavailable(RevocationError):
    """The identity service did not answer in time; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class RolesUnavailable(RevocationError):
    """The group-mapping service did not say a user's roles; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


class StoreUnavailable(RevocationError):
    """Redis or PostgreSQL did not answer; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE
