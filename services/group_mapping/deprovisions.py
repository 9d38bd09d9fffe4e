"""Drop the memberships of deleted users, as `scim.user_deprovisioned` reports them.

The identity service publishes `scim.user_deprovisioned` with action
DEPROVISION when a user is deleted (a deactivation, action DEACTIVATE, keeps
the user in their groups). For each, the user leaves every group in one
transaction: the groups' versions move on, each gets an audit row, and the
user's roles, if any, change to none.

The consumer group is `settings.group_mapping_consumer_group`; offsets are
committed after the changes, so an event is applied at least once, and
applying one twice changes nothing the second time. An event that still
cannot be applied after a few tries is reported to the error tracker
(DOWNSTREAM_CALL_FAILED, keyed by the event id, replayed with
`DropDeprovisionedUser`) and then retried as before; once it is applied, the
error is resolved.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as error_pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2 as pb
from services.common.error_reports import ErrorReporter, operation
from services.group_mapping import audit
from services.group_mapping.context import ChangeContext, Source, parse_id
from services.group_mapping.events import Cause, RoleChange, add_role_events
from services.group_mapping.members import id_array
from services.group_mapping.models import AuditAction, GroupMembership, ScimGroup
from services.group_mapping.roles import lock_org_roles, roles_elsewhere
from services.group_mapping.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

DEPROVISIONED_TOPIC = "scim.user_deprovisioned"
DEPROVISION = "DEPROVISION"
_MEMBERS = GroupMembership.__table__.c
_BATCH = 200
# Tries of one event before it is reported; the listener goes on retrying.
_TRIES_BEFORE_REPORT = 3
DROP_USER = "/rivane.group_mapping.v1.GroupMappingService/DropDeprovisionedUser"


class MembershipCleaner:
    """Remove a deprovisioned user from every group of their org."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_committed: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_committed = on_committed or (lambda: None)

    async def drop_user(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID, context: ChangeContext
    ) -> int:
        """Remove the user from their groups; return how many they were in."""
        unit = UnitOfWork(self._sessions, on_committed=self._on_committed)
        async with unit as session:
            # Group rows are locked in id order, then the org's roles, as
            # every change of members locks them.
            groups = list(
                (
                    await session.execute(
                        sa.select(ScimGroup)
                        .where(
                            ScimGroup.org_id == org_id,
                            ScimGroup.group_id.in_(
                                sa.select(_MEMBERS.group_id).where(
                                    _MEMBERS.user_id == user_id
                                )
                            ),
                        )
                        .order_by(ScimGroup.group_id)
                        .with_for_update()
                    )
                ).scalars()
            )
            if not groups:
                unit.discard()
                return 0
            await lock_org_roles(session, org_id=org_id)
            roles = await roles_elsewhere(session, group_id=None, user_ids=[user_id])
            roles_before = roles.get(user_id, frozenset())

            left = set(
                (
                    await session.execute(
                        sa.delete(GroupMembership)
                        .where(
                            _MEMBERS.user_id == user_id,
                            _MEMBERS.group_id
                            == sa.any_(id_array(group.group_id for group in groups)),
                        )
                        .returning(_MEMBERS.group_id)
                    )
                ).scalars()
            )
            now = datetime.now(UTC)
            audit_ids = [
                self._left(session, group, user_id=user_id, context=context, now=now)
                for group in groups
                if group.group_id in left
            ]
            if roles_before and audit_ids:
                change = RoleChange(user_id, tuple(sorted(roles_before)), ())
                cause = Cause(
                    org_id=org_id,
                    group_id=None,
                    action=AuditAction.DROP_MEMBER,
                    audit_event_id=audit_ids[0],
                    context=context,
                    occurred_at=now,
                )
                await add_role_events(session, changes=[change], cause=cause)
        return len(audit_ids)

    @staticmethod
    def _left(
        session: AsyncSession,
        group: ScimGroup,
        *,
        user_id: uuid.UUID,
        context: ChangeContext,
        now: datetime,
    ) -> uuid.UUID:
        before = audit.snapshot(group)
        group.version += 1
        group.updated_at = now
        return audit.record(
            session,
            action=AuditAction.DROP_MEMBER,
            group=group,
            before=before,
            after={
                **audit.snapshot(group),
                "membersRemoved": [str(user_id)],
                # The identity service's audit row and event of the deletion.
                **(
                    {"causeEventId": context.cause_event_id}
                    if context.cause_event_id
                    else {}
                ),
            },
            context=context,
            occurred_at=now,
        )


