"""`scimctl org|token|credential|audit`: the admin API from a terminal.

    scimctl org create NAME | org list
    scimctl token create --org ORG [--name N] [--expires-in 90d]  prints the token
    scimctl token list --org ORG
    scimctl token rotate --org ORG --grace 24h [--token ID]       prints the new one
    scimctl token revoke --org ORG --token ID
    scimctl token expire --org ORG --token ID --in 1h | --at TIME | --never
    scimctl credential create --name N | list | revoke --id ID | generate
    scimctl audit [--org ORG] [--action ACTION] [--limit N]

Lists print a table, or the gateway's JSON with `--json`. Durations are a
number with s, m, h, d or w (`90s`, `24h`, `30d`); a bare number is seconds.
`cli.py` sends the requests; this module says which, and renders the answers.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from services.common.bearer_tokens import CredentialKind, mint

COMMANDS = frozenset({"org", "token", "credential", "audit"})

_DURATION = re.compile(r"(\d+)([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class AdminCall:
    """The admin API request a command makes; None for a local command."""

    method: str
    path: str
    expect: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """What a command prints: `out` on stdout, `note` (if any) on stderr."""

    out: str
    note: str = ""


def duration(text: str) -> int:
    """Return the seconds in `24h`, `30m`, `90s`, `7d`, `2w` or a bare number."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 90s, 30m, 24h or 7d"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def add_admin_commands(commands: Any) -> None:
    """Add `org`, `token`, `credential` and `audit` to scimctl's commands."""
    org = commands.add_parser("org", help="manage orgs").add_subparsers(
        dest="action", required=True
    )
    create_org = org.add_parser("create", help="create an org")
    create_org.add_argument("name", help="1-64 characters of a-z 0-9 . _ -")
    _json_option(create_org)
    _json_option(org.add_parser("list", help="list orgs and their live tokens"))

    token = commands.add_parser("token", help="manage org-scoped SCIM tokens")
    tokens = token.add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create", help="issue a SCIM token and print it")
    create.add_argument("--org", required=True, help="org name; created if new")
    create.add_argument("--name", "--description", dest="name", default="")
    create.add_argument("--expires-in", type=duration, help="lifetime, e.g. 90d")
    listing = tokens.add_parser("list", help="list an org's tokens")
    listing.add_argument("--org", required=True)
    _json_option(listing)
    rotate = tokens.add_parser(
        "rotate", help="issue a new token, print it, let the old one expire"
    )
    rotate.add_argument("--org", required=True)
    rotate.add_argument(
        "--grace", type=duration, required=True, help="how long the old one works"
    )
    rotate.add_argument("--token", default="", help="the token to retire")
    rotate.add_argument("--name", default="", help="the new token's name")
    revoke = tokens.add_parser("revoke", help="revoke a token for good")
    revoke.add_argument("--org", required=True)
    revoke.add_argument("--token", required=True, help="the token's id")
    _json_option(revoke)
    expire = tokens.add_parser("expire", help="set when a token stops working")
    expire.add_argument("--org", required=True)
    expire.add_argument("--token", required=True, help="the token's id")
    when = expire.add_mutually_exclusive_group(required=True)
    when.add_argument("--in", dest="expires_in", type=duration)
    when.add_argument("--at", dest="expires_at", help="RFC 3339, e.g. 2027-01-01Z")
    when.add_argument("--never", action="store_true")
    _json_option(expire)

    _add_credential_commands(commands)
    audit = commands.add_parser("audit", help="read the admin audit log")
    audit.add_argument("--org", default="")
    audit.add_argument("--action", default="", help="e.g. REVOKE_TOKEN")
    audit.add_argument("--limit", type=int, default=50)
    _json_option(audit)


def _add_credential_commands(commands: Any) -> None:
    credential = commands.add_parser("credential", help="manage admin credentials")
    actions = credential.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue an admin credential, print it")
    create.add_argument("--name", required=True, help="who or what holds it")
    _json_option(actions.add_parser("list", help="list admin credentials"))
    revoke = actions.add_parser("revoke", help="revoke an issued admin credential")
    revoke.add_argument("--id", required=True, help="the credential's id")
    _json_option(revoke)
    actions.add_parser(
        "generate", help="print a new credential for RIVANE_ADMIN_TOKEN (offline)"
    )


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the JSON answer")


def local_output(args: argparse.Namespace) -> Output | None:
    """Return the output of a command that needs no gateway, else None."""
    if args.command == "credential" and args.action == "generate":
        return Output(mint(CredentialKind.ADMIN))
    return None


