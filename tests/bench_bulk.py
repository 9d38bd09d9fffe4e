"""SCIM Bulk for a first migration: the bulk part of `python -m tests.bench`.

Through the gateway over HTTP: a BulkRequest of `--bulk-users` User POSTs
(1,000), five times with new users each time, then one of `--bulk-big-users`
(10,000); each is timed from sending the request to reading the whole
answer, and every operation must be answered 201. In the same run the same
five 1,000-user requests go to scim2-server (the python-scim reference
server, serving from memory, started here on a free port with its own CLI),
and the ratio of the two medians is printed. The target
is 1,000 users in under 0.5 s, at least 4 times faster than scim2-server.

Alone: `python -m tests.bench_bulk` starts its own stack over the bench
database, as `python -m tests.bench` does, and prints the peak memory of the
gateway and of the identity service as well.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.integration.stack import ROOT, free_port

TARGET_SECONDS = 0.5
# The 1,000-user request is timed this many times on each server, with new
# users each time; the median is shown.
RUNS = 5
SETTLE_SECONDS = 2.0
TARGET_RATIO = 4.0
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
_TIMEOUT = 300.0
_START_DEADLINE = 30.0


@dataclass
class BulkFigures:
    """What the bulk benchmark measured, in seconds."""

    users: int
    big_users: int
    gateway: float | None = None
    gateway_big: float | None = None
    reference: float | None = None
    # Peak resident memory (VmHWM) of processes of the stack, in MiB.
    peak_memory: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def bulk_request(run: str, count: int) -> dict[str, Any]:
    """A BulkRequest of `count` User POSTs, as an IdP's first push sends users."""
    operations = []
    for n in range(count):
        login = f"{run}.{n}@bulk.example.test"
        operations.append(
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": f"user{n}",
                "data": {
                    "schemas": [USER_SCHEMA],
                    "userName": login,
                    "externalId": f"{run}-{n}",
                    "active": True,
                    "displayName": f"Bulk User {n}",
                    "name": {"givenName": "Bulk", "familyName": f"User {n}"},
                    "emails": [{"type": "work", "value": login, "primary": True}],
                },
            }
        )
    return {"schemas": [BULK_REQUEST], "Operations": operations}


async def time_bulk(
    client: httpx.AsyncClient, body: dict[str, Any], figures: BulkFigures, *, name: str
) -> float | None:
    """Send one BulkRequest; return its seconds when every operation got 201."""
    started = time.perf_counter()
    response = await client.post("/Bulk", json=body)
    answer = response.json() if response.status_code == 200 else {}
    seconds = time.perf_counter() - started
    statuses = [str(op.get("status")) for op in answer.get("Operations", [])]
    wanted = len(body["Operations"])
    if response.status_code != 200 or statuses != ["201"] * wanted:
        failed = next(
            (op for op in answer.get("Operations", []) if op.get("status") != "201"),
            None,
        )
        figures.errors.append(
            f"{name}: {response.status_code}, {statuses.count('201')} of {wanted} "
            f"created; first failure: {failed or response.text[:300]}"
        )
        return None
    return seconds


async def measure(
    *, base_url: str, token: str, users: int, big_users: int
) -> BulkFigures:
    """Time the bulks through the gateway, then the same 1,000 on scim2-server."""
    figures = BulkFigures(users=users, big_users=big_users)
    run = secrets.token_hex(4)
    headers = {"Content-Type": "application/scim+json"}
    async with httpx.AsyncClient(
        base_url=f"{base_url}/scim/v2",
        headers={**headers, "Authorization": f"Bearer {token}"},
        timeout=_TIMEOUT,
    ) as gateway:
        # One small bulk first, so that neither side is timed while cold.
        await time_bulk(
            gateway, bulk_request(f"warm{run}", 20), figures, name="warm-up"
        )
        figures.gateway = await _median(
            gateway, run=run, users=users, figures=figures, name="gateway"
        )
        figures.gateway_big = await time_bulk(
            gateway, bulk_request(f"big{run}", big_users), figures, name="gateway big"
        )

    with reference_server() as reference_url:
        async with httpx.AsyncClient(
            base_url=reference_url, headers=headers, timeout=_TIMEOUT
        ) as reference:
            await time_bulk(
                reference, bulk_request(f"warm{run}", 20), figures, name="warm-up"
            )
            figures.reference = await _median(
                reference, run=run, users=users, figures=figures, name="scim2-server"
            )
    return figures