def _arrival(event: dict[str, Any]) -> datetime | None:
    """Return when the deleting request reached the gateway, as the event says."""
    text = event.get("request_received_at")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class DeprovisionListener:
    """Consume `scim.user_deprovisioned` until cancelled; wait out Kafka outages."""

    def __init__(
        self,
        cleaner: MembershipCleaner,
        *,
        bootstrap_servers: str,
        consumer_group: str,
        poll_ms: int = 500,
        max_backoff: float = 5.0,
        reporter: ErrorReporter | None = None,
    ) -> None:
        self._cleaner = cleaner
        self._reporter = reporter
        # Events reported as failed, resolved once applied.
        self._reported: set[str] = set()
        self._bootstrap = bootstrap_servers
        self._consumer_group = consumer_group
        self._poll_ms = poll_ms
        self._max_backoff = max_backoff

    async def run(self) -> None:
        """Apply events as they come; a failure restarts from the last commit."""
        backoff = self._poll_ms / 1000
        while True:
            consumer = AIOKafkaConsumer(
                DEPROVISIONED_TOPIC,
                bootstrap_servers=self._bootstrap,
                group_id=self._consumer_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                while True:
                    batches = await consumer.getmany(
                        timeout_ms=self._poll_ms, max_records=_BATCH
                    )
                    for records in batches.values():
                        for record in records:
                            await self._apply(record)
                    if batches:
                        await consumer.commit()
                    backoff = self._poll_ms / 1000
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka or PostgreSQL away: start again from the committed
                # offsets once they are back; nothing is skipped.
                logger.warning(
                    "deprovision listener stopped (%s: %s); restarting in %.1fs",
                    type(error).__name__,
                    error,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                await _stop(consumer)

    async def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        event = _event(record)
        if event is None or event.get("action") != DEPROVISION:
            return
        org_id = parse_id(str(event.get("org_id", "")))
        user_id = parse_id(str(event.get("user_id", "")))
        if org_id is None or user_id is None:
            logger.warning(
                "skipping a deprovision event without ids at %d", record.offset
            )
            return
        event_id = str(event.get("event_id") or "")
        # The change answers the SCIM request that deleted the user: its
        # arrival is that request's, not the moment the event reached us.
        context = ChangeContext(
            request_id=str(event.get("request_id") or event_id),
            token_id=None,
            received_at=_arrival(event) or datetime.now(UTC),
            source=Source.EVENT,
            cause_event_id=event_id,
        )
        left = await self._drop(
            org_id=org_id, user_id=user_id, event_id=event_id, context=context
        )
        if left:
            logger.info(
                "deprovisioned user %s left %d groups",
                user_id,
                left,
                extra={"org_id": str(org_id), "request_id": context.request_id},
            )

    async def _drop(
        self,
        *,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        event_id: str,
        context: ChangeContext,
    ) -> int:
        """Drop the user, retrying a little; report the event if that fails."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(_TRIES_BEFORE_REPORT),
                wait=wait_exponential(multiplier=self._poll_ms / 1000, max=5),
            ):
                with attempt:
                    left = await self._cleaner.drop_user(
                        org_id=org_id, user_id=user_id, context=context
                    )
        except RetryError as failed:
            error = failed.last_attempt.exception() or failed
            self._report(org_id, user_id, event_id, context, error)
            raise error from failed
        if event_id in self._reported and self._reporter is not None:
            self._reported.discard(event_id)
            self._reporter.resolve(
                org_id=str(org_id),
                kind=error_pb.ERROR_KIND_DOWNSTREAM_CALL_FAILED,
                dedup_keys=[event_id],
                reason="the deprovision event was applied",
            )
        return left

    def _report(
        self,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        event_id: str,
        context: ChangeContext,
        error: BaseException,
    ) -> None:
        if self._reporter is None or not event_id:
            return
        self._reported.add(event_id)
        request = pb.DropDeprovisionedUserRequest(
            org_id=str(org_id),
            user_id=str(user_id),
            event_id=event_id,
            request_id=context.request_id,
        )
        self._reporter.report(
            org_id=str(org_id),
            kind=error_pb.ERROR_KIND_DOWNSTREAM_CALL_FAILED,
            reason_code=type(error).__name__,
            reason=f"removing deleted user {user_id} from their groups failed",
            subject_type="User",
            subject_id=str(user_id),
            dedup_key=event_id,
            operation=operation(
                DROP_USER,
                request,
                summary=f"remove deleted user {user_id} from their groups",
            ),
            request_id=context.request_id,
        )


def _event(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any] | None:
    try:
        event = json.loads(record.value or b"")
    except ValueError:
        logger.warning("skipping an unreadable event at offset %d", record.offset)
        return None
    return event if isinstance(event, dict) else None


async def _stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except Exception as error:
        logger.warning("closing the Kafka consumer failed: %s", error)
