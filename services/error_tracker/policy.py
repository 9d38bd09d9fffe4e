"""What a replay's status means for an error, and when to try it again.

Pure rules, kept apart from the database so that they read (and are tested)
on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# Kinds whose cause usually goes away by itself: they are replayed
# automatically. An unmapped group waits for an admin to add a mapping.
TRANSIENT_KINDS = frozenset(
    {
        "EVENT_NOT_PUBLISHED",
        "REVOCATION_FAILED",
        "DOWNSTREAM_CALL_FAILED",
        "BULK_OPERATION_FAILED",
    }
)
# Statuses that say "not now" rather than "never".
TRANSIENT_CODES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
)

OPEN = "OPEN"
RETRYING = "RETRYING"
RESOLVED = "RESOLVED"
FAILED = "FAILED"

AUTO = "auto"
ADMIN = "admin"
SOURCE = "source"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential delays between automatic replays, capped, for a bounded count."""

    base_seconds: float
    max_seconds: float
    max_attempts: int

    def delay(self, attempts_made: int) -> timedelta:
        """Return the wait before the next replay after `attempts_made` of them."""
        # 2**n overflows a float long after the cap is reached; stop early.
        exponent = min(max(attempts_made, 0), 32)
        return timedelta(seconds=min(self.base_seconds * 2**exponent, self.max_seconds))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The state an attempt leaves the error in, and the next automatic replay."""

    state: str
    retry_in: timedelta | None
    detail: str


def judge(
    *,
    kind: str,
    method: str,
    status_code: str,
    auto_attempts: int,
    backoff: Backoff,
) -> Verdict:
    """Map the status of a replayed call to the error's next state.

    `auto_attempts` counts the automatic replays made, this one included when
    it is automatic.
    """
    if status_code == "OK":
        return Verdict(RESOLVED, None, "replayed")
    if status_code == "ALREADY_EXISTS" and _is_create(method):
        return Verdict(RESOLVED, None, "already applied")
    if kind == "UNMAPPED_GROUP" and status_code == "FAILED_PRECONDITION":
        return Verdict(OPEN, None, "the group still maps to no role")
    if status_code in TRANSIENT_CODES:
        if kind not in TRANSIENT_KINDS:
            return Verdict(OPEN, None, "not reachable now")
        if auto_attempts >= backoff.max_attempts:
            return Verdict(FAILED, None, "automatic retries ran out")
        return Verdict(OPEN, backoff.delay(auto_attempts), "will retry")
    return Verdict(FAILED, None, "the operation cannot succeed as it is")


def first_retry_in(kind: str, backoff: Backoff) -> timedelta | None:
    """Return when a newly reported error is first replayed, if automatically."""
    if kind not in TRANSIENT_KINDS or backoff.max_attempts == 0:
        return None
    return backoff.delay(0)


def _is_create(method: str) -> bool:
    # "/rivane.identity.v1.IdentityService/CreateUser" -> "CreateUser"
    return method.rsplit("/", 1)[-1].startswith("Create")
