"""Start the application processes of the stack for integration tests.

PostgreSQL, Redis and Kafka are the real ones started by `make infra-up`; the
identity service and the gateway run as subprocesses on free ports against a
database of their own, exactly as `make run` starts them.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common.bearer_tokens import CredentialKind, mint
from services.common.settings import get_settings
from tests.integration.consumer_groups import start_group_at_end

ROOT = Path(__file__).resolve().parents[2]
_EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
# Ports of the test processes are drawn from here up to the ephemeral range.
_LOWEST_PORT = 20000
_PORTS = random.SystemRandom()
_START_DEADLINE = 30.0


def integration_database_url() -> str:
    """Return the database the integration tests reset and use.

    RIVANE_TEST_DATABASE_URL wins; otherwise `rivane_test` on the server of
    RIVANE_DATABASE_URL, so a stack moved to other ports keeps its tests there.
    """
    return os.environ.get("RIVANE_TEST_DATABASE_URL") or (
        get_settings().sibling_database_url("rivane_test")
    )


def free_port() -> int:
    """Return a TCP port on the loopback that nothing listens on right now.

    It is drawn below the kernel's ephemeral range, so that the outgoing
    connections of the stack (to PostgreSQL, Redis, Kafka) cannot take it
    between now and the moment the service binds it.
    """
    low, _ = _ephemeral_range()
    while True:
        port = _PORTS.randrange(_LOWEST_PORT, max(low, _LOWEST_PORT + 1000))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path(_EPHEMERAL_RANGE).read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# The gRPC services of the stack: name, module run with `python -m`, and the
# setting that holds its address. The gateway starts after all of them.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("identity", "services.identity", "RIVANE_IDENTITY_ADDR"),
    ("session_revocation", "services.session_revocation", "RIVANE_REVOCATION_ADDR"),
    ("group_mapping", "services.group_mapping", "RIVANE_GROUP_MAPPING_ADDR"),
    ("error_tracker", "services.error_tracker", "RIVANE_ERROR_TRACKER_ADDR"),
)
# The topics the stack's services consume, each stack in groups of its own.
CONSUMED_TOPICS = ("scim.user_deprovisioned",)


@dataclass
class Stack:
    """Addresses and credentials of a running gateway and its services."""

    base_url: str
    scim_url: str
    admin_token: str
    identity_addr: str
    database_url: str
    kafka_bootstrap: str
    log_dir: Path
    env: dict[str, str]
    addresses: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        """Start service `name` (or "gateway") and wait until it answers."""
        if name == "gateway":
            process = _spawn("gateway", "gateway", self.env, self.log_dir)
            self.processes[name] = process
            _wait_healthy(
                f"{self.base_url}/healthz", process, self.log_dir / "gateway.log"
            )
            return
        module = next(module for svc, module, _ in SERVICES if svc == name)
        process = _spawn(name, module, self.env, self.log_dir)
        self.processes[name] = process
        port = int(self.addresses[name].rsplit(":", 1)[1])
        _wait_port(port, process, self.log_dir / f"{name}.log")

    def start_gateway(self, name: str, **settings: str) -> str:
        """Start one more gateway replica called `name`; return its base URL.

        It shares the stack's services, database and Redis; `settings` are
        RIVANE_* variables of its own, e.g. `RIVANE_RATE_LIMIT_PER_SECOND="2"`.
        `stop(name)` stops it, and so does the end of the stack.
        """
        port = free_port()
        env = {
            **self.env,
            "RIVANE_GATEWAY_METRICS_PORT": str(free_port()),
            **settings,
            "RIVANE_GATEWAY_PORT": str(port),
        }
        process = _spawn(name, "gateway", env, self.log_dir)
        self.processes[name] = process
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{base_url}/healthz", process, self.log_dir / f"{name}.log")
        return base_url

    def stop(self, name: str) -> None:
        """Stop service `name` gracefully (SIGTERM), killing it after 10 s."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _spawn(
    name: str, module: str, env: dict[str, str], log_dir: Path
) -> subprocess.Popen[bytes]:
    # Appending keeps the log of an earlier run of the same service.
    with (log_dir / f"{name}.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time:\n{log.read_text()[-3000:]}")


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open in time:\n{log.read_text()[-3000:]}")


