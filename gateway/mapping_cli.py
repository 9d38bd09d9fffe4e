"""`scimctl mapping`: which Rivane roles the SCIM groups of an org grant.

    scimctl mapping set --org ORG --group GROUP --role ROLE
    scimctl mapping list --org ORG                 mappings, then unmapped groups
    scimctl mapping delete --org ORG --group GROUP [--role ROLE]

GROUP is a group's id or its displayName. The commands call the admin API
(`/admin/orgs/{org}/role-mappings`); `cli.py` sends the requests.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode


@dataclass(frozen=True, slots=True)
class MappingCall:
    """The admin API request a mapping command makes."""

    method: str
    path: str
    expect: int
    body: dict[str, Any] | None = field(default=None)


def add_mapping_commands(commands: Any) -> None:
    """Add `mapping set|list|delete` to scimctl's commands."""
    mapping = commands.add_parser("mapping", help="map SCIM groups to Rivane roles")
    actions = mapping.add_subparsers(dest="action", required=True)

    grant = actions.add_parser("set", help="grant a role to a group's members")
    _org_and_group(grant)
    grant.add_argument("--role", required=True, help="the Rivane role id")

    listing = actions.add_parser("list", help="show mappings and unmapped groups")
    listing.add_argument("--org", required=True, help="org name, as in token create")

    revoke = actions.add_parser("delete", help="stop granting a role through a group")
    _org_and_group(revoke)
    revoke.add_argument("--role", default="", help="the role; all of them if left out")


def mapping_call(args: argparse.Namespace) -> MappingCall:
    """Return the request the parsed command stands for."""
    path = f"/admin/orgs/{quote(args.org, safe='')}/role-mappings"
    if args.action == "set":
        body = {"group": args.group, "role": args.role}
        return MappingCall("POST", path, expect=201, body=body)
    if args.action == "delete":
        query = {"group": args.group, **({"role": args.role} if args.role else {})}
        return MappingCall("DELETE", f"{path}?{urlencode(query)}", expect=200)
    return MappingCall("GET", path, expect=200)


def describe(args: argparse.Namespace, document: Any) -> str:
    """Render the gateway's answer to a mapping command for a terminal."""
    if not isinstance(document, dict):
        return ""
    if args.action == "set":
        return _mapping_line(document)
    if args.action == "delete":
        count = int(document.get("deleted", 0))
        return f"removed {count} mapping{'' if count == 1 else 's'}"

    lines = ["mapped:"]
    lines += [f"  {_mapping_line(item)}" for item in document.get("mappings", [])]
    if len(lines) == 1:
        lines.append("  (none)")
    lines.append("unmapped:")
    unmapped = document.get("unmapped_groups", [])
    lines += [
        f"  {group.get('group')} ({group.get('group_id')}): "
        f"{group.get('members', 0)} members, no role"
        for group in unmapped
    ]
    if not unmapped:
        lines.append("  (none)")
    return "\n".join(lines)


def _mapping_line(mapping: dict[str, Any]) -> str:
    return (
        f"{mapping.get('group')} ({mapping.get('group_id')}) -> {mapping.get('role')}"
    )


def _org_and_group(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, help="org name, as in token create")
    parser.add_argument("--group", required=True, help="the group's id or displayName")
