"""How fast access ends and begins: the revocation part of `python -m tests.bench`.

`--revocation-users` users (200) are provisioned over SCIM, each followed at
once by a request for an access token; the time from the creation request to
the token is "creation -> first token". Then every user, each holding a live
token, is deactivated through the gateway at `--revocation-rate` per second
(20), and the token is introspected every 50 ms from the moment the PATCH is
sent until it answers `active: false`; "arrival -> inactive" runs from the
SCIM request's arrival at the gateway (its audit row) to that answer. The
revocation records say which path completed each revocation and when.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import httpx

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_POLL_SECONDS = 0.05
_CREATORS = 8
_INACTIVE_DEADLINE = 90.0


@dataclass
class RevocationFigures:
    """What the revocation benchmark measured, in seconds."""

    users: int
    rate: float
    first_token: list[float] = field(default_factory=list)
    arrival_to_inactive: list[float] = field(default_factory=list)
    arrival_to_revoked: list[float] = field(default_factory=list)
    sources: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


@dataclass
class _Deactivation:
    user_id: str
    token: str
    inactive_at: float = math.nan


def _percentile(values: list[float], percent: float) -> float:
    # Nearest rank: the smallest value with `percent` of the values at or below it.
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _Bench:
    def __init__(
        self, *, base_url: str, admin_token: str, figures: RevocationFigures
    ) -> None:
        self.base_url = base_url
        self.admin = {"Authorization": f"Bearer {admin_token}"}
        self.figures = figures
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=15,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.org = f"bench-revocation-{secrets.token_hex(4)}"
        self.org_id = ""
        self.scim: dict[str, str] = {}

    async def start(self) -> None:
        response = await self.http.post(
            f"/admin/orgs/{self.org}/tokens", headers=self.admin
        )
        response.raise_for_status()
        issued = response.json()
        self.org_id = issued["org_id"]
        self.scim = {
            "Authorization": f"Bearer {issued['token']}",
            "Content-Type": "application/scim+json",
        }

    async def provision(self, serial: int) -> _Deactivation | None:
        """Create a user, then ask for its first token; time the pair."""
        login = f"revocation.{serial}@{self.org}.example.test"
        body = {"schemas": [USER_SCHEMA], "userName": login, "active": True}
        started = time.perf_counter()
        try:
            created = await self.http.post(
                "/scim/v2/Users", json=body, headers=self.scim
            )
            if created.status_code != 201:
                self.figures.errors.append(f"create: {created.status_code}")
                return None
            issued = await self.http.post(
                "/sessions",
                json={"org_id": self.org_id, "user_id": created.json()["id"]},
                headers=self.admin,
            )
        except httpx.HTTPError as error:
            self.figures.errors.append(f"provision: {type(error).__name__}")
            return None
        user_id = created.json()["id"]
        if issued.status_code != 201:
            self.figures.errors.append(f"first token: {issued.status_code}")
            return None
        self.figures.first_token.append(time.perf_counter() - started)
        return _Deactivation(user_id=user_id, token=issued.json()["access_token"])

    async def deactivate(self, target: _Deactivation) -> None:
        """Deactivate a user while polling its token until it is inactive."""
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }
        poller = asyncio.create_task(self._until_inactive(target))
        try:
            response = await self.http.patch(
                f"/scim/v2/Users/{target.user_id}", json=body, headers=self.scim
            )
        except httpx.HTTPError as error:
            self.figures.errors.append(f"deactivate: {type(error).__name__}")
            poller.cancel()
            return
        if response.status_code != 200:
            self.figures.errors.append(f"deactivate: {response.status_code}")
            poller.cancel()
            return
        await poller

    async def _until_inactive(self, target: _Deactivation) -> None:
        deadline = time.monotonic() + _INACTIVE_DEADLINE
        while time.monotonic() < deadline:
            try:
                response = await self.http.post(
                    "/oauth2/introspect",
                    data={"token": target.token},
                    headers=self.admin,
                )
            except httpx.HTTPError as error:
                self.figures.errors.append(f"introspect: {type(error).__name__}")
            else:
                if response.status_code == 200 and not response.json()["active"]:
                    target.inactive_at = time.time()
                    return
            await asyncio.sleep(_POLL_SECONDS)
        self.figures.errors.append(f"still active after {_INACTIVE_DEADLINE:.0f}s")

    async def read_audit(self, target: _Deactivation) -> None:
        """Take the arrival and revocation times from the user's audit chain."""
        response = await self.http.get(
            f"/admin/orgs/{self.org}/users/{target.user_id}/audit", headers=self.admin
        )
        if response.status_code != 200:
            self.figures.errors.append(f"audit: {response.status_code}")
            return
        changes = [c for c in response.json()["changes"] if c["action"] == "DEACTIVATE"]
        if not changes or changes[-1]["revocation"] is None:
            self.figures.errors.append(f"no revocation record for {target.user_id}")
            return
        change = changes[-1]
        arrival = _epoch(change["request_received_at"])
        if not math.isnan(target.inactive_at):
            self.figures.arrival_to_inactive.append(target.inactive_at - arrival)
        self.figures.arrival_to_revoked.append(
            change["revocation"]["latency_ms"] / 1000
        )
        self.figures.sources[change["revocation"]["source"]] += 1


async def measure(
    *, base_url: str, admin_token: str, users: int = 200, rate: float = 20.0
) -> RevocationFigures:
    """Run the revocation benchmark against the gateway at `base_url`."""
    figures = RevocationFigures(users=users, rate=rate)
    bench = _Bench(base_url=base_url, admin_token=admin_token, figures=figures)
    try:
        await bench.start()
        serials = iter(range(users))
        targets: list[_Deactivation] = []

        async def creator() -> None:
            for serial in serials:
                target = await bench.provision(serial)
                if target is not None:
                    targets.append(target)

        await asyncio.gather(*(creator() for _ in range(_CREATORS)))

        # Open loop: the i-th deactivation is sent at i / rate seconds.
        started = time.monotonic()
        runs = []
        for number, target in enumerate(targets):
            await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
            runs.append(asyncio.create_task(bench.deactivate(target)))
        await asyncio.gather(*runs)
        await asyncio.gather(*(bench.read_audit(target) for target in targets))
    finally:
        await bench.http.aclose()
    return figures


def report(figures: RevocationFigures) -> str:
    """Render the figures as a small table, in milliseconds."""
    rows = [
        ("arrival -> inactive", figures.arrival_to_inactive),
        ("arrival -> revoked", figures.arrival_to_revoked),
        ("creation -> token", figures.first_token),
    ]
    sources = ", ".join(f"{n} {source}" for source, n in figures.sources.most_common())
    lines = [
        f"revocation: {figures.users} users, each with a live token, deactivated "
        f"at {figures.rate:g}/s; revoked by {sources or 'nothing'}; "
        f"{len(figures.errors)} errors",
        f"{'from -> to':<22}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for name, values in rows:
        p50, p99 = _percentile(values, 50), _percentile(values, 99)
        top = max(values) if values else math.nan
        lines.append(
            f"{name:<22}{len(values):>7}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}"
            f"{top * 1000:>10.1f}"
        )
    return "\n".join(lines)
