"""Replay IdP request sequences against a SCIM server and judge its answers.

The cases in `idp_cases/` are data: each case is a list of steps, each step a
request in the shape Okta or Entra ID sends and the answers a correct server
may give. The format is described in `idp_cases/README.md`.

Query strings are written unencoded in the cases (`filter=userName eq "a"`);
an `&` outside double quotes separates parameters and the first `=` ends a
name. The runner encodes each name and value before sending.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

SCIM_JSON = "application/scim+json"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SHOWN_BODY_CHARS = 2000
# Characters RFC 3986 allows unescaped in a path.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_METHODS = frozenset(["GET", "POST", "PUT", "PATCH", "DELETE"])
KNOWN_OPS = frozenset(
    "eq ne ieq present absent len has contains lacks startswith gt in".split()
)


class _Missing:
    """The value of a path that leads nowhere."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class ReplayFailure(AssertionError):
    """A step got an answer a correct server would not give."""


class CaseError(ValueError):
    """A case file breaks the format (unknown placeholder, op or method)."""


@dataclass(frozen=True)
class Step:
    """One request of a case and what may come back."""

    send: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = MISSING
    raw_body: str | None = None
    status: list[int] = field(default_factory=list)
    rules: list[list[Any]] = field(default_factory=list)
    save: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The request target of `send`, query string included."""
        return self.send.partition(" ")[2].strip()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """Build a step from its JSON object."""
        expect = data.get("expect", {})
        return cls(
            send=data["send"],
            headers=dict(data.get("headers", {})),
            body=data.get("body", MISSING),
            raw_body=data.get("raw_body"),
            status=list(expect.get("status", [])),
            rules=[list(rule) for rule in expect.get("json", [])],
            save=dict(data.get("save", {})),
        )


@dataclass(frozen=True)
class Case:
    """A named sequence of steps with the variables it builds once."""

    id: str
    idp: str
    about: str
    vars: dict[str, str]
    # Raw step objects: placeholders are filled in just before each step runs.
    steps: list[dict[str, Any]]
    source: str = ""

    @property
    def touches_groups(self) -> bool:
        """Whether any step sends a request to the Groups endpoint."""
        targets = [Step.from_json(step).path for step in self.steps]
        return any(
            target == "/Groups" or target.startswith(("/Groups/", "/Groups?"))
            for target in targets
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "") -> Case:
        """Build a case from its JSON object."""
        return cls(
            id=data["id"],
            idp=data.get("idp", ""),
            about=data.get("about", ""),
            vars=dict(data.get("vars", {})),
            steps=[dict(step) for step in data["steps"]],
            source=source,
        )

    def check_format(self) -> None:
        """Raise `CaseError` when a step uses an unknown method or rule op."""
        for number, raw in enumerate(self.steps, start=1):
            step = Step.from_json(raw)
            method = step.send.partition(" ")[0]
            if method not in _METHODS or not step.path.startswith("/"):
                raise CaseError(
                    f"case {self.id}, step {number}: bad send {step.send!r}"
                )
            for rule in step.rules:
                if len(rule) not in (2, 3) or rule[1] not in KNOWN_OPS:
                    raise CaseError(f"case {self.id}, step {number}: bad rule {rule}")


def load_cases(folder: Path) -> list[Case]:
    """Read every case of the `*.json` files in `folder`, in file order."""
    cases: list[Case] = []
    for path in sorted(folder.glob("*.json")):
        for data in json.loads(path.read_text(encoding="utf-8")):
            case = Case.from_json(data, source=path.name)
            case.check_format()
            cases.append(case)
    ids = [case.id for case in cases]
    duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
    if duplicates:
        raise CaseError(f"case ids used twice: {duplicates}")
    return cases


def substitute(value: Any, names: Mapping[str, Any]) -> Any:
    """Replace `{name}` placeholders in every string inside `value`.

    A string that is exactly one placeholder takes the named value as it is,
    so a saved number stays a number.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return _named(whole.group(1), names)
        return _PLACEHOLDER.sub(lambda m: str(_named(m.group(1), names)), value)
    if isinstance(value, list):
        return [substitute(item, names) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, names) for key, item in value.items()}
    return value