def admin_call(args: argparse.Namespace) -> AdminCall:
    """Return the request the parsed command stands for."""
    if args.command == "org":
        if args.action == "create":
            return AdminCall("POST", "/admin/orgs", 201, {"name": args.name})
        return AdminCall("GET", "/admin/orgs", 200)
    if args.command == "credential":
        if args.action == "create":
            return AdminCall("POST", "/admin/credentials", 201, {"name": args.name})
        if args.action == "revoke":
            path = f"/admin/credentials/{quote(args.id, safe='')}/revoke"
            return AdminCall("POST", path, 200)
        return AdminCall("GET", "/admin/credentials", 200)
    if args.command == "audit":
        query = {"limit": str(args.limit)}
        query.update(
            {k: getattr(args, k) for k in ("org", "action") if getattr(args, k)}
        )
        return AdminCall("GET", f"/admin/audit?{urlencode(query)}", 200)
    return _token_call(args)


def _token_call(args: argparse.Namespace) -> AdminCall:
    tokens = f"/admin/orgs/{quote(args.org, safe='')}/tokens"
    if args.action == "create":
        body: dict[str, Any] = {"name": args.name}
        if args.expires_in is not None:
            body["expires_in_seconds"] = args.expires_in
        return AdminCall("POST", tokens, 201, body)
    if args.action == "rotate":
        body = {"grace_seconds": args.grace, "token_id": args.token, "name": args.name}
        return AdminCall("POST", f"{tokens}/rotate", 201, body)
    token = f"{tokens}/{quote(args.token, safe='')}" if "token" in args else ""
    if args.action == "revoke":
        return AdminCall("POST", f"{token}/revoke", 200)
    if args.action == "expire":
        if args.never:
            body = {"expires_at": None}
        elif args.expires_in is not None:
            body = {"expires_in_seconds": args.expires_in}
        else:
            body = {"expires_at": args.expires_at}
        return AdminCall("PATCH", token, 200, body)
    return AdminCall("GET", tokens, 200)


def describe(args: argparse.Namespace, document: Any) -> Output:
    """Render the gateway's answer to a command for a terminal."""
    if not isinstance(document, dict):
        raise ValueError("the gateway answered without a JSON object")
    if args.command in ("token", "credential") and args.action in ("create", "rotate"):
        secret = document.get("token")
        if not isinstance(secret, str) or not secret:
            raise ValueError("the gateway answered without a token")
        return Output(secret, note=_rotation_note(document))
    if getattr(args, "json", False):
        return Output(json.dumps(document, indent=2))
    if args.command == "org":
        orgs = document.get("orgs", [document])
        return Output(_table(orgs, ORG_COLUMNS))
    if args.command == "credential":
        credentials = document.get("credentials", [document])
        return Output(_table(credentials, CREDENTIAL_COLUMNS))
    if args.command == "audit":
        return Output(_table(document.get("entries", []), AUDIT_COLUMNS))
    return Output(_table(document.get("tokens", [document]), TOKEN_COLUMNS))


def _rotation_note(document: dict[str, Any]) -> str:
    retired = document.get("retired")
    if not isinstance(retired, dict):
        return ""
    return (
        f"token {retired.get('token_id')} ({retired.get('prefix')}...) keeps "
        f"working until {retired.get('expires_at')}; revoke it once the "
        "identity provider uses the new one"
    )


ORG_COLUMNS = (
    ("NAME", "name"),
    ("ID", "org_id"),
    ("CREATED", "created_at"),
    ("LIVE TOKENS", "live_tokens"),
)
TOKEN_COLUMNS = (
    ("ID", "token_id"),
    ("NAME", "name"),
    ("PREFIX", "prefix"),
    ("STATE", "state"),
    ("CREATED", "created_at"),
    ("LAST USED", "last_used_at"),
    ("EXPIRES", "expires_at"),
    ("REVOKED", "revoked_at"),
)
CREDENTIAL_COLUMNS = (
    ("ID", "credential_id"),
    ("NAME", "name"),
    ("KIND", "kind"),
    ("PREFIX", "prefix"),
    ("CREATED", "created_at"),
    ("LAST USED", "last_used_at"),
    ("REVOKED", "revoked_at"),
)
AUDIT_COLUMNS = (
    ("AT", "occurred_at"),
    ("ACTION", "action"),
    ("ORG", "org"),
    ("TARGET", "target"),
    ("BY", "actor"),
    ("REQUEST", "request_id"),
)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return str(value.get("name") or value.get("credential_id") or "-")
    text = str(value)
    # Times to the second: "2026-12-03T16:57:54.123456Z" -> "2026-12-03 16:57:54Z".
    if len(text) >= 20 and text[10] == "T" and text.endswith("Z"):
        return f"{text[:10]} {text[11:19]}Z"
    return text


def _table(rows: list[Any], columns: tuple[tuple[str, str], ...]) -> str:
    cells = [[title for title, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in cells
    )