async def _median(
    client: httpx.AsyncClient,
    *,
    run: str,
    users: int,
    figures: BulkFigures,
    name: str,
) -> float | None:
    """Time `RUNS` requests of new users each; the median, or None if one failed.

    Both servers get the same requests: run r creates the same userNames on each.
    """
    times = []
    for attempt in range(RUNS):
        # The outbox relay publishes the last request's events meanwhile:
        # each request is timed with it idle, as the first one is.
        await asyncio.sleep(SETTLE_SECONDS)
        body = bulk_request(f"{run}r{attempt}", users)
        seconds = await time_bulk(client, body, figures, name=name)
        if seconds is None:
            return None
        times.append(seconds)
    return statistics.median(times)


@contextmanager
def reference_server() -> Iterator[str]:
    """Run scim2-server from memory on a free port; yield its SCIM base URL."""
    port = free_port()
    log_dir = ROOT / ".data" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    executable = Path(sys.executable).parent / "scim2-server"
    with (log_dir / "scim2-server.log").open("ab") as out:
        process = subprocess.Popen(
            [str(executable), "--hostname", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/v2"
        _wait_for(f"{url}/ServiceProviderConfig", process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("scim2-server exited early; see .data/bench-logs")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("scim2-server did not answer in time")


def peak_memory_mib(pid: int) -> float | None:
    """Return the peak resident memory of a process in MiB (Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def report(figures: BulkFigures) -> str:
    """Render the figures, the targets and the ratio."""

    def shown(seconds: float | None) -> str:
        return "failed" if seconds is None else f"{seconds:.3f} s"

    lines = [
        f"bulk: {figures.users:,} users through the gateway in one request: "
        f"{shown(figures.gateway)}, median of {RUNS} (target < {TARGET_SECONDS} s)",
        f"bulk: {figures.big_users:,} users through the gateway in one request: "
        f"{shown(figures.gateway_big)}",
        f"bulk: the same {figures.users:,}-user requests on scim2-server "
        f"(in memory): {shown(figures.reference)}, median of {RUNS}",
    ]
    if figures.gateway and figures.reference:
        lines.append(
            f"bulk: gateway {figures.reference / figures.gateway:.1f} times faster "
            f"than scim2-server (target >= {TARGET_RATIO:.0f})"
        )
    for name, mib in figures.peak_memory.items():
        lines.append(f"bulk: peak memory of {name}: {mib:.0f} MiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bulk benchmark alone on a stack of its own; 1 when a bulk failed."""
    # Imported here: tests.bench imports this module for its bulk part.
    from tests import bench
    from tests.integration.stack import reset_database, running_stack

    parser = argparse.ArgumentParser(
        prog="python -m tests.bench_bulk", description=__doc__
    )
    parser.add_argument("--bulk-users", type=int, default=1_000)
    parser.add_argument("--bulk-big-users", type=int, default=10_000)
    args = parser.parse_args(argv)

    # The stack of `python -m tests.bench`, kept here to read its processes.
    database_url = bench._database_url()
    asyncio.run(bench._ensure_database(database_url))
    reset_database(database_url)
    with running_stack(
        database_url=database_url,
        kafka_bootstrap=os.environ.get("RIVANE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
        log_dir=ROOT / ".data" / "bench-logs",
    ) as stack:
        token = bench._org_token(stack.base_url, stack.admin_token)
        figures = asyncio.run(
            measure(
                base_url=stack.base_url,
                token=token,
                users=args.bulk_users,
                big_users=args.bulk_big_users,
            )
        )
        for name in ("gateway", "identity"):
            mib = peak_memory_mib(stack.processes[name].pid)
            if mib is not None:
                figures.peak_memory[name] = mib
    print(report(figures))
    for problem in figures.errors:
        print(f"error: bulk: {problem}", file=sys.stderr)
    return 1 if figures.errors else 0


if __name__ == "__main__":
    sys.exit(main())