def _named(name: str, names: Mapping[str, Any]) -> Any:
    if name not in names:
        raise CaseError(f"{{{name}}} is neither a var nor saved by an earlier step")
    return names[name]


def bind_vars(raw: Mapping[str, str], *, rand: str) -> dict[str, Any]:
    """Resolve a case's vars, which may refer to `{rand}` and to each other."""
    bound: dict[str, Any] = {"rand": rand}
    pending = dict(raw)
    while pending:
        ready = {
            name: text
            for name, text in pending.items()
            if all(ref in bound for ref in _PLACEHOLDER.findall(text))
        }
        if not ready:
            raise CaseError(f"vars refer to unknown or circular names: {pending}")
        for name, text in ready.items():
            bound[name] = substitute(text, bound)
            del pending[name]
    return bound


def split_path(path: str) -> list[str]:
    """Split a rule path into the keys and indexes it walks through."""
    if path.startswith("/"):
        return [path[1:]]
    if "/" in path:
        return path.split("/")
    return path.split(".")


def lookup(document: Any, path: str) -> Any:
    """Return the value at `path` in `document`, or `MISSING`.

    Keys match case-insensitively (RFC 7643 §2.1); a numeric segment indexes
    a list.
    """
    value = document
    for segment in split_path(path):
        if isinstance(value, dict):
            value = _key(value, segment)
        elif isinstance(value, list) and segment.isdigit():
            index = int(segment)
            value = value[index] if index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _key(obj: Mapping[str, Any], name: str) -> Any:
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return MISSING


