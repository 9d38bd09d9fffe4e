"""The identity service's word on a user, trusted for a few seconds only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from services.session_revocation.errors import IdentityUnavailable
from services.session_revocation.users import UNKNOWN, UserStatuses

ORG = "0b7f6c2e-0000-4000-8000-00000000a11c"
USER = "4e796e78-0000-4000-8000-0000000000a1"


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="fake"
    )


@dataclass
class FakeIdentityStub:
    answers: list[str | grpc.StatusCode] = field(default_factory=list)
    asked: int = 0

    async def GetUser(self, request: Any, **options: Any) -> Any:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, grpc.StatusCode):
            raise _rpc_error(answer)
        return type("User", (), {"status": answer})()


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_answer_is_trusted_for_the_cache_time_only() -> None:
    stub, clock = FakeIdentityStub(answers=["ACTIVE", "INACTIVE"]), Clock()
    users = UserStatuses(stub, cache_seconds=10, clock=clock)

    assert await users.status(org_id=ORG, user_id=USER) == "ACTIVE"
    clock.now += 9.9
    assert await users.status(org_id=ORG, user_id=USER) == "ACTIVE"
    clock.now += 0.1
    assert await users.status(org_id=ORG, user_id=USER) == "INACTIVE"
    assert stub.asked == 2


async def test_a_fresh_question_skips_the_cache_and_refreshes_it() -> None:
    stub, clock = FakeIdentityStub(answers=["INACTIVE", "ACTIVE"]), Clock()
    users = UserStatuses(stub, cache_seconds=10, clock=clock)

    assert await users.status(org_id=ORG, user_id=USER) == "INACTIVE"
    assert await users.status(org_id=ORG, user_id=USER, fresh=True) == "ACTIVE"
    assert await users.status(org_id=ORG, user_id=USER) == "ACTIVE"
    assert stub.asked == 2


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED]
)
async def test_a_user_the_identity_service_does_not_know_is_unknown(
    code: grpc.StatusCode,
) -> None:
    users = UserStatuses(FakeIdentityStub(answers=[code]), cache_seconds=10)

    assert await users.status(org_id=ORG, user_id=USER) == UNKNOWN


async def test_an_unreachable_identity_service_is_an_error_not_an_answer() -> None:
    users = UserStatuses(
        FakeIdentityStub(answers=[grpc.StatusCode.UNAVAILABLE]), cache_seconds=10
    )

    with pytest.raises(IdentityUnavailable):
        await users.status(org_id=ORG, user_id=USER)
