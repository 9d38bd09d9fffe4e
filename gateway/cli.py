"""`scimctl`: operator commands against a running gateway.

    scimctl token create --org ORG [--description D]   prints the new token only
    scimctl session issue --org ORG --user USER_ID     prints a user's access token
    scimctl admin-token                                prints the local admin credential

The gateway is found at RIVANE_GATEWAY_URL, else at RIVANE_GATEWAY_HOST and
RIVANE_GATEWAY_PORT (default http://127.0.0.1:8080);
the admin credential is RIVANE_ADMIN_TOKEN or the content of the admin token
file, as the gateway itself reads it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from services.common.settings import StackSettings, get_settings

TIMEOUT_SECONDS = 30.0


class CommandFailed(Exception):
    """A command could not do its work; the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one scimctl command; return the process exit status."""
    args = _parser().parse_args(argv)
    settings = StackSettings()
    try:
        if args.command == "admin-token":
            print(admin_credential(settings))
        elif args.command == "session":
            print(
                issue_session(settings, org=args.org, user_id=args.user, ttl=args.ttl)
            )
        else:
            print(create_token(settings, org=args.org, description=args.description))
    except CommandFailed as exc:
        print(f"scimctl: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scimctl", description="Operate the Rivane SCIM gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="manage org-scoped SCIM tokens")
    token_commands = token.add_subparsers(dest="action", required=True)
    create = token_commands.add_parser(
        "create", help="issue a SCIM token for an org and print it"
    )
    create.add_argument("--org", required=True, help="org name; created if new")
    create.add_argument("--description", default="", help="what the token is for")

    session = commands.add_parser("session", help="manage users' access tokens")
    session_commands = session.add_subparsers(dest="action", required=True)
    issue = session_commands.add_parser(
        "issue", help="issue an access token for an active user and print it"
    )
    issue.add_argument("--org", required=True, help="org name, as in token create")
    issue.add_argument("--user", required=True, help="the user's SCIM id")
    issue.add_argument("--ttl", type=int, default=0, help="lifetime in seconds")

    commands.add_parser("admin-token", help="print the local stack's admin credential")
    return parser


def gateway_url() -> str:
    """Return the base URL of the gateway to talk to."""
    given = os.environ.get("RIVANE_GATEWAY_URL") or get_settings().gateway_url
    return given.rstrip("/")


def admin_credential(settings: StackSettings) -> str:
    """Return the admin credential the local gateway accepts."""
    if settings.admin_token:
        return settings.admin_token

    path = Path(settings.admin_token_file)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommandFailed(
            f"no admin credential: cannot read {path} ({exc.strerror}); "
            "has the gateway been started?"
        ) from exc
    if not token:
        raise CommandFailed(f"no admin credential: {path} is empty")
    return token


def create_token(settings: StackSettings, *, org: str, description: str) -> str:
    """Ask the gateway for a new SCIM token for `org`; return the secret."""
    url = f"{gateway_url()}/admin/orgs/{quote(org, safe='')}/tokens"
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}
    try:
        response = httpx.post(
            url,
            json={"description": description},
            headers=headers,
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.TransportError as exc:
        raise CommandFailed(
            f"cannot reach the gateway at {gateway_url()} ({exc.__class__.__name__}); "
            "is the stack running?"
        ) from exc

    if response.status_code != 201:
        raise CommandFailed(
            f"the gateway refused: {response.status_code} {_detail(response)}"
        )
    token = _json_field(response, "token")
    if not isinstance(token, str) or not token:
        raise CommandFailed("the gateway answered without a token")
    return token


def issue_session(settings: StackSettings, *, org: str, user_id: str, ttl: int) -> str:
    """Ask the gateway for an access token of a user of `org`; return it."""
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}
    found = _request(
        "GET", f"/admin/orgs/{quote(org, safe='')}", headers=headers, expect=200
    )
    org_id = _json_field(found, "org_id")
    body = {"org_id": org_id, "user_id": user_id, "ttl_seconds": ttl}
    issued = _request("POST", "/sessions", headers=headers, json=body, expect=201)
    token = _json_field(issued, "access_token")
    if not isinstance(token, str) or not token:
        raise CommandFailed("the gateway answered without a token")
    return token


def _request(
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    expect: int,
    json: object = None,
) -> httpx.Response:
    try:
        response = httpx.request(
            method,
            f"{gateway_url()}{path}",
            headers=headers,
            json=json,
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.TransportError as exc:
        raise CommandFailed(
            f"cannot reach the gateway at {gateway_url()} ({exc.__class__.__name__}); "
            "is the stack running?"
        ) from exc
    if response.status_code != expect:
        raise CommandFailed(
            f"the gateway refused: {response.status_code} {_detail(response)}"
        )
    return response


def _detail(response: httpx.Response) -> str:
    detail = _json_field(response, "detail")
    return str(detail) if detail else response.reason_phrase


def _json_field(response: httpx.Response, name: str) -> object:
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None
