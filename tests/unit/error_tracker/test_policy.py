"""What a replay's status does to an error, and the waits between replays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.error_tracker.policy import Backoff, first_retry_in, judge

BACKOFF = Backoff(base_seconds=5, max_seconds=60, max_attempts=4)
REVOKE = "/rivane.session_revocation.v1.SessionRevocationService/RevokeUser"
CREATE = "/rivane.identity.v1.IdentityService/CreateUser"
RECONCILE = "/rivane.group_mapping.v1.GroupMappingService/ReconcileGroupRoles"


def _judge(
    kind: str, method: str, code: str, auto_attempts: int = 0
) -> tuple[str, timedelta | None]:
    verdict = judge(
        kind=kind,
        method=method,
        status_code=code,
        auto_attempts=auto_attempts,
        backoff=BACKOFF,
    )
    return verdict.state, verdict.retry_in


def test_judge_ok_resolves() -> None:
    assert _judge("REVOCATION_FAILED", REVOKE, "OK") == ("RESOLVED", None)


def test_judge_already_exists_for_a_create_resolves_as_already_applied() -> None:
    verdict = judge(
        kind="BULK_OPERATION_FAILED",
        method=CREATE,
        status_code="ALREADY_EXISTS",
        auto_attempts=0,
        backoff=BACKOFF,
    )
    assert verdict.state == "RESOLVED"
    assert verdict.detail == "already applied"


def test_judge_already_exists_for_another_method_fails() -> None:
    assert _judge("BULK_OPERATION_FAILED", REVOKE, "ALREADY_EXISTS")[0] == "FAILED"


@pytest.mark.parametrize(
    "code", ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"]
)
def test_judge_transient_code_of_a_transient_kind_stays_open_with_backoff(
    code: str,
) -> None:
    assert _judge("EVENT_NOT_PUBLISHED", REVOKE, code, auto_attempts=2) == (
        "OPEN",
        timedelta(seconds=20),
    )


def test_judge_transient_code_after_the_last_auto_attempt_fails() -> None:
    assert _judge("REVOCATION_FAILED", REVOKE, "UNAVAILABLE", auto_attempts=4) == (
        "FAILED",
        None,
    )


def test_judge_unmapped_group_still_unmapped_stays_open_without_auto_retry() -> None:
    assert _judge("UNMAPPED_GROUP", RECONCILE, "FAILED_PRECONDITION") == ("OPEN", None)


def test_judge_unmapped_group_unreachable_stays_open_without_auto_retry() -> None:
    assert _judge("UNMAPPED_GROUP", RECONCILE, "UNAVAILABLE") == ("OPEN", None)


@pytest.mark.parametrize("code", ["INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL"])
def test_judge_other_codes_fail(code: str) -> None:
    assert _judge("REVOCATION_FAILED", REVOKE, code) == ("FAILED", None)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [BACKOFF.delay(n).total_seconds() for n in range(6)]
    assert delays == [5, 10, 20, 40, 60, 60]


def test_backoff_of_a_huge_attempt_count_is_the_cap() -> None:
    assert BACKOFF.delay(10_000) == timedelta(seconds=60)


def test_first_retry_in_only_for_transient_kinds() -> None:
    assert first_retry_in("EVENT_NOT_PUBLISHED", BACKOFF) == timedelta(seconds=5)
    assert first_retry_in("UNMAPPED_GROUP", BACKOFF) is None


def test_first_retry_in_none_when_auto_retries_are_off() -> None:
    off = Backoff(base_seconds=5, max_seconds=60, max_attempts=0)
    assert first_retry_in("REVOCATION_FAILED", off) is None
