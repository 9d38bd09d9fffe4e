"""`scimctl errors`: the provisioning error log from a terminal.

    scimctl errors list [--org ORG] [--kind K] [--state S] [--since T] [--until T]
    scimctl errors show ID                       every field and the history
    scimctl errors retry ID [ID ...]             replay them now
    scimctl errors retry --all-open [--org ORG] [--kind K]

Kinds and states are the admin API's words (`unmapped_group`, `open`); times
are RFC 3339. `retry` exits non-zero when an error is unknown or not resolved
by its retry. The commands call `/admin/errors`; `cli.py` sends the requests.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from gateway.admin_cli import _cell, _table

MAX_RETRY_IDS = 500

ERROR_COLUMNS = (
    ("ID", "error_id"),
    ("LAST SEEN", "last_seen"),
    ("STATE", "state"),
    ("KIND", "kind"),
    ("ORG", "org"),
    ("SUBJECT", "subject"),
    ("REASON", "reason_code"),
    ("SEEN", "occurrences"),
    ("TRIES", "attempts"),
)
HISTORY_COLUMNS = (
    ("#", "number"),
    ("STARTED", "started_at"),
    ("TRIGGER", "trigger"),
    ("BY", "actor"),
    ("OUTCOME", "outcome"),
    ("STATUS", "status_code"),
    ("DETAIL", "detail"),
)
RETRY_COLUMNS = (("ID", "error_id"), ("STATE", "state"), ("DETAIL", "detail"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an `errors` command prints and whether it worked."""

    out: str
    ok: bool = True
    note: str = ""


# (method, path, body, expected statuses) -> the JSON answer.
Send = Callable[[str, str, Any, tuple[int, ...]], Any]


def add_errors_commands(commands: Any) -> None:
    """Add `errors list|show|retry` to scimctl's commands."""
    errors = commands.add_parser("errors", help="read and retry provisioning errors")
    actions = errors.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="list errors, newest first")
    _filters(listing)
    listing.add_argument("--state", default="", help="open, retrying, resolved, failed")
    listing.add_argument("--since", default="", help="last seen at or after (RFC 3339)")
    listing.add_argument("--until", default="", help="last seen before (RFC 3339)")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--page-token", default="", help="from the previous page")
    _json_option(listing)

    show = actions.add_parser("show", help="show one error and its history")
    show.add_argument("id", help="the error's id")
    _json_option(show)

    retry = actions.add_parser("retry", help="replay errors now")
    retry.add_argument("ids", nargs="*", metavar="ID", help="the errors' ids")
    retry.add_argument(
        "--all-open", action="store_true", help="every open error the filters match"
    )
    _filters(retry)
    _json_option(retry)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="", help="org name")
    parser.add_argument("--kind", default="", help="e.g. unmapped_group")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the JSON answer")


def list_path(args: argparse.Namespace, *, state: str, limit: int) -> str:
    """Return the listing request of the parsed filters."""
    query = {
        "org": args.org,
        "kind": args.kind,
        "state": state,
        "since": getattr(args, "since", ""),
        "until": getattr(args, "until", ""),
        "limit": str(limit),
        "page_token": getattr(args, "page_token", ""),
    }
    return "/admin/errors?" + urlencode({k: v for k, v in query.items() if v})


def run_errors(args: argparse.Namespace, send: Send) -> Outcome:
    """Run one `errors` command through `send`; return what to print."""
    if args.action == "list":
        document = send(
            "GET", list_path(args, state=args.state, limit=args.limit), None, (200,)
        )
        return Outcome(
            _json(document) if args.json else describe_list(printable(document))
        )
    if args.action == "show":
        path = f"/admin/errors/{quote(args.id, safe='')}"
        document = send("GET", path, None, (200,))
        return Outcome(
            _json(document) if args.json else describe_error(printable(document))
        )
    return _retry(args, send)


def printable(value: Any) -> Any:
    """Return a JSON value whose strings hold no control character.

    Reasons and details quote what identity providers sent (a group's
    displayName); an escape sequence or a newline in one must not drive the
    terminal or forge a row of the table, so each is shown escaped, as `\\x1b`.
    """
    if isinstance(value, str):
        if value.isprintable():
            return value
        return "".join(
            char if char.isprintable() else char.encode("unicode_escape").decode()
            for char in value
        )
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [printable(item) for item in value]
    return value


