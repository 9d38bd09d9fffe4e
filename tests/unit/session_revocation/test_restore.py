"""Revocation times restored from the records after Redis lost its data."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.session_revocation.keys import signing_key_from_pem
from services.session_revocation.records import RevocationRecords
from services.session_revocation.restore import RevocationRestorer
from services.session_revocation.sessions import SessionService
from services.session_revocation.store import RevokedUser, SessionStore, TokenState
from services.session_revocation.tokens import AccessTokens, Reason
from services.session_revocation.users import UserStatuses

ORG = "0b7f6c2e-0000-4000-8000-00000000a11c"
USER = "4e796e78-0000-4000-8000-0000000000a1"
NOW = 1_800_000_000.0


@dataclass
class EmptiedStore:
    """A store whose Redis lost everything, as after a crash without a snapshot."""

    after: dict[tuple[str, str], float] = field(default_factory=dict)
    restored: bool = False
    restores: int = 0
    after_lifetime_seconds: int = 3660

    async def record_issued(self, **_: object) -> None:
        return None

    async def revoked_after(self, *, org_id: str, user_id: str) -> float | None:
        return self.after.get((org_id, user_id))

    async def token_state(self, *, org_id: str, user_id: str, jti: str) -> TokenState:
        return TokenState(
            blocklisted=False,
            revoked_after=self.after.get((org_id, user_id)),
            restored=self.restored,
        )

    async def is_restored(self) -> bool:
        return self.restored

    async def restore(self, users: Sequence[RevokedUser], *, now: float) -> None:
        await asyncio.sleep(0)
        self.restores += 1
        for user in users:
            self.after[(user.org_id, user.user_id)] = user.revoked_after
        self.restored = True


@dataclass
class Records:
    """The user was revoked a minute before the tokens below were checked."""

    asked_since: list[datetime] = field(default_factory=list)

    async def latest_since(self, cutoff: datetime) -> list[tuple[str, str, datetime]]:
        self.asked_since.append(cutoff)
        return [(ORG, USER, datetime.fromtimestamp(NOW - 60, UTC))]


class ActiveUsers:
    async def status(self, *, org_id: str, user_id: str, fresh: bool = False) -> str:
        return "ACTIVE"


def service(store: EmptiedStore, records: Records) -> tuple[SessionService, str]:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    tokens = AccessTokens(key=signing_key_from_pem(pem), issuer="rivane")
    sessions = SessionService(
        tokens=tokens,
        store=cast(SessionStore, store),
        users=cast(UserStatuses, ActiveUsers()),
        default_ttl_seconds=900,
        max_ttl_seconds=3600,
        restorer=RevocationRestorer(
            store=cast(SessionStore, store),
            records=cast(RevocationRecords, records),
            clock=lambda: NOW,
        ),
        clock=lambda: NOW,
    )
    # Issued two minutes ago, before the revocation; the user is ACTIVE again.
    revoked = tokens.sign(
        org_id=ORG, user_id=USER, issued_at=int(NOW) - 120, ttl_seconds=900
    )
    return sessions, revoked.token


async def test_a_token_revoked_before_redis_lost_its_data_stays_revoked() -> None:
    store, records = EmptiedStore(), Records()
    sessions, token = service(store, records)

    verdict = await sessions.check(token)

    assert verdict.reason == Reason.REVOKED
    assert store.restored
    # Only revocations within a token lifetime and its margin matter.
    assert records.asked_since == [datetime.fromtimestamp(NOW - 3660, UTC)]


async def test_concurrent_checks_restore_once() -> None:
    store, records = EmptiedStore(), Records()
    sessions, token = service(store, records)

    verdicts = await asyncio.gather(*(sessions.check(token) for _ in range(5)))

    assert {verdict.reason for verdict in verdicts} == {Reason.REVOKED}
    assert store.restores == 1
    assert len(records.asked_since) == 1


async def test_a_store_that_kept_its_data_is_not_restored() -> None:
    store, records = EmptiedStore(restored=True), Records()
    sessions, token = service(store, records)

    assert (await sessions.check(token)).active
    assert records.asked_since == []
