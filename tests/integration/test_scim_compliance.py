"""An independent SCIM compliance checker (scim2-tester) run against the stack.

Every check scim2-tester has is run, for Users and Groups: discovery,
creation, reads, `attributes` and `excludedAttributes` on each endpoint,
POST /.search, replacement, deletion, and PATCH add, remove and replace of
each attribute. Anything but a success fails the test, named with its reason.
"""

from __future__ import annotations

import uuid
from collections import Counter

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

from tests.integration.conftest import create_org_token
from tests.integration.stack import Stack

# What scim2-tester runs for each resource type; each must have run.
RESOURCE_CHECKS = frozenset(
    {
        "object_creation",
        "object_query",
        "object_query_without_id",
        "object_query_with_attributes",
        "object_list_with_attributes",
        "search_with_attributes",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
    }
)


@pytest.fixture(scope="module")
def checker_url(stack: Stack) -> str:
    """A gateway replica whose rate limit leaves room for a few hundred requests.

    The checker sends them in seconds, past what a token may burst by default.
    """
    base_url = stack.start_gateway(
        "gateway-compliance",
        RIVANE_RATE_LIMIT_PER_SECOND="10000",
        RIVANE_RATE_LIMIT_BURST="10000",
    )
    return f"{base_url}/scim/v2"


def _describe(result: CheckResult) -> str:
    where = f"{result.resource_type}: " if result.resource_type else ""
    return f"{result.status.name} {where}{result.title}: {result.reason}"


def test_scim2_tester_passes_every_check_for_users_and_groups(
    stack: Stack, checker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create_org_token(stack, f"org-{uuid.uuid4().hex[:12]}")
    with httpx2.Client(
        base_url=checker_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as http:
        results = check_server(SyncSCIMClient(http))

    failures = [_describe(r) for r in results if r.status != Status.SUCCESS]
    passed = len(results) - len(failures)
    with capsys.disabled():
        print(f"\nscim2-tester: {passed} of {len(results)} checks passed")

    assert not failures, "\n".join(failures)
    ran = Counter((r.resource_type, r.title) for r in results)
    for resource_type in ("User", "Group"):
        missing = {t for t in RESOURCE_CHECKS if not ran[(resource_type, t)]}
        assert not missing, f"{resource_type}: checks that did not run: {missing}"
