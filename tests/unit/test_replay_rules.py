"""The IdP replay runner: paths, rule ops, placeholders and failure messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.replay import (
    MISSING,
    Case,
    CaseError,
    ReplayFailure,
    bind_vars,
    check,
    encode_target,
    load_cases,
    lookup,
    run_case,
    substitute,
)

CASES_DIR = Path(__file__).parents[1] / "integration" / "idp_cases"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = {
    "id": "u-1",
    "userName": "ada@example.test",
    "active": True,
    "name": {"givenName": "Ada"},
    "emails": [{"type": "work", "value": "ada@example.test", "primary": True}],
    "groups": [],
    ENTERPRISE: {"department": "Treasury"},
    "a.b": "literal",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("userName", "ada@example.test"),
        ("USERNAME", "ada@example.test"),
        ("name.givenName", "Ada"),
        ("emails.0.value", "ada@example.test"),
        (f"{ENTERPRISE}/department", "Treasury"),
        (f"{ENTERPRISE.upper()}/DEPARTMENT", "Treasury"),
        ("/a.b", "literal"),
        ("emails.1.value", MISSING),
        ("name.familyName", MISSING),
        ("userName.0", MISSING),
    ],
)
def test_lookup_follows_the_path(path: str, expected: Any) -> None:
    assert lookup(USER, path) == expected


@pytest.mark.parametrize(
    ("actual", "op", "expected"),
    [
        (True, "eq", True),
        ("404", "eq", "404"),
        ("a", "ne", "b"),
        ("ABC", "ieq", "abc"),
        ("x", "present", None),
        (MISSING, "absent", None),
        (None, "absent", None),
        ([], "absent", None),
        ([1, 2], "len", 2),
        (["a", "b"], "has", "b"),
        ([{"type": "work", "value": "v"}], "contains", {"value": "v"}),
        ([{"Value": "v"}], "contains", {"value": "v"}),
        ([{"value": "v"}], "lacks", {"value": "w"}),
        (MISSING, "lacks", {"value": "w"}),
        ("application/scim+json; charset=utf-8", "startswith", "application/scim+json"),
        (3, "gt", 0),
        (204, "in", [200, 204]),
    ],
)
def test_check_passes_a_matching_value(actual: Any, op: str, expected: Any) -> None:
    assert check(actual, op, expected)


@pytest.mark.parametrize(
    ("actual", "op", "expected"),
    [
        (1, "eq", True),
        (404, "eq", "404"),
        (MISSING, "eq", None),
        (MISSING, "ne", "b"),
        ("a", "ne", "a"),
        ("ABC", "ieq", "abd"),
        (None, "present", None),
        ([], "present", None),
        ("x", "absent", None),
        ([1], "len", 2),
        (MISSING, "len", 0),
        (["a"], "has", "b"),
        ([{"value": "v", "type": "home"}], "contains", {"value": "v", "type": "work"}),
        ([{"value": "v"}], "lacks", {"value": "v"}),
        ("text/html", "startswith", "application/scim+json"),
        (0, "gt", 0),
        (True, "gt", 0),
        (500, "in", [200, 204]),
    ],
)
def test_check_fails_a_wrong_value(actual: Any, op: str, expected: Any) -> None:
    assert not check(actual, op, expected)


def test_check_rejects_an_unknown_op() -> None:
    with pytest.raises(CaseError, match="unknown rule op"):
        check(1, "approximately", 1)


def test_vars_resolve_rand_and_each_other() -> None:
    bound = bind_vars({"g2": "{g} AP", "g": "Group {rand}"}, rand="abc123")
    assert bound["g"] == "Group abc123"
    assert bound["g2"] == "Group abc123 AP"


def test_substitute_keeps_the_type_of_a_whole_placeholder() -> None:
    names = {"uid": "u-1", "n": 3}
    body = {"members": [{"value": "{uid}"}], "count": "{n}", "text": "n={n}"}
    assert substitute(body, names) == {
        "members": [{"value": "u-1"}],
        "count": 3,
        "text": "n=3",
    }


def test_substitute_refuses_an_unknown_name() -> None:
    with pytest.raises(CaseError, match="uid"):
        substitute("GET /Users/{uid}", {})


def test_target_query_is_percent_encoded() -> None:
    target = encode_target('/Users?filter=userName eq "a&b@x.test"&count=2')
    assert target == "/Users?filter=userName%20eq%20%22a%26b%40x.test%22&count=2"


def test_target_query_keeps_escaped_quotes_inside_a_value() -> None:
    target = encode_target(r'/Groups?filter=displayName eq "R\"&\"D"&count=1')
    assert target.endswith("%22R%5C%22%26%5C%22D%22&count=1")


def _case(steps: list[dict[str, Any]], vars_: dict[str, str] | None = None) -> Case:
    return Case.from_json({"id": "demo", "vars": vars_ or {}, "steps": steps})


def _server(
    handler: Any,
) -> httpx.Client:
    return httpx.Client(
        base_url="http://scim.test/scim/v2", transport=httpx.MockTransport(handler)
    )


def test_failing_rule_names_case_step_request_rule_and_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": "u-1", "active": False})

    case = _case(
        [
            {
                "send": "POST /Users",
                "body": {"userName": "{login}"},
                "expect": {"status": [201], "json": [["active", "eq", True]]},
            }
        ],
        {"login": "x.{rand}@example.test"},
    )
    with _server(handler) as client, pytest.raises(ReplayFailure) as failure:
        run_case(client, case, token="secret-token")

    message = str(failure.value)
    assert "case demo" in message
    assert "step 1 of 1: POST /Users" in message
    assert "POST http://scim.test/scim/v2/Users" in message
    assert '["active", "eq", true]' in message
    assert "got False" in message
    assert '"active":false' in message
    assert "secret-token" not in message


def test_unexpected_status_fails_with_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"detail": "boom"})

    case = _case([{"send": "GET /Users", "expect": {"status": [200]}}])
    with _server(handler) as client, pytest.raises(ReplayFailure, match="boom"):
        run_case(client, case, token="t")


def test_saved_values_and_header_overrides_reach_later_steps() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json={"id": "u-7"}, headers={"Location": "/x"})
        return httpx.Response(200, json={"Resources": [{"id": "u-7"}]})

    case = _case(
        [
            {
                "send": "POST /Users",
                "body": {},
                "expect": {"status": [201], "json": [["header:location", "present"]]},
                "save": {"uid": "id"},
            },
            {
                "send": 'GET /Users?filter=id eq "{uid}"',
                "headers": {"Authorization": "Bearer other"},
                "expect": {
                    "status": [200],
                    "json": [["Resources.0.id", "eq", "{uid}"]],
                },
            },
        ]
    )
    with _server(handler) as client:
        names = run_case(client, case, token="mine")

    assert names["uid"] == "u-7"
    assert seen[0].headers["Authorization"] == "Bearer mine"
    assert seen[0].headers["Content-Type"] == "application/scim+json"
    assert seen[1].headers["Authorization"] == "Bearer other"
    assert seen[1].url.params["filter"] == 'id eq "u-7"'


def test_raw_body_is_sent_as_is() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(400, json={"scimType": "invalidSyntax"})

    raw = '{"userName": '
    case = _case(
        [
            {
                "send": "POST /Users",
                "raw_body": raw,
                "expect": {
                    "status": [400],
                    "json": [["scimType", "eq", "invalidSyntax"]],
                },
            }
        ]
    )
    with _server(handler) as client:
        run_case(client, case, token="t")
    assert bodies == [raw.encode()]


def test_shipped_cases_load_and_only_group_cases_touch_groups() -> None:
    cases = load_cases(CASES_DIR)
    touching = {case.id for case in cases if case.touches_groups}
    assert touching == {"okta-group-push", "entra-compliant-dialect", "entra-groups"}
    assert len(cases) == sum(
        len(json.loads(path.read_text())) for path in CASES_DIR.glob("*.json")
    )
