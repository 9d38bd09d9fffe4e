"""What an SRE filters a gateway request on: its route, SCIM resource, org.

The same facts label the request's span and its Prometheus series. Routes are
the templates the app declares (`/scim/v2/Users/{user_id}`), never raw paths,
so the series stay few; orgs are the ids the tokens resolve to, never tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import Scope

from gateway.context import SCIM_PATH

UNMATCHED_ROUTE = "unmatched"

REQUESTS = Counter(
    "rivane_gateway_requests_total",
    "HTTP requests answered, by method, route, org and status code",
    ["method", "route", "org", "status"],
)
REQUEST_ERRORS = Counter(
    "rivane_gateway_request_errors_total",
    "HTTP requests answered with a 5xx status, by method, route and org",
    ["method", "route", "org"],
)
REQUEST_LATENCY = Histogram(
    "rivane_gateway_request_duration_seconds",
    "Time from a request's arrival to the end of its response",
    ["method", "route", "org"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# RFC 7644 §3.2: the endpoint of each resource type.
_RESOURCE_TYPES = {"Users": "User", "Groups": "Group"}
# What a method does to a SCIM resource endpoint, with or without an id.
_OPERATIONS = {
    ("GET", False): "list",
    ("GET", True): "get",
    ("POST", False): "create",
    ("PUT", True): "replace",
    ("PATCH", True): "patch",
    ("DELETE", True): "delete",
}


@dataclass(frozen=True)
class RequestFacts:
    """The route of a request and, for a SCIM resource, its type, id, operation."""

    route: str
    resource_type: str | None = None
    resource_id: str | None = None
    operation: str | None = None

    def span_attributes(self) -> dict[str, str]:
        """Return the facts known, as span attributes."""
        attributes = {
            "scim.resource_type": self.resource_type,
            "scim.resource_id": self.resource_id,
            "scim.operation": self.operation,
        }
        return {name: value for name, value in attributes.items() if value}


def request_facts(scope: Scope, method: str) -> RequestFacts:
    """Return what routing found out about the request in `scope`."""
    if not isinstance(scope.get("route"), BaseRoute):
        return RequestFacts(route=UNMATCHED_ROUTE)
    # A route of an included router knows only its own part of the path, so
    # the template is rebuilt from the path: each parameter's value, its name.
    params = scope.get("path_params", {})
    names = {str(value): name for name, value in params.items()}
    template = "/".join(
        f"{{{names[part]}}}" if part in names else part
        for part in str(scope["path"]).split("/")
    )
    endpoint = template.removeprefix(SCIM_PATH + "/").split("/")
    resource_type = _RESOURCE_TYPES.get(endpoint[0])
    if not template.startswith(SCIM_PATH) or resource_type is None:
        return RequestFacts(route=template)

    resource_id = next(
        (str(v) for k, v in params.items() if k.endswith("_id")),
        None,
    )
    if endpoint[1:] == [".search"]:
        operation = "search"
    else:
        operation = _OPERATIONS.get((method, resource_id is not None), method)
    return RequestFacts(
        route=template,
        resource_type=resource_type,
        resource_id=resource_id,
        operation=operation,
    )


def observe_request(
    *, method: str, facts: RequestFacts, org: str, status: int, seconds: float
) -> None:
    """Count one answered request in the gateway's Prometheus series."""
    REQUESTS.labels(method, facts.route, org, str(status)).inc()
    REQUEST_LATENCY.labels(method, facts.route, org).observe(seconds)
    if status >= 500:
        REQUEST_ERRORS.labels(method, facts.route, org).inc()