def _retry(args: argparse.Namespace, send: Send) -> Outcome:
    ids = list(args.ids)
    if args.all_open:
        listed = send(
            "GET", list_path(args, state="open", limit=MAX_RETRY_IDS), None, (200,)
        )
        ids += [item["error_id"] for item in listed.get("errors", [])]
    elif args.org or args.kind:
        raise ValueError("--org and --kind select errors only with --all-open")
    if not ids:
        if args.all_open:
            return Outcome("no open error to retry")
        raise ValueError("name the errors to retry, or use --all-open")
    if len(ids) > MAX_RETRY_IDS:
        raise ValueError(f"retry at most {MAX_RETRY_IDS} errors at once")

    document = send("POST", "/admin/errors/retry", {"ids": ids}, (200,))
    results = printable(document).get("results", [])
    rows = [_retry_row(result) for result in results]
    failed = [row for row in rows if row["state"] != "resolved"]
    note = f"{len(failed)} of {len(rows)} not resolved" if failed else ""
    out = _json(document) if args.json else _table(rows, RETRY_COLUMNS)
    return Outcome(out, ok=not failed, note=note)


def _retry_row(result: dict[str, Any]) -> dict[str, Any]:
    if not result.get("found"):
        return {"error_id": result.get("error_id"), "state": "not found"}
    attempt = result.get("attempt") or {}
    detail = " ".join(
        str(part)
        for part in (attempt.get("status_code"), attempt.get("detail"))
        if part
    )
    return {
        "error_id": result.get("error_id"),
        "state": (result.get("error") or {}).get("state"),
        "detail": detail,
    }


def describe_list(document: dict[str, Any]) -> str:
    """Render a page of errors as a table, and how to get the next one."""
    rows = [
        {
            **item,
            "org": item.get("org") or item.get("org_id"),
            "subject": _subject(item),
        }
        for item in document.get("errors", [])
    ]
    text = _table(rows, ERROR_COLUMNS) if rows else "no error matches"
    token = document.get("next_page_token")
    if token:
        text += f"\nmore: --page-token {token}"
    return text


def describe_error(document: dict[str, Any]) -> str:
    """Render one error: its fields, its operation, its history."""
    operation = document.get("operation") or {}
    fields = [
        ("id", document.get("error_id")),
        ("org", f"{document.get('org') or '-'} ({document.get('org_id')})"),
        ("kind", document.get("kind")),
        ("state", document.get("state")),
        ("reason", f"{document.get('reason_code')}: {document.get('reason')}"),
        ("subject", _subject(document)),
        ("first seen", _cell(document.get("first_seen"))),
        ("last seen", _cell(document.get("last_seen"))),
        ("occurrences", document.get("occurrences")),
        ("attempts", document.get("attempts")),
        ("next retry", _cell(document.get("next_attempt_at"))),
        (
            "last retried",
            f"{_cell(document.get('last_retried_at'))} by "
            f"{_cell(document.get('last_retried_by'))}",
        ),
        (
            "resolved",
            f"{_cell(document.get('resolved_at'))} by "
            f"{_cell(document.get('resolved_by'))}",
        ),
        ("request id", _cell(document.get("request_id"))),
        ("operation", _cell(operation.get("summary"))),
        ("method", _cell(operation.get("method"))),
    ]
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {value}" for name, value in fields]
    if operation.get("request") is not None:
        lines += ["", "request:", json.dumps(operation["request"], indent=2)]
    history = document.get("history", [])
    lines += ["", "history:"]
    lines.append(_table(history, HISTORY_COLUMNS) if history else "  (no attempt yet)")
    return "\n".join(lines)


def _subject(item: dict[str, Any]) -> str:
    subject = item.get("subject") or {}
    kind, ident = subject.get("type"), subject.get("id")
    return " ".join(part for part in (kind, ident) if part) or "-"


def _json(document: Any) -> str:
    return json.dumps(document, indent=2)