def same(actual: Any, expected: Any) -> bool:
    """Compare JSON values without letting `true` equal `1`."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[key], expected[key]) for key in actual
        )
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(
            same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    return bool(actual == expected)


def _is_absent(value: Any) -> bool:
    return value is MISSING or value is None or value == []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _holds_object(items: Any, fields: Mapping[str, Any]) -> bool:
    if not isinstance(items, list):
        return False
    return any(
        isinstance(item, dict)
        and all(same(_key(item, name), want) for name, want in fields.items())
        for item in items
    )


def check(actual: Any, op: str, expected: Any = None) -> bool:
    """Return whether `actual` satisfies the rule operator `op` with `expected`."""
    match op:
        case "eq":
            return actual is not MISSING and same(actual, expected)
        case "ne":
            return actual is not MISSING and not same(actual, expected)
        case "ieq":
            return (
                isinstance(actual, str)
                and isinstance(expected, str)
                and actual.casefold() == expected.casefold()
            )
        case "present":
            return not _is_absent(actual)
        case "absent":
            return _is_absent(actual)
        case "len":
            return isinstance(actual, list | str | dict) and len(actual) == expected
        case "has":
            return isinstance(actual, list) and any(
                same(item, expected) for item in actual
            )
        case "contains":
            return _holds_object(actual, expected)
        case "lacks":
            return not _holds_object(actual, expected)
        case "startswith":
            return isinstance(actual, str) and actual.startswith(expected)
        case "gt":
            return _is_number(actual) and actual > expected
        case "in":
            return any(same(actual, option) for option in expected)
    raise CaseError(f"unknown rule op {op!r}")


def encode_target(target: str) -> str:
    """Percent-encode the path and every query name and value of `target`."""
    path, _, query = target.partition("?")
    encoded = quote(path, safe=_PATH_SAFE)
    if not query:
        return encoded
    pairs = []
    for pair in _split_query(query):
        name, _, value = pair.partition("=")
        pairs.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return f"{encoded}?{'&'.join(pairs)}"


def _split_query(query: str) -> list[str]:
    # A filter may quote a value holding `&` (displayName eq "R&D").
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in query:
        if char == "&" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    parts.append("".join(current))
    return parts


@dataclass
class _Exchange:
    """One request and its response, rendered for a failure message."""

    case: Case
    index: int
    step: Step
    response: httpx.Response
    _json: Any = MISSING

    def json(self) -> Any:
        if self._json is MISSING:
            try:
                self._json = self.response.json()
            except ValueError:
                self.fail("the response body is not JSON")
        return self._json

    def read(self, path: str) -> Any:
        if path.lower().startswith("header:"):
            value = self.response.headers.get(path.partition(":")[2].strip())
            return MISSING if value is None else value
        return lookup(self.json(), path)

    def fail(self, problem: str) -> NoReturn:
        raise ReplayFailure(self.describe(problem))

    def describe(self, problem: str) -> str:
        request = self.response.request
        shown_headers = {
            name: "<redacted>" if name.lower() == "authorization" else value
            for name, value in request.headers.items()
        }
        request_body = request.content.decode("utf-8", "replace")
        where = (
            f"{self.case.id} ({self.case.source})" if self.case.source else self.case.id
        )
        lines = [
            f"case {where}, "
            f"step {self.index + 1} of {len(self.case.steps)}: {self.step.send}",
            f"  {problem}",
            f"request: {request.method} {request.url}",
            f"  headers: {shown_headers}",
        ]
        if request_body:
            lines.append(f"  body: {_clip(request_body)}")
        lines += [
            f"response: {self.response.status_code}"
            f" {self.response.headers.get('content-type', '')}",
            f"  body: {_clip(self.response.text) or '<empty>'}",
        ]
        return "\n".join(lines)


def _clip(text: str) -> str:
    if len(text) <= _SHOWN_BODY_CHARS:
        return text
    return text[:_SHOWN_BODY_CHARS] + f"... ({len(text)} characters)"


def _request_headers(step: Step, *, token: str, has_body: bool) -> httpx.Headers:
    headers = httpx.Headers({"Authorization": f"Bearer {token}", "Accept": SCIM_JSON})
    if has_body:
        headers["Content-Type"] = SCIM_JSON
    for name, value in step.headers.items():
        headers[name] = value
    return headers


def run_step(
    client: httpx.Client, case: Case, index: int, *, names: dict[str, Any], token: str
) -> None:
    """Send step `index` of `case`, check the answer and save what it names."""
    try:
        step = Step.from_json(substitute(case.steps[index], names))
    except CaseError as error:
        raise CaseError(f"case {case.id}, step {index + 1}: {error}") from error

    method, _, target = step.send.partition(" ")
    content: bytes | None = None
    if step.raw_body is not None:
        content = step.raw_body.encode("utf-8")
    elif step.body is not MISSING:
        content = json.dumps(step.body).encode("utf-8")
    response = client.request(
        method.upper(),
        encode_target(target.strip()),
        headers=_request_headers(step, token=token, has_body=content is not None),
        content=content,
    )
    exchange = _Exchange(case=case, index=index, step=step, response=response)

    if step.status and response.status_code not in step.status:
        exchange.fail(f"status {response.status_code}, expected one of {step.status}")
    for rule in step.rules:
        path, op, *rest = rule
        expected = rest[0] if rest else None
        actual = exchange.read(path)
        if not check(actual, op, expected):
            exchange.fail(f"rule {json.dumps(rule)} failed: got {actual!r}")
    for name, path in step.save.items():
        value = exchange.read(path)
        if value is MISSING:
            exchange.fail(f"cannot save {name!r}: nothing at {path!r}")
        names[name] = value


def run_case(client: httpx.Client, case: Case, *, token: str) -> dict[str, Any]:
    """Run every step of `case` in order; return the names it bound and saved.

    `client` has the SCIM base URL as its base; every request carries `token`
    unless a step sends its own Authorization header.
    """
    names = bind_vars(case.vars, rand=secrets.token_hex(4))
    for index in range(len(case.steps)):
        run_step(client, case, index, names=names, token=token)
    return names
