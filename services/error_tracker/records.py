"""The errors and their attempts as stored: report, resolve, claim, finish, read.

Every change of an error's state is written with its attempt row in one
transaction; the attempt rows are the error's audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.error_tracker import paging
from services.error_tracker.models import ErrorAttempt, TrackedError
from services.error_tracker.policy import (
    ADMIN,
    FAILED,
    OPEN,
    RESOLVED,
    RETRYING,
    SOURCE,
)

_ERRORS = TrackedError.__table__.c
_ATTEMPTS = ErrorAttempt.__table__.c


@dataclass(frozen=True, slots=True)
class Report:
    """A failure as a service reports it."""

    org_id: str
    kind: str
    reason_code: str
    reason: str
    subject_type: str
    subject_id: str
    operation: dict[str, str]
    dedup_key: str
    request_id: str
    trace_id: str
    source: str


@dataclass(frozen=True, slots=True)
class ErrorFilter:
    """The filters of a listing; each applies when set."""

    org_id: str = ""
    kind: str = ""
    state: str = ""
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """What one attempt found, to be written with the error's new state."""

    trigger: str
    actor: str
    started_at: datetime
    outcome: str
    status_code: str
    detail: str
    request_id: str
    retry_in: timedelta | None


class ErrorStore:
    """Read and change the errors in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def report(
        self, report: Report, *, first_retry_in: timedelta | None
    ) -> tuple[uuid.UUID, bool]:
        """Record a failure, or join the live error of the same cause."""
        # A concurrent first report of the same cause wins the unique index;
        # the loser then finds its row and joins it.
        for _ in range(3):
            async with self._sessions.begin() as session:
                joined = await self._join(session, report, first_retry_in)
                if joined is not None:
                    return joined, False
                created = await self._insert(session, report, first_retry_in)
                if created is not None:
                    return created, True
        raise RuntimeError("the error was resolved and reported again in a loop")

    async def resolve(
        self,
        *,
        org_id: str,
        kind: str,
        dedup_keys: Sequence[str],
        reason: str,
        source: str,
    ) -> int:
        """Resolve the live errors of these causes; return how many."""
        if not dedup_keys:
            return 0
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            # An error being replayed is resolved too; the replay's outcome,
            # when it comes, leaves it resolved.
            rows = (
                await session.execute(
                    sa.select(TrackedError)
                    .where(
                        _ERRORS.org_id == org_id,
                        _ERRORS.kind == kind,
                        _ERRORS.dedup_key.in_(list(dedup_keys)),
                        _ERRORS.state != RESOLVED,
                    )
                    .with_for_update()
                )
            ).scalars()
            count = 0
            for error in rows:
                _close(error, outcome=RESOLVED, by=source, now=now)
                await _add_attempt(
                    session,
                    error,
                    Finish(
                        trigger=SOURCE,
                        actor=source,
                        started_at=now,
                        outcome=RESOLVED,
                        status_code="",
                        detail=reason or "the cause went away",
                        request_id="",
                        retry_in=None,
                    ),
                    now=now,
                )
                count += 1
        return count

    async def claim(self, error_id: uuid.UUID) -> tuple[TrackedError | None, bool]:
        """Mark an error RETRYING for a replay; say whether this call got it.

        An error already RESOLVED, or being replayed elsewhere, is answered as
        it is, unclaimed: one replay at a time.
        """
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            claimed = (
                await session.execute(
                    sa.update(TrackedError)
                    .where(
                        _ERRORS.error_id == error_id,
                        _ERRORS.state.in_([OPEN, FAILED]),
                    )
                    .values(state=RETRYING, claimed_at=now)
                    .returning(TrackedError)
                )
            ).scalar_one_or_none()
            if claimed is not None:
                return claimed, True
            current = await session.get(TrackedError, error_id)
            return current, False

    async def claim_due(
        self, *, limit: int, stale_after: timedelta
    ) -> list[TrackedError]:
        """Claim the errors whose automatic replay is due; safe across replicas."""
        now = datetime.now(UTC)
        due = sa.or_(
            sa.and_(_ERRORS.state == OPEN, _ERRORS.next_attempt_at <= now),
            # A replica died while it replayed this one.
            sa.and_(_ERRORS.state == RETRYING, _ERRORS.claimed_at < now - stale_after),
        )
        async with self._sessions.begin() as session:
            rows = list(
                (
                    await session.execute(
                        sa.select(TrackedError)
                        .where(due)
                        .order_by(_ERRORS.next_attempt_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for error in rows:
                error.state = RETRYING
                error.claimed_at = now
        return rows

    async def finish(
        self, error_id: uuid.UUID, finish: Finish, *, auto: bool
    ) -> tuple[TrackedError, ErrorAttempt]:
        """Write an attempt's outcome and the error's new state together."""
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            error = (
                await session.execute(
                    sa.select(TrackedError)
                    .where(_ERRORS.error_id == error_id)
                    .with_for_update()
                )
            ).scalar_one()
            error.attempts += 1
            if auto:
                error.auto_attempts += 1
            error.last_retried_by = finish.actor
            error.last_retried_at = now
            error.claimed_at = None
            if error.state == RESOLVED:
                # Its source resolved it while the replay ran.
                finish = replace(
                    finish,
                    outcome=RESOLVED,
                    detail=f"{finish.detail}; resolved by {error.resolved_by}",
                )
            elif finish.outcome in (RESOLVED, FAILED):
                _close(error, outcome=finish.outcome, by=finish.actor, now=now)
            else:
                error.state = finish.outcome
                error.next_attempt_at = (
                    now + finish.retry_in if finish.retry_in is not None else None
                )
            attempt = await _add_attempt(session, error, finish, now=now)
        return error, attempt

    async def get(
        self, error_id: uuid.UUID
    ) -> tuple[TrackedError, list[ErrorAttempt]] | None:
        """Return an error and its attempts, oldest first."""
        async with self._sessions() as session:
            error = await session.get(TrackedError, error_id)
            if error is None:
                return None
            attempts = (
                await session.execute(
                    sa.select(ErrorAttempt)
                    .where(ErrorAttempt.error_id == error_id)
                    .order_by(ErrorAttempt.number)
                )
            ).scalars()
            return error, list(attempts)

    async def page(
        self, where: ErrorFilter, *, limit: int, after: paging.PageKey | None
    ) -> tuple[list[TrackedError], paging.PageKey | None]:
        """Return one page of errors, newest first, and the key of the next."""
        query = sa.select(TrackedError)
        for column, value in (
            (_ERRORS.org_id, where.org_id),
            (_ERRORS.kind, where.kind),
            (_ERRORS.state, where.state),
        ):
            if value:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(_ERRORS.last_seen >= where.since)
        if where.until is not None:
            query = query.where(_ERRORS.last_seen < where.until)
        if after is not None:
            query = query.where(
                sa.tuple_(_ERRORS.last_seen, _ERRORS.error_id)
                < sa.tuple_(sa.literal(after.at), sa.literal(after.row_id))
            )
        query = query.order_by(_ERRORS.last_seen.desc(), _ERRORS.error_id.desc())
        async with self._sessions() as session:
            rows = list((await session.execute(query.limit(limit + 1))).scalars())
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], paging.PageKey(last.last_seen, last.error_id)

    async def admin_retries(
        self, *, org_id: str, limit: int, before: datetime | None
    ) -> list[tuple[ErrorAttempt, TrackedError]]:
        """Return the retries admins asked for, newest first, with their errors."""
        query = (
            sa.select(ErrorAttempt, TrackedError)
            .join(TrackedError, _ERRORS.error_id == _ATTEMPTS.error_id)
            .where(_ATTEMPTS.trigger == ADMIN)
        )
        if org_id:
            query = query.where(_ERRORS.org_id == org_id)
        if before is not None:
            query = query.where(_ATTEMPTS.finished_at < before)
        query = query.order_by(
            _ATTEMPTS.finished_at.desc(), _ATTEMPTS.error_id, _ATTEMPTS.number
        ).limit(limit)
        async with self._sessions() as session:
            rows = (await session.execute(query)).tuples().all()
        return [(attempt, error) for attempt, error in rows]

    async def _join(
        self,
        session: AsyncSession,
        report: Report,
        first_retry_in: timedelta | None,
    ) -> uuid.UUID | None:
        error = (
            await session.execute(
                sa.select(TrackedError)
                .where(
                    _ERRORS.org_id == report.org_id,
                    _ERRORS.kind == report.kind,
                    _ERRORS.dedup_key == report.dedup_key,
                    _ERRORS.state != RESOLVED,
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if error is None:
            return None
        now = datetime.now(UTC)
        error.last_seen = now
        error.occurrences += 1
        error.reason_code = report.reason_code
        error.reason = report.reason
        if error.state == FAILED:
            # Seen again after its retries ran out: it gets a fresh round.
            error.state = OPEN
            error.auto_attempts = 0
            error.next_attempt_at = (
                now + first_retry_in if first_retry_in is not None else None
            )
            await _add_attempt(
                session,
                error,
                Finish(
                    trigger=SOURCE,
                    actor=report.source,
                    started_at=now,
                    outcome=OPEN,
                    status_code="",
                    detail="reported again",
                    request_id=report.request_id,
                    retry_in=None,
                ),
                now=now,
            )
        return error.error_id

    @staticmethod
    async def _insert(
        session: AsyncSession,
        report: Report,
        first_retry_in: timedelta | None,
    ) -> uuid.UUID | None:
        now = datetime.now(UTC)
        inserted = await session.execute(
            insert(TrackedError)
            .values(
                error_id=uuid.uuid4(),
                org_id=report.org_id,
                kind=report.kind,
                reason_code=report.reason_code,
                reason=report.reason,
                subject_type=report.subject_type,
                subject_id=report.subject_id,
                operation=report.operation,
                dedup_key=report.dedup_key,
                state=OPEN,
                first_seen=now,
                last_seen=now,
                occurrences=1,
                attempts=0,
                auto_attempts=0,
                next_attempt_at=(
                    now + first_retry_in if first_retry_in is not None else None
                ),
                last_retried_by="",
                resolved_by="",
                request_id=report.request_id,
                trace_id=report.trace_id,
                source=report.source,
            )
            .on_conflict_do_nothing(
                index_elements=["org_id", "kind", "dedup_key"],
                index_where=sa.text("state <> 'RESOLVED'"),
            )
            .returning(_ERRORS.error_id)
        )
        error_id: uuid.UUID | None = inserted.scalar_one_or_none()
        return error_id


def _close(error: TrackedError, *, outcome: str, by: str, now: datetime) -> None:
    error.state = outcome
    error.next_attempt_at = None
    error.claimed_at = None
    if outcome == RESOLVED:
        error.resolved_at = now
        error.resolved_by = by


async def _add_attempt(
    session: AsyncSession, error: TrackedError, finish: Finish, *, now: datetime
) -> ErrorAttempt:
    number = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.max(ErrorAttempt.number), 0) + 1).where(
                ErrorAttempt.error_id == error.error_id
            )
        )
    ).scalar_one()
    attempt = ErrorAttempt(
        error_id=error.error_id,
        number=number,
        trigger=finish.trigger,
        actor=finish.actor,
        started_at=finish.started_at,
        finished_at=now,
        outcome=finish.outcome,
        status_code=finish.status_code,
        detail=finish.detail[:1000],
        request_id=finish.request_id,
    )
    session.add(attempt)
    return attempt
