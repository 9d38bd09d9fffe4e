"""`scimctl schema`: an org's own User extension schemas.

    scimctl schema add FILE --org ORG [--required]   register or change one
    scimctl schema list --org ORG                    the org's schemas
    scimctl schema delete URN --org ORG              remove one

FILE holds an RFC 7643 §7 Schema document. The commands call the admin API
(`/admin/orgs/{org}/schemas`); `cli.py` sends the requests.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote


class SchemaFileError(Exception):
    """The schema file cannot be read as one JSON object."""


@dataclass(frozen=True, slots=True)
class SchemaCall:
    """The admin API request a schema command makes."""

    method: str
    path: str
    expect: tuple[int, ...]
    body: dict[str, Any] | None = None


def add_schema_commands(commands: Any) -> None:
    """Add `schema add|list|delete` to scimctl's commands."""
    schema = commands.add_parser("schema", help="manage an org's extension schemas")
    actions = schema.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", help="register a Schema document, or change it")
    add.add_argument("file", help="a JSON file holding an RFC 7643 §7 Schema")
    add.add_argument("--org", required=True, help="org name, as in token create")
    add.add_argument(
        "--required",
        action="store_true",
        help="every User of the org must carry the extension",
    )

    listing = actions.add_parser("list", help="show the org's schemas")
    listing.add_argument("--org", required=True, help="org name, as in token create")

    delete = actions.add_parser("delete", help="remove a schema no user holds")
    delete.add_argument("urn", help="the schema's URN")
    delete.add_argument("--org", required=True, help="org name, as in token create")


def schema_call(args: argparse.Namespace) -> SchemaCall:
    """Return the request the parsed command stands for."""
    path = f"/admin/orgs/{quote(args.org, safe='')}/schemas"
    if args.action == "add":
        query = "?required=true" if args.required else ""
        body = read_schema_file(Path(args.file))
        return SchemaCall("POST", path + query, expect=(200, 201), body=body)
    if args.action == "delete":
        return SchemaCall("DELETE", f"{path}/{quote(args.urn, safe=':')}", (204,))
    return SchemaCall("GET", path, expect=(200,))


def read_schema_file(path: Path) -> dict[str, Any]:
    """Return the JSON object in a schema file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaFileError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SchemaFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SchemaFileError(f"{path} must hold one JSON object")
    return document


def describe(args: argparse.Namespace, document: Any) -> str:
    """Render the gateway's answer to a schema command for a terminal."""
    if args.action == "delete":
        return f"removed {args.urn}"
    if args.action == "add":
        return _line(document)
    schemas = document.get("schemas", []) if isinstance(document, dict) else []
    return "\n".join(_line(item) for item in schemas) or "(no schemas of the org's own)"


def _line(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    attributes = schema.get("schema", {}).get("attributes", [])
    required = ", required" if schema.get("required") else ""
    return (
        f"{schema.get('urn')} version {schema.get('version')}{required}: "
        f"{len(attributes)} attributes"
    )
