"""Issuing tokens to active users only, and refusing revoked ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.session_revocation.errors import InvalidRequest, UserNotActive
from services.session_revocation.keys import signing_key_from_pem
from services.session_revocation.sessions import SessionService
from services.session_revocation.store import SessionStore, TokenState
from services.session_revocation.tokens import AccessTokens, Reason
from services.session_revocation.users import UserStatuses

ORG = "0b7f6c2e-0000-4000-8000-00000000a11c"
USER = "4e796e78-0000-4000-8000-0000000000a1"


@dataclass
class Clock:
    now: float = 1_800_000_000.25
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class FakeStore:
    """What `SessionService` needs of `SessionStore`, in memory."""

    issued: list[dict[str, Any]] = field(default_factory=list)
    blocklist: set[str] = field(default_factory=set)
    after: float | None = None

    async def record_issued(self, **fields: Any) -> None:
        self.issued.append(fields)

    async def revoked_after(self, *, org_id: str, user_id: str) -> float | None:
        return self.after

    async def token_state(self, *, org_id: str, user_id: str, jti: str) -> TokenState:
        return TokenState(blocklisted=jti in self.blocklist, revoked_after=self.after)


@dataclass
class FakeUsers:
    status_of: str = "ACTIVE"
    fresh_asks: int = 0

    async def status(self, *, org_id: str, user_id: str, fresh: bool = False) -> str:
        self.fresh_asks += fresh
        return self.status_of


@dataclass
class Service:
    sessions: SessionService
    store: FakeStore
    users: FakeUsers
    clock: Clock


@pytest.fixture
def service() -> Service:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    store, users, clock = FakeStore(), FakeUsers(), Clock()
    sessions = SessionService(
        tokens=AccessTokens(key=signing_key_from_pem(pem), issuer="rivane"),
        store=cast(SessionStore, store),
        users=cast(UserStatuses, users),
        default_ttl_seconds=900,
        max_ttl_seconds=3600,
        clock=clock,
        sleep=clock.sleep,
    )
    return Service(sessions=sessions, store=store, users=users, clock=clock)


async def test_an_active_user_gets_a_token_that_is_recorded_live(
    service: Service,
) -> None:
    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)

    assert signed.claims.exp - signed.claims.iat == 900
    assert service.users.fresh_asks == 1
    (recorded,) = service.store.issued
    assert recorded["jti"] == signed.claims.jti
    assert recorded["expires_at"] == signed.claims.exp
    assert (await service.sessions.check(signed.token)).active


@pytest.mark.parametrize("status", ["INACTIVE", "DEPROVISIONED", "UNKNOWN"])
async def test_a_user_who_is_not_active_gets_no_token(
    service: Service, status: str
) -> None:
    service.users.status_of = status

    with pytest.raises(UserNotActive):
        await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)
    assert service.store.issued == []


async def test_the_lifetime_is_capped(service: Service) -> None:
    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=10**6)

    assert signed.claims.exp - signed.claims.iat == 3600


@pytest.mark.parametrize(
    "fields",
    [
        {"org_id": "acme", "user_id": USER, "ttl_seconds": 0},
        {"org_id": ORG, "user_id": "", "ttl_seconds": 0},
        {"org_id": ORG, "user_id": USER, "ttl_seconds": -1},
    ],
)
async def test_malformed_requests_are_refused(
    service: Service, fields: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequest):
        await service.sessions.issue(**fields)


async def test_a_blocklisted_token_is_revoked(service: Service) -> None:
    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)
    service.store.blocklist.add(signed.claims.jti)

    assert (await service.sessions.check(signed.token)).reason == Reason.REVOKED


async def test_a_token_issued_before_the_latest_revocation_is_revoked(
    service: Service,
) -> None:
    # Never recorded as live (say, Redis lost it): revoked-after still bites.
    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)
    service.store.after = service.clock.now + 0.5
    service.clock.now += 1

    assert (await service.sessions.check(signed.token)).reason == Reason.REVOKED


async def test_a_token_issued_after_a_revocation_in_the_same_second_stays_valid(
    service: Service,
) -> None:
    # Revoked at .25 s, reactivated and issued at .75 s of the same second:
    # a whole-second iat would read as before the revocation, so issuing
    # waits for the next second.
    service.store.after = service.clock.now
    service.clock.now += 0.5

    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)

    assert service.clock.slept and sum(service.clock.slept) <= 1.0
    assert signed.claims.iat > service.store.after
    assert (await service.sessions.check(signed.token)).active


async def test_a_token_of_a_user_no_longer_active_is_refused(service: Service) -> None:
    signed = await service.sessions.issue(org_id=ORG, user_id=USER, ttl_seconds=0)
    service.users.status_of = "INACTIVE"

    verification = await service.sessions.check(signed.token)

    assert verification.reason == Reason.USER_NOT_ACTIVE
    assert verification.claims is not None