def reset_database(database_url: str) -> None:
    """Drop every table of the test database and migrate it to the newest schema."""
    env = {**os.environ, "RIVANE_DATABASE_URL": database_url}
    script = (
        "import asyncio\n"
        "from sqlalchemy import text\n"
        "from services.identity.db import create_engine\n"
        "async def main():\n"
        f"    engine = create_engine({database_url!r})\n"
        "    async with engine.begin() as c:\n"
        "        await c.execute(text('DROP SCHEMA public CASCADE'))\n"
        "        await c.execute(text('CREATE SCHEMA public'))\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, env=env)
    for migrate in (
        "services.identity.migrate",
        "services.session_revocation.migrate",
        "services.group_mapping.migrate",
        "services.error_tracker.migrate",
    ):
        subprocess.run([sys.executable, "-m", migrate], check=True, cwd=ROOT, env=env)


@contextmanager
def running_stack(
    *, database_url: str, kafka_bootstrap: str, log_dir: Path
) -> Iterator[Stack]:
    """Run every service and the gateway until the block ends."""
    addresses = {name: f"127.0.0.1:{free_port()}" for name, _, _ in SERVICES}
    gateway_port = free_port()
    admin_token = mint(CredentialKind.ADMIN)
    env = {
        **os.environ,
        "RIVANE_DATABASE_URL": database_url,
        "RIVANE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RIVANE_GATEWAY_HOST": "127.0.0.1",
        "RIVANE_GATEWAY_PORT": str(gateway_port),
        "RIVANE_ADMIN_TOKEN": admin_token,
    }
    env.update({setting: addresses[name] for name, _, setting in SERVICES})
    # Metrics on free ports, for tests to scrape; consumers in groups of this
    # stack's own, starting at the end of the topics.
    env["RIVANE_GATEWAY_METRICS_PORT"] = str(free_port())
    env["RIVANE_IDENTITY_METRICS_PORT"] = str(free_port())
    env["RIVANE_REVOCATION_METRICS_PORT"] = str(free_port())
    env["RIVANE_ERROR_TRACKER_METRICS_PORT"] = str(free_port())
    # A stuck outbox is reported within seconds; automatic replays wait long
    # enough that tests see the durable paths and admin retries at work.
    env["RIVANE_OUTBOX_ALERT_AFTER_SECONDS"] = "2"
    env["RIVANE_ERROR_RETRY_BASE_SECONDS"] = "120"
    env["RIVANE_REVOCATION_CONSUMER_GROUP"] = (
        f"session-revocation-{secrets.token_hex(6)}"
    )
    env["RIVANE_GROUP_MAPPING_CONSUMER_GROUP"] = f"group-mapping-{secrets.token_hex(6)}"
    for group_id in (
        env["RIVANE_REVOCATION_CONSUMER_GROUP"],
        env["RIVANE_GROUP_MAPPING_CONSUMER_GROUP"],
    ):
        start_group_at_end(kafka_bootstrap, group_id=group_id, topics=CONSUMED_TOPICS)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name, _, _ in SERVICES:
        (log_dir / f"{name}.log").unlink(missing_ok=True)
    (log_dir / "gateway.log").unlink(missing_ok=True)

    base_url = f"http://127.0.0.1:{gateway_port}"
    stack = Stack(
        base_url=base_url,
        scim_url=f"{base_url}/scim/v2",
        admin_token=admin_token,
        identity_addr=addresses["identity"],
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        log_dir=log_dir,
        env=env,
        addresses=addresses,
    )
    try:
        for name, _, _ in SERVICES:
            stack.start(name)
        stack.start("gateway")
        yield stack
    finally:
        for name in reversed(list(stack.processes)):
            stack.stop(name)
