"""`scimctl`: operator commands against a running gateway.

    scimctl token create --org ORG [--name N]          prints the new token only
    scimctl token list|rotate|revoke|expire --org ORG  see gateway/admin_cli.py
    scimctl org create|list, credential ..., audit     orgs, admin credentials, log
    scimctl session issue --org ORG --user USER_ID     prints a user's access token
    scimctl admin-token                                prints the local admin credential
    scimctl mapping set|list|delete --org ORG ...      maps SCIM groups to Rivane roles
    scimctl schema add FILE|list|delete URN --org ORG  an org's extension schemas
    scimctl errors list|show ID|retry ID...            the provisioning error log

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

from gateway import admin_cli, errors_cli, schema_cli
from gateway.mapping_cli import add_mapping_commands, describe, mapping_call
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
        elif args.command == "mapping":
            print(run_mapping(settings, args))
        elif args.command == "schema":
            print(run_schema(settings, args))
        elif args.command == "errors":
            return run_errors(settings, args)
        elif args.command == "session":
            print(
                issue_session(settings, org=args.org, user_id=args.user, ttl=args.ttl)
            )
        else:
            output = run_admin(settings, args)
            print(output.out)
            if output.note:
                print(output.note, file=sys.stderr)
    except CommandFailed as exc:
        print(f"scimctl: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scimctl", description="Operate the Rivane SCIM gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    admin_cli.add_admin_commands(commands)

    session = commands.add_parser("session", help="manage users' access tokens")
    session_commands = session.add_subparsers(dest="action", required=True)
    issue = session_commands.add_parser(
        "issue", help="issue an access token for an active user and print it"
    )
    issue.add_argument("--org", required=True, help="org name, as in token create")
    issue.add_argument("--user", required=True, help="the user's SCIM id")
    issue.add_argument("--ttl", type=int, default=0, help="lifetime in seconds")

    add_mapping_commands(commands)
    schema_cli.add_schema_commands(commands)
    errors_cli.add_errors_commands(commands)
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


def run_admin(settings: StackSettings, args: argparse.Namespace) -> admin_cli.Output:
    """Run an `org`, `token`, `credential` or `audit` command; return its output."""
    local = admin_cli.local_output(args)
    if local is not None:
        return local
    call = admin_cli.admin_call(args)
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}
    response = _request(
        call.method, call.path, headers=headers, expect=call.expect, json=call.body
    )
    try:
        return admin_cli.describe(args, response.json())
    except ValueError as exc:
        raise CommandFailed(str(exc) or "the gateway answered without JSON") from exc


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


def run_mapping(settings: StackSettings, args: argparse.Namespace) -> str:
    """Run a `mapping` command through the admin API; return what to print."""
    call = mapping_call(args)
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}
    response = _request(
        call.method, call.path, headers=headers, expect=call.expect, json=call.body
    )
    try:
        document = response.json()
    except ValueError as exc:
        raise CommandFailed("the gateway answered without JSON") from exc
    return describe(args, document)


def run_schema(settings: StackSettings, args: argparse.Namespace) -> str:
    """Run a `schema` command through the admin API; return what to print."""
    try:
        call = schema_cli.schema_call(args)
    except schema_cli.SchemaFileError as exc:
        raise CommandFailed(str(exc)) from exc
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}
    response = _request(
        call.method, call.path, headers=headers, expect=call.expect, json=call.body
    )
    document = response.json() if response.content else None
    return schema_cli.describe(args, document)


def run_errors(settings: StackSettings, args: argparse.Namespace) -> int:
    """Run an `errors` command through the admin API; return the exit status."""
    headers = {"Authorization": f"Bearer {admin_credential(settings)}"}

    def send(method: str, path: str, body: object, expect: tuple[int, ...]) -> object:
        response = _request(method, path, headers=headers, expect=expect, json=body)
        try:
            return response.json()
        except ValueError as exc:
            raise CommandFailed("the gateway answered without JSON") from exc

    try:
        outcome = errors_cli.run_errors(args, send)
    except ValueError as exc:
        raise CommandFailed(str(exc)) from exc
    print(outcome.out)
    if outcome.note:
        print(f"scimctl: {outcome.note}", file=sys.stderr)
    return 0 if outcome.ok else 1


def _request(
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    expect: int | tuple[int, ...],
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
    expected = (expect,) if isinstance(expect, int) else expect
    if response.status_code not in expected:
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
