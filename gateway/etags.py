"""Resource versions as weak entity tags (RFC 7644 §3.14)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Response

from services.common.errors import PreconditionFailed

_ETAG = re.compile(r'(?:W/)?"([0-9]{1,18})"')
_ANY_TAG = re.compile(r'(?:W/)?"([^"]*)"')
_VERSION = re.compile(r"[0-9]{1,18}")


def weak_etag(version: int) -> str:
    """Return the ETag of a resource version: `W/"<version>"`."""
    return f'W/"{version}"'


def parse_if_match(header: str | None) -> int:
    """Return the version an If-Match header expects; 0 when it names none."""
    if header is None or header.strip() in ("", "*"):
        return 0
    match = _ETAG.fullmatch(header.strip())
    # RFC 9110 §13.1.1: a tag that names no version of ours cannot match.
    # Versions start at 1, and 0 is what the services read as "no condition".
    if match is None or int(match.group(1)) < 1:
        raise PreconditionFailed('If-Match must name one version, as W/"<version>"')
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class NoneMatch:
    """The versions an If-None-Match header names, or any version for `*`."""

    any_version: bool = False
    versions: frozenset[int] = frozenset()

    def matches(self, version: int) -> bool:
        """Tell whether the client already holds `version` (weak comparison)."""
        return self.any_version or version in self.versions


def parse_if_none_match(header: str | None) -> NoneMatch:
    """Return what an If-None-Match header names (RFC 9110 §13.1.2)."""
    if header is None:
        return NoneMatch()
    if header.strip() == "*":
        return NoneMatch(any_version=True)
    # Weak comparison: W/"7" and "7" both name version 7; a tag that is not
    # one of our versions names nothing, so it never matches.
    tags = (match.group(1) for match in _ANY_TAG.finditer(header))
    versions = frozenset(int(tag) for tag in tags if _VERSION.fullmatch(tag))
    return NoneMatch(versions=versions)


def not_modified(version: int) -> Response:
    """Answer 304 to a client that holds `version`: its ETag and no body."""
    return Response(status_code=304, headers={"ETag": weak_etag(version)})


def expected_version(
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> int:
    """Read the version a write expects from If-Match."""
    return parse_if_match(if_match)


def held_versions(
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> NoneMatch:
    """Read the versions a reader already holds from If-None-Match."""
    return parse_if_none_match(if_none_match)


ExpectedVersion = Annotated[int, Depends(expected_version)]
HeldVersions = Annotated[NoneMatch, Depends(held_versions)]
