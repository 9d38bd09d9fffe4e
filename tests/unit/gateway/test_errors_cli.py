"""`scimctl errors`: requests made, tables printed, exit statuses."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from gateway import errors_cli
from gateway.cli import main


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scimctl")
    errors_cli.add_errors_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["errors", *argv])


class Gateway:
    """Answers the CLI's requests from canned documents; keeps what it was sent."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, Any]] = []

    def __call__(self, method: str, path: str, body: Any, expect: Any) -> Any:
        self.sent.append((method, path, body))
        return self.answers[method]


ERROR = {
    "error_id": "e-1",
    "org": "acme",
    "org_id": "o-1",
    "kind": "unmapped_group",
    "state": "open",
    "reason_code": "NO_ROLE_MAPPING",
    "reason": "maps to no role",
    "subject": {"type": "Group", "id": "g-1"},
    "operation": {"method": "/x/Y", "summary": "roles", "request": {"a": 1}},
    "last_seen": "2026-12-04T16:57:54.123456Z",
    "occurrences": 2,
    "attempts": 0,
}


def resolved(error_id: str) -> dict[str, Any]:
    return {
        "error_id": error_id,
        "found": True,
        "error": {"state": "resolved"},
        "attempt": {"status_code": "OK"},
    }


def test_list_sends_the_filters_and_prints_a_table() -> None:
    gateway = Gateway(GET={"errors": [ERROR], "next_page_token": "p2"})

    outcome = errors_cli.run_errors(
        parse("list", "--org", "acme", "--kind", "unmapped_group", "--state", "open"),
        gateway,
    )

    [(method, path, _)] = gateway.sent
    assert method == "GET"
    assert path == "/admin/errors?org=acme&kind=unmapped_group&state=open&limit=50"
    header, row = outcome.out.splitlines()[:2]
    assert header.split()[:4] == ["ID", "LAST", "SEEN", "STATE"]
    assert "e-1" in row and "2026-12-04 16:57:54Z" in row and "Group g-1" in row
    assert outcome.out.endswith("more: --page-token p2")


def test_show_prints_fields_request_and_history() -> None:
    document = {
        **ERROR,
        "history": [{"number": 1, "trigger": "auto", "outcome": "open"}],
    }

    outcome = errors_cli.run_errors(parse("show", "e/1"), Gateway(GET=document))

    assert "\nkind          unmapped_group\n" in outcome.out
    assert '"a": 1' in outcome.out
    assert "auto" in outcome.out.split("history:")[1]


@pytest.mark.parametrize("action", ["list", "show"])
def test_text_an_idp_sent_cannot_drive_the_terminal(action: str) -> None:
    # A group's displayName, quoted in the reason, with a terminal title
    # escape, a screen clear, a forged row and a right-to-left override.
    reason = "group '\x1b]0;owned\x07\x1b[2J\ne-2  forged\u202e' maps to no role"
    error = {**ERROR, "reason_code": reason, "reason": reason, "history": []}
    answer = {"errors": [error]} if action == "list" else error

    outcome = errors_cli.run_errors(
        parse(action, *(["e-1"] if action == "show" else [])), Gateway(GET=answer)
    )

    assert all(char.isprintable() or char == "\n" for char in outcome.out)
    assert "\\x1b]0;owned\\x07\\x1b[2J\\ne-2  forged\\u202e" in outcome.out


def test_show_quotes_the_id_in_the_path() -> None:
    gateway = Gateway(GET=ERROR)

    errors_cli.run_errors(parse("show", "e/1"), gateway)

    assert gateway.sent[0][1] == "/admin/errors/e%2F1"


def test_retry_of_several_ids_succeeds_when_all_resolved() -> None:
    gateway = Gateway(POST={"results": [resolved("a"), resolved("b")]})

    outcome = errors_cli.run_errors(parse("retry", "a", "b"), gateway)

    assert gateway.sent == [("POST", "/admin/errors/retry", {"ids": ["a", "b"]})]
    assert outcome.ok


def test_retry_fails_when_an_id_is_unknown_or_unresolved() -> None:
    results = [
        resolved("a"),
        {"error_id": "b", "found": False},
        {"error_id": "c", "found": True, "error": {"state": "open"}},
    ]

    outcome = errors_cli.run_errors(
        parse("retry", "a", "b", "c"), Gateway(POST={"results": results})
    )

    assert not outcome.ok
    assert outcome.note == "2 of 3 not resolved"
    assert "not found" in outcome.out


def test_retry_all_open_lists_open_errors_first() -> None:
    gateway = Gateway(GET={"errors": [ERROR]}, POST={"results": [resolved("e-1")]})

    outcome = errors_cli.run_errors(
        parse("retry", "--all-open", "--org", "acme"), gateway
    )

    assert gateway.sent[0][1] == "/admin/errors?org=acme&state=open&limit=500"
    assert gateway.sent[1][2] == {"ids": ["e-1"]}
    assert outcome.ok


@pytest.mark.parametrize("argv", [("retry",), ("retry", "a", "--org", "acme")])
def test_retry_refuses_what_names_no_error(argv: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        errors_cli.run_errors(parse(*argv), Gateway())


def test_scimctl_errors_exits_1_when_the_gateway_is_away(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RIVANE_GATEWAY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", "x" * 40)

    status = main(["errors", "retry", "e-1"])

    assert status == 1
    assert "cannot reach the gateway" in capsys.readouterr().err


def test_scimctl_errors_refuses_filters_without_all_open(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RIVANE_ADMIN_TOKEN", "x" * 40)

    assert main(["errors", "retry", "e-1", "--kind", "unmapped_group"]) == 1
    assert "only with --all-open" in capsys.readouterr().err
