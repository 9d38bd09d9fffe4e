"""Closed-loop load on the SCIM Users API: `python -m tests.bench`.

Each of `--clients` clients (32) sends its next request as soon as the last
one is answered, for `--seconds` (20), cycling through three kinds: create a
user, look one of its users up by a `userName eq` filter, deactivate one of
its users with a path-less PATCH. It prints requests per second overall and
per kind, p50 and p99 latency per kind, and the errors. Then, on the same
stack, the revocation benchmark (`tests/bench_revocation.py`) deactivates
users holding live tokens and prints how soon their tokens stop working, and
the groups benchmark (`tests/bench_groups.py`) times one-member PATCHes and
lean reads of a 50,000-member group, and the bulk benchmark
(`tests/bench_bulk.py`) times a 1,000-user and a 10,000-user Bulk request and
the same 1,000 users on scim2-server. It exits 1 when any request failed.

By default the benchmark runs its own gateway and identity service over the
database `rivane_bench` (created next to `rivane` when missing, then reset).
With RIVANE_BENCH_URL=http://127.0.0.1:PORT it loads a running gateway
instead, with the SCIM token in RIVANE_BENCH_TOKEN or one it creates through
the admin API (RIVANE_ADMIN_TOKEN, else the local admin token file); the
revocation benchmark needs that admin credential in any case.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import random
import re
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.settings import get_settings
from tests import bench_bulk, bench_groups, bench_revocation
from tests.integration.stack import ROOT, reset_database, running_stack

KINDS = ("create", "lookup", "deactivate")
LOCAL_HOSTS = frozenset(["127.0.0.1", "localhost"])
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_REQUEST_TIMEOUT = 15.0
_SHOWN_ERRORS = 5


@dataclass
class Tally:
    """Latencies and failures of the requests of one run, by kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)

    def failed(self, kind: str, problem: str) -> None:
        """Count a failed request and keep the first few descriptions."""
        self.errors[kind] += 1
        if len(self.samples) < _SHOWN_ERRORS:
            self.samples.append(f"{kind}: {problem}")

    @property
    def error_count(self) -> int:
        """How many requests failed in all."""
        return sum(self.errors.values())


@dataclass
class Client:
    """One closed-loop client and the users it has created."""

    http: httpx.AsyncClient
    tally: Tally
    prefix: str
    user_names: list[str] = field(default_factory=list)
    active_ids: list[str] = field(default_factory=list)
    _serial: Iterator[int] = field(default_factory=itertools.count)

    async def create(self) -> None:
        """Provision a new user."""
        login = f"{self.prefix}.{next(self._serial)}@bench.example.test"
        body = {
            "schemas": [USER_SCHEMA],
            "userName": login,
            "active": True,
            "name": {"givenName": "Bench", "familyName": "User"},
            "emails": [{"type": "work", "value": login, "primary": True}],
        }
        response = await self.http.post("/Users", json=body)
        if response.status_code != 201:
            self.tally.failed("create", _problem(response))
            return
        self.user_names.append(login)
        self.active_ids.append(response.json()["id"])

    async def lookup(self) -> None:
        """Find one of the client's users by userName, as IdPs match users."""
        login = random.choice(self.user_names)
        response = await self.http.get(
            "/Users", params={"filter": f'userName eq "{login}"'}
        )
        if response.status_code != 200 or response.json().get("totalResults") != 1:
            self.tally.failed("lookup", _problem(response))

    async def deactivate(self) -> None:
        """Deactivate one of the client's active users, as Okta does."""
        user_id = self.active_ids.pop()
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }
        response = await self.http.patch(f"/Users/{user_id}", json=body)
        if response.status_code not in (200, 204):
            self.tally.failed("deactivate", _problem(response))

    async def run_until(self, deadline: float) -> None:
        """Send requests back to back until `deadline` (monotonic seconds)."""
        for kind in itertools.cycle(KINDS):
            if time.monotonic() >= deadline:
                return
            # A lookup or a deactivation needs a user of this client first.
            if kind == "lookup" and not self.user_names:
                kind = "create"
            if kind == "deactivate" and not self.active_ids:
                kind = "create"
            started = time.perf_counter()
            try:
                await getattr(self, kind)()
            except (httpx.HTTPError, ValueError) as error:
                self.tally.failed(kind, f"{type(error).__name__}: {error}")
            self.tally.latencies[kind].append(time.perf_counter() - started)


def _problem(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:200]}"


def _percentile(values: list[float], percent: float) -> float:
    # Nearest rank: the smallest value with `percent` of the values at or below it.
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def report(tally: Tally, *, seconds: float, clients: int) -> str:
    """Render the figures of a run as a small table."""
    total = sum(len(values) for values in tally.latencies.values())
    lines = [
        f"{clients} clients for {seconds:.1f} s: {total} requests, "
        f"{total / seconds:.1f} req/s, {tally.error_count} errors",
        f"{'kind':<12}{'requests':>10}{'req/s':>10}{'p50 ms':>10}"
        f"{'p99 ms':>10}{'errors':>8}",
    ]
    for kind in KINDS:
        values = tally.latencies.get(kind, [])
        p50 = _percentile(values, 50) * 1000 if values else math.nan
        p99 = _percentile(values, 99) * 1000 if values else math.nan
        lines.append(
            f"{kind:<12}{len(values):>10}{len(values) / seconds:>10.1f}"
            f"{p50:>10.1f}{p99:>10.1f}{tally.errors.get(kind, 0):>8}"
        )
    return "\n".join(lines)


