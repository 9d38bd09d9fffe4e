"""Big groups: the groups part of `python -m tests.bench`.

Setup writes straight to the bench database, because it is setup and not
what is measured: `--group-members` users (50,000) of a fresh org and their
memberships of one group, each made by one INSERT ... SELECT. The group is
created and mapped to a role over HTTP first, so that every measured change
also computes roles and queues its `scim.user_roles_changed` event.

Then, through the gateway over HTTP, `--group-runs` times (50): a PATCH that
adds one member (Okta's form), a PATCH that removes it (`members[value eq]`),
and a GET with `excludedAttributes=members`. It prints p50 and p99 of each
against the 50 ms target, and the time of one full read of the group.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

KINDS = ("add member", "remove member", "get lean")
TARGET_MS = 50.0
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_WARM_UP = 5
_TIMEOUT = 60.0


@dataclass
class GroupFigures:
    """What the groups benchmark measured."""

    members: int
    runs: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    full_read: float | None = None
    full_read_members: int = 0
    skipped: str = ""
    errors: list[str] = field(default_factory=list)


async def measure(
    *,
    base_url: str,
    token: str,
    admin_token: str,
    database_url: str | None,
    members: int,
    runs: int,
) -> GroupFigures:
    """Build the big group, then time the one-member changes and lean reads."""
    figures = GroupFigures(members=members, runs=runs)
    if database_url is None:
        figures.skipped = "needs the bench database (set RIVANE_BENCH_DATABASE_URL)"
        return figures
    if members <= 0 or runs <= 0:
        figures.skipped = "--group-members and --group-runs are 0"
        return figures

    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    scim = httpx.AsyncClient(
        base_url=f"{base_url}/scim/v2",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
        },
        timeout=_TIMEOUT,
    )
    try:
        async with scim:
            group_id, probe = await _big_group(
                scim, engine, base_url=base_url, admin_token=admin_token, size=members
            )
            await _measure_changes(scim, figures, group_id=group_id, probe=probe)
            started = time.perf_counter()
            whole = await scim.get(f"/Groups/{group_id}")
            figures.full_read = time.perf_counter() - started
            if whole.status_code == 200:
                figures.full_read_members = len(whole.json().get("members", []))
            else:
                figures.errors.append(f"full read: {_problem(whole)}")
    finally:
        await engine.dispose()
    return figures


async def _big_group(
    scim: httpx.AsyncClient,
    engine: AsyncEngine,
    *,
    base_url: str,
    admin_token: str,
    size: int,
) -> tuple[str, str]:
    """Return a group of `size` members, mapped to a role, and a non-member."""
    probe = await _created(
        scim.post(
            "/Users",
            json={"schemas": [USER_SCHEMA], "userName": "probe@bench.example.test"},
        )
    )
    group = await _created(scim.post("/Groups", json={"displayName": "Everyone"}))
    async with engine.connect() as connection:
        org = (
            await connection.execute(
                text(
                    'SELECT o.org_id, o.name FROM org o JOIN "user" u'
                    " ON u.org_id = o.org_id WHERE u.user_id = :user"
                ),
                {"user": probe["id"]},
            )
        ).one()
    async with httpx.AsyncClient(base_url=base_url, timeout=_TIMEOUT) as admin:
        mapped = await admin.post(
            f"/admin/orgs/{org.name}/role-mappings",
            headers={"Authorization": f"Bearer {admin_token}"},
            json={"group": group["id"], "role": "everyone"},
        )
        mapped.raise_for_status()

    async with engine.begin() as connection:
        await connection.execute(
            text(
                'INSERT INTO "user" (user_id, org_id, user_name, status, attributes,'
                " version, created_at, updated_at)"
                " SELECT gen_random_uuid(), :org, name, 'ACTIVE',"
                " jsonb_build_object('schemas',"
                " jsonb_build_array(CAST(:schema AS text)),"
                " 'userName', name, 'active', true), 1, now(), now()"
                " FROM generate_series(1, :size) AS n,"
                " LATERAL (SELECT 'member.' || n || '@bench.example.test' AS name) AS u"
            ),
            {"org": org.org_id, "size": size, "schema": USER_SCHEMA},
        )
        await connection.execute(
            text(
                "INSERT INTO group_membership (group_id, user_id, org_id)"
                ' SELECT :group, user_id, org_id FROM "user"'
                " WHERE org_id = :org AND user_id <> :probe"
            ),
            {"group": group["id"], "org": org.org_id, "probe": probe["id"]},
        )
        await connection.execute(text("ANALYZE group_membership"))
    return str(group["id"]), str(probe["id"])


async def _measure_changes(
    scim: httpx.AsyncClient, figures: GroupFigures, *, group_id: str, probe: str
) -> None:
    add = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": probe}]}],
    }
    remove = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": f'members[value eq "{probe}"]'}],
    }
    requests: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("add member", "PATCH", add, {}),
        ("remove member", "PATCH", remove, {}),
        ("get lean", "GET", None, {"excludedAttributes": "members"}),
    ]
    for run in range(_WARM_UP + figures.runs):
        for kind, method, body, params in requests:
            started = time.perf_counter()
            response = await scim.request(
                method, f"/Groups/{group_id}", json=body, params=params
            )
            elapsed = time.perf_counter() - started
            if response.status_code not in (200, 204):
                figures.errors.append(f"{kind}: {_problem(response)}")
            elif run >= _WARM_UP:
                figures.latencies[kind].append(elapsed)


async def _created(sent: Any) -> dict[str, Any]:
    response: httpx.Response = await sent
    if response.status_code != 201:
        raise RuntimeError(f"setup failed: {_problem(response)}")
    created: dict[str, Any] = response.json()
    return created


def _problem(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"


def _percentile(values: list[float], percent: float) -> float:
    # Nearest rank: the smallest value with `percent` of the values at or below it.
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def report(figures: GroupFigures) -> str:
    """Render the figures of the groups benchmark."""
    if figures.skipped:
        return f"groups: skipped, {figures.skipped}"
    lines = [
        f"groups: one member in and out of a {figures.members}-member group, "
        f"{figures.runs} runs each (target p99 < {TARGET_MS:.0f} ms)",
        f"{'kind':<16}{'runs':>6}{'p50 ms':>10}{'p99 ms':>10}{'target':>9}",
    ]
    for kind in KINDS:
        values = figures.latencies.get(kind, [])
        p50 = _percentile(values, 50) * 1000 if values else math.nan
        p99 = _percentile(values, 99) * 1000 if values else math.nan
        verdict = "met" if p99 < TARGET_MS else "MISSED"
        lines.append(f"{kind:<16}{len(values):>6}{p50:>10.1f}{p99:>10.1f}{verdict:>9}")
    if figures.full_read is not None:
        lines.append(
            f"full GET of the group: {figures.full_read * 1000:.0f} ms for "
            f"{figures.full_read_members} members"
        )
    return "\n".join(lines)