async def load(*, scim_url: str, token: str, seconds: float, clients: int) -> Tally:
    """Run the closed loop against `scim_url` and return what it measured."""
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=scim_url,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
        },
        limits=limits,
        timeout=_REQUEST_TIMEOUT,
    ) as http:
        run = secrets.token_hex(4)
        loops = [
            Client(http=http, tally=tally, prefix=f"bench{run}.c{number}")
            for number in range(clients)
        ]
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(loop.run_until(deadline) for loop in loops))
    return tally


def _check_local(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"refusing to load {url}: only 127.0.0.1 is benchmarked")


def _admin_token() -> str:
    token = os.environ.get("RIVANE_ADMIN_TOKEN", "")
    if token:
        return token
    path = Path(os.environ.get("RIVANE_ADMIN_TOKEN_FILE", ".data/admin-token"))
    path = path if path.is_absolute() else ROOT / path
    return path.read_text().strip()


def _org_token(base_url: str, admin_token: str) -> str:
    org = f"bench-{secrets.token_hex(6)}"
    response = httpx.post(
        f"{base_url}/admin/orgs/{org}/tokens",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


async def _ensure_database(database_url: str) -> None:
    url = make_url(database_url)
    name = url.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"unexpected database name {name!r}")
    # CREATE DATABASE runs outside a transaction, from the main database.
    engine = create_async_engine(
        url.set(database="rivane"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            exists = (
                await connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": name},
                )
            ).first()
            if exists is None:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


def _database_url() -> str:
    return os.environ.get(
        "RIVANE_BENCH_DATABASE_URL"
    ) or get_settings().sibling_database_url("rivane_bench")


def _groups_database_url() -> str | None:
    """Return the database the groups benchmark may write its setup to."""
    if os.environ.get("RIVANE_BENCH_URL") and not os.environ.get(
        "RIVANE_BENCH_DATABASE_URL"
    ):
        # A running gateway's database is not ours to fill with 50,000 users.
        return None
    return _database_url()


@contextmanager
def _target() -> Iterator[tuple[str, str, str]]:
    """Yield the gateway's base URL, an org's SCIM token and the admin credential."""
    given = os.environ.get("RIVANE_BENCH_URL", "").rstrip("/")
    if given:
        _check_local(given)
        admin_token = _admin_token()
        token = os.environ.get("RIVANE_BENCH_TOKEN") or _org_token(given, admin_token)
        yield given, token, admin_token
        return

    database_url = _database_url()
    if make_url(database_url).host not in LOCAL_HOSTS:
        raise SystemExit("refusing a database that is not on 127.0.0.1")
    asyncio.run(_ensure_database(database_url))
    reset_database(database_url)
    # A benchmark measures throughput: its stack limits no token's rate.
    os.environ.setdefault("RIVANE_RATE_LIMIT_PER_SECOND", "0")
    with running_stack(
        database_url=database_url,
        kafka_bootstrap=os.environ.get("RIVANE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
        log_dir=ROOT / ".data" / "bench-logs",
    ) as stack:
        token = _org_token(stack.base_url, stack.admin_token)
        yield stack.base_url, token, stack.admin_token


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when any request failed."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--revocation-users", type=int, default=200)
    parser.add_argument("--revocation-rate", type=float, default=20.0)
    parser.add_argument("--group-members", type=int, default=50_000)
    parser.add_argument("--group-runs", type=int, default=50)
    parser.add_argument("--bulk-users", type=int, default=1_000)
    parser.add_argument("--bulk-big-users", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or not 1 <= args.clients <= 1024:
        parser.error("--seconds must be positive and --clients between 1 and 1024")
    if args.revocation_users < 0 or args.revocation_rate <= 0:
        parser.error("--revocation-users must be >= 0, --revocation-rate positive")

    with _target() as (base_url, token, admin_token):
        tally = asyncio.run(
            load(
                scim_url=f"{base_url}/scim/v2",
                token=token,
                seconds=args.seconds,
                clients=args.clients,
            )
        )
        revocation = asyncio.run(
            bench_revocation.measure(
                base_url=base_url,
                admin_token=admin_token,
                users=args.revocation_users,
                rate=args.revocation_rate,
            )
        )
        groups = asyncio.run(
            bench_groups.measure(
                base_url=base_url,
                token=_org_token(base_url, admin_token),
                admin_token=admin_token,
                database_url=_groups_database_url(),
                members=args.group_members,
                runs=args.group_runs,
            )
        )
        bulk = asyncio.run(
            bench_bulk.measure(
                base_url=base_url,
                token=_org_token(base_url, admin_token),
                users=args.bulk_users,
                big_users=args.bulk_big_users,
            )
        )
    print(report(tally, seconds=args.seconds, clients=args.clients))
    for sample in tally.samples:
        print(f"error: {sample}", file=sys.stderr)
    print()
    print(bench_revocation.report(revocation))
    for problem in revocation.errors[:_SHOWN_ERRORS]:
        print(f"error: revocation: {problem}", file=sys.stderr)
    print()
    print(bench_groups.report(groups))
    for problem in groups.errors[:_SHOWN_ERRORS]:
        print(f"error: groups: {problem}", file=sys.stderr)
    print()
    print(bench_bulk.report(bulk))
    for problem in bulk.errors[:_SHOWN_ERRORS]:
        print(f"error: bulk: {problem}", file=sys.stderr)
    failed = tally.error_count or revocation.errors or groups.errors or bulk.errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
