"""The rules of SCIM users: lifecycle, uniqueness, audit and events, atomically."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.errors import (
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Uniqueness,
    clipped,
)
from services.identity.events import UserFacts, user_event_row
from services.identity.models import (
    AuditAction,
    OutboxEvent,
    ProvisioningAudit,
    User,
    UserStatus,
    fold_case,
    is_live,
)
from services.identity.org_schemas import OrgSchemas
from services.identity.revocation import AccessRemoved
from services.identity.scim.filters import compile_user_filter, user_sort_key
from services.identity.scim.patch import apply_patch
from services.identity.scim.resource import (
    normalize_user,
    visible_attributes,
    with_lifecycle,
)
from services.identity.scim.schema import ResourceSchema
from services.identity.unique_values import check_unique_values

logger = logging.getLogger(__name__)

UNIQUE_USER_NAME_INDEX = "uq_user_org_user_name"
USER_ORG_FOREIGN_KEY = "user_org_id_fkey"


@dataclass(frozen=True, slots=True)
class ChangeContext:
    """Who asked for a change and when the request arrived, for the audit trail."""

    request_id: str
    token_id: uuid.UUID | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of a user listing."""

    total_results: int
    users: list[User]


def parse_id(value: str) -> uuid.UUID | None:
    """Return `value` as a UUID, or None when it cannot be one of our ids."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _status_for(attributes: dict[str, Any]) -> UserStatus:
    return UserStatus.ACTIVE if attributes.get("active", True) else UserStatus.INACTIVE


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to provision, as its `user` row is written; no ORM state to build."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    user_name: str
    external_id: str | None
    status: UserStatus
    attributes: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_attributes(
        cls, *, org_id: uuid.UUID, attributes: dict[str, Any], now: datetime
    ) -> NewUser:
        """Return a user to provision from its validated attributes, at version 1."""
        return cls(
            user_id=uuid.uuid4(),
            org_id=org_id,
            user_name=attributes["userName"],
            external_id=attributes.get("externalId"),
            status=_status_for(attributes),
            attributes=attributes,
            version=1,
            created_at=now,
            updated_at=now,
        )

    def row(self) -> dict[str, Any]:
        """Return the values of its `user` row, by column name."""
        return {
            "user_id": self.user_id,
            "org_id": self.org_id,
            "user_name": self.user_name,
            "external_id": self.external_id,
            "status": self.status,
            "attributes": self.attributes,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def new_user(*, org_id: uuid.UUID, attributes: dict[str, Any], now: datetime) -> User:
    """Return a user to provision, as the ORM instance a single create adds."""
    user = NewUser.from_attributes(org_id=org_id, attributes=attributes, now=now)
    return User(**user.row())


def _action_for(before: User, after_status: UserStatus) -> AuditAction:
    if before.status == UserStatus.ACTIVE and after_status == UserStatus.INACTIVE:
        return AuditAction.DEACTIVATE
    if before.status == UserStatus.INACTIVE and after_status == UserStatus.ACTIVE:
        return AuditAction.REACTIVATE
    return AuditAction.UPDATE


def _check_version(user: User, expected_version: int) -> None:
    """Refuse a write whose If-Match names another version (RFC 7644 §3.14)."""
    if expected_version and expected_version != user.version:
        raise PreconditionFailed(f'version mismatch: the user is at W/"{user.version}"')


def _snapshot(user: UserFacts) -> dict[str, Any]:
    return {
        "status": user.status,
        "version": user.version,
        "attributes": user.attributes,
    }


class UserService:
    """Create, read, list, replace, patch and deprovision the users of an org."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_committed: Callable[[], None] | None = None,
        on_access_removed: Callable[[AccessRemoved], None] | None = None,
        schemas: OrgSchemas | None = None,
    ) -> None:
        self._sessions = sessions
        # Each org's User schema: the built-in ones and those it registered.
        self._schemas = schemas or OrgSchemas(sessions)
        # Wakes the outbox relay as soon as an event is committed.
        self._on_committed = on_committed or (lambda: None)
        # The revocation fast path, told after a deactivation or deletion.
        self._on_access_removed = on_access_removed or (lambda _change: None)

    async def create(
        self, *, org_id: uuid.UUID, payload: dict[str, Any], context: ChangeContext
    ) -> User:
        """Provision a new user from a SCIM User body."""
        async with self._unit_of_work() as session:
            schema = await self._schemas.load(session, org_id=org_id, lock=True)
            attributes = normalize_user(payload, schema=schema)
            user = new_user(org_id=org_id, attributes=attributes, now=datetime.now(UTC))
            await self._check_user_name_free(
                session, org_id=org_id, user_name=user.user_name, user_id=None
            )
            await check_unique_values(
                session, org_id=org_id, schema=schema, attributes=attributes
            )
            session.add(user)
            await session.flush()
            self._record(
                session,
                action=AuditAction.PROVISION,
                before=None,
                user=user,
                context=context,
                schema=schema,
            )
        return user

    async def schema_for(self, *, org_id: uuid.UUID) -> ResourceSchema:
        """Return the User schema of an org: the built-in schemas and its own."""
        return await self._schemas.for_org(org_id=org_id)

    async def get(self, *, org_id: uuid.UUID, user_id: str) -> User:
        """Return a user that has not been deprovisioned, or raise `NotFound`."""
        async with self._sessions() as session:
            return await self._load(session, org_id=org_id, user_id=user_id)

    async def existing(
        self, *, org_id: uuid.UUID, user_ids: list[str]
    ) -> list[uuid.UUID]:
        """Return which of `user_ids` name users of the org not deprovisioned."""
        wanted = {uid for uid in map(parse_id, user_ids) if uid is not None}
        if not wanted:
            return []
        async with self._sessions() as session:
            found = await session.execute(
                select(User.user_id).where(
                    User.user_id.in_(wanted),
                    User.org_id == org_id,
                    is_live(),
                )
            )
            return list(found.scalars())

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        filter_text: str,
        start_index: int,
        count: int,
        sort_by: str = "",
        descending: bool = False,
    ) -> UserPage:
        """Return one page of the org's users matching an RFC 7644 filter."""
        conditions: list[ColumnElement[bool]] = [
            User.org_id == org_id,
            is_live(),
        ]
        schema = await self._schemas.for_org(org_id=org_id)
        if filter_text.strip():
            conditions.append(compile_user_filter(filter_text, schema=schema))

        # RFC 7644 §3.4.2.4: a stable order, so that pages neither repeat nor
        # skip users while nothing changes.
        order: list[Any] = [User.created_at, User.user_id]
        if sort_by:
            key = user_sort_key(sort_by, schema=schema)
            order = [key.desc() if descending else key.asc(), User.user_id]

        async with self._sessions() as session:
            total = (
                await session.execute(select(func.count()).where(*conditions))
            ).scalar_one()
            users: list[User] = []
            if count > 0 and start_index <= total:
                result = await session.execute(
                    select(User)
                    .where(*conditions)
                    .order_by(*order)
                    .offset(start_index - 1)
                    .limit(count)
                )
                users = list(result.scalars())
        return UserPage(total_results=total, users=users)

    async def replace(
        self,
        *,
        org_id: uuid.UUID,
        user_id: str,
        payload: dict[str, Any],
        context: ChangeContext,
        expected_version: int = 0,
    ) -> tuple[User, bool]:
        """Replace a user's attributes with a full SCIM User body (PUT)."""
        return await self._change(
            org_id=org_id,
            user_id=user_id,
            context=context,
            expected_version=expected_version,
            compute=lambda _current, schema: normalize_user(payload, schema=schema),
        )

    async def patch(
        self,
        *,
        org_id: uuid.UUID,
        user_id: str,
        patch_body: dict[str, Any],
        context: ChangeContext,
        expected_version: int = 0,
    ) -> tuple[User, bool]:
        """Apply a SCIM PatchOp atomically; a repeat that changes nothing is a no-op."""
        return await self._change(
            org_id=org_id,
            user_id=user_id,
            context=context,
            expected_version=expected_version,
            compute=lambda current, schema: apply_patch(
                current, patch_body, resource_id=str(parse_id(user_id)), schema=schema
            ),
        )

    async def delete(
        self,
        *,
        org_id: uuid.UUID,
        user_id: str,
        context: ChangeContext,
        expected_version: int = 0,
    ) -> User:
        """Deprovision a user: the record and its audit trail stay, SCIM reads 404."""
        async with self._unit_of_work() as session:
            schema = await self._schemas.load(session, org_id=org_id)
            user = await self._load(session, org_id=org_id, user_id=user_id, lock=True)
            _check_version(user, expected_version)
            before = _snapshot(user)
            now = datetime.now(UTC)
            user.status = UserStatus.DEPROVISIONED
            user.attributes = {**user.attributes, "active": False}
            user.version += 1
            user.updated_at = now
            user.deprovisioned_at = now
            await session.flush()
            event_id = self._record(
                session,
                action=AuditAction.DEPROVISION,
                before=before,
                user=user,
                context=context,
                schema=schema,
            )
        self._committed(
            action=AuditAction.DEPROVISION,
            user=user,
            event_id=event_id,
            context=context,
        )
        return user

    async def _change(
        self,
        *,
        org_id: uuid.UUID,
        user_id: str,
        context: ChangeContext,
        expected_version: int,
        compute: Callable[[dict[str, Any], ResourceSchema], dict[str, Any]],
    ) -> tuple[User, bool]:
        async with self._unit_of_work() as session:
            schema = await self._schemas.load(session, org_id=org_id, lock=True)
            user = await self._load(session, org_id=org_id, user_id=user_id, lock=True)
            _check_version(user, expected_version)

            current = with_lifecycle(
                user.attributes, active=user.status == UserStatus.ACTIVE
            )
            attributes = compute(current, schema)
            if attributes == current:
                # RFC 7644 §3.5.2: repeating a PATCH is harmless; nothing is
                # written, so no version bump, audit record or event.
                return user, False

            if attributes["userName"] != user.user_name:
                await self._check_user_name_free(
                    session,
                    org_id=org_id,
                    user_name=attributes["userName"],
                    user_id=user.user_id,
                )
            await check_unique_values(
                session,
                org_id=org_id,
                schema=schema,
                attributes=attributes,
                held=user.attributes,
                user_id=user.user_id,
            )
            before = _snapshot(user)
            new_status = _status_for(attributes)
            action = _action_for(user, new_status)
            user.attributes = attributes
            user.user_name = attributes["userName"]
            user.external_id = attributes.get("externalId")
            user.status = new_status
            user.version += 1
            user.updated_at = datetime.now(UTC)
            await session.flush()
            event_id = self._record(
                session,
                action=action,
                before=before,
                user=user,
                context=context,
                schema=schema,
            )
        self._committed(action=action, user=user, event_id=event_id, context=context)
        return user, True

    def _committed(
        self,
        *,
        action: AuditAction,
        user: User,
        event_id: uuid.UUID,
        context: ChangeContext,
    ) -> None:
        """Tell the revocation fast path that a committed change removed access."""
        if action in (AuditAction.DEACTIVATE, AuditAction.DEPROVISION):
            self._on_access_removed(
                AccessRemoved(
                    org_id=user.org_id,
                    user_id=user.user_id,
                    event_id=event_id,
                    action=action,
                    request_id=context.request_id,
                    request_received_at=context.received_at,
                    occurred_at=user.updated_at,
                )
            )

    @property
    def schemas(self) -> OrgSchemas:
        """The org schemas every write of this service checks against."""
        return self._schemas

    def unit_of_work(self) -> _UnitOfWork:
        """Return a transaction that wakes the outbox relay once it commits."""
        return self._unit_of_work()

    def _unit_of_work(self) -> _UnitOfWork:
        return _UnitOfWork(self._sessions, on_committed=self._on_committed)

    @staticmethod
    async def _load(
        session: AsyncSession, *, org_id: uuid.UUID, user_id: str, lock: bool = False
    ) -> User:
        uid = parse_id(user_id)
        query = select(User).where(
            User.user_id == uid,
            User.org_id == org_id,
            is_live(),
        )
        if lock:
            query = query.with_for_update()
        user = (
            None if uid is None else (await session.execute(query)).scalar_one_or_none()
        )
        if user is None:
            raise NotFound(f"User {clipped(user_id)} not found")
        return user

    @staticmethod
    async def _check_user_name_free(
        session: AsyncSession,
        *,
        org_id: uuid.UUID,
        user_name: str,
        user_id: uuid.UUID | None,
    ) -> None:
        # Folded by the database on both sides, exactly as the unique index and
        # a userName filter fold, so a name refused here is one a filter finds.
        query = select(User.user_id).where(
            User.org_id == org_id,
            fold_case(User.user_name) == fold_case(literal(user_name, Text)),
            is_live(),
        )
        if user_id is not None:
            query = query.where(User.user_id != user_id)
        if (await session.execute(query.limit(1))).first() is not None:
            raise Uniqueness(f"userName {user_name!r} is already taken in this org")

    @staticmethod
    def _record(
        session: AsyncSession,
        *,
        action: AuditAction,
        before: dict[str, Any] | None,
        user: User,
        context: ChangeContext,
        schema: ResourceSchema,
    ) -> uuid.UUID:
        audit, event = change_rows(
            action=action, before=before, user=user, context=context, schema=schema
        )
        session.add(ProvisioningAudit(**audit))
        session.add(OutboxEvent(**event))
        event_id: uuid.UUID = audit["event_id"]
        logger.info(
            "user %s: %s to version %d",
            user.user_id,
            action,
            user.version,
            extra={"org": str(user.org_id), "request_id": context.request_id},
        )
        return event_id


def change_rows(
    *,
    action: AuditAction,
    before: dict[str, Any] | None,
    user: UserFacts,
    context: ChangeContext,
    schema: ResourceSchema,
    trace_headers: dict[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the `provisioning_audit` and `outbox_event` rows of a change.

    They share one new event id.
    """
    event_id = uuid.uuid4()
    occurred_at = user.updated_at
    # RFC 7643 §7: a value never returned is a secret to every reader: the
    # event's consumers and the trail's alike. The user row keeps it; the
    # trail keeps only the fact that it changed.
    visible = visible_attributes(user.attributes, schema=schema)
    after: dict[str, Any] = {**_snapshot(user), "attributes": visible}
    kept_before, withheld_before = None, {}
    if before is not None:
        shown = visible_attributes(before["attributes"], schema=schema)
        kept_before = {**before, "attributes": shown}
        withheld_before = _withheld(before["attributes"], shown, schema=schema)
    changed = _withheld_changes(
        withheld_before, _withheld(user.attributes, visible, schema=schema)
    )
    if changed:
        after["withheld_changed"] = changed
    audit = {
        "event_id": event_id,
        "org_id": user.org_id,
        "user_id": user.user_id,
        "action": action,
        "source": "SCIM",
        "request_id": context.request_id,
        "token_id": context.token_id,
        "before": kept_before,
        "after": after,
        "version": user.version,
        "request_received_at": context.received_at,
        "occurred_at": occurred_at,
    }
    event = user_event_row(
        event_id=event_id,
        action=action,
        user=user,
        request_id=context.request_id,
        request_received_at=context.received_at,
        occurred_at=occurred_at,
        attributes=visible,
        trace_headers=trace_headers,
    )
    return audit, event


def _withheld(
    attributes: dict[str, Any], visible: dict[str, Any], *, schema: ResourceSchema
) -> dict[str, Any]:
    """Return the values `visible` leaves out of `attributes`, by `urn:name` path."""
    withheld = {}
    # Only an org's extension can declare a value never returned.
    for urn in schema.checked_extensions:
        holder = attributes.get(urn)
        if not isinstance(holder, dict):
            continue
        shown = visible.get(urn) or {}
        for key, value in holder.items():
            if shown.get(key) != value:
                withheld[f"{urn}:{key}"] = value
    return withheld


def _withheld_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return the paths of withheld values that a change set, altered or removed."""
    return sorted(
        path for path in old.keys() | new.keys() if old.get(path) != new.get(path)
    )


class _UnitOfWork:
    """A transaction that maps a lost userName race to `Uniqueness`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_committed: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._on_committed = on_committed
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self._session = self._sessions()
        await self._session.begin()
        return self._session

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._session is not None
        session, self._session = self._session, None
        try:
            if exc_type is not None:
                await session.rollback()
                _raise_if_lost_race(exc)
                return
            try:
                await session.commit()
            except IntegrityError as error:
                await session.rollback()
                _raise_if_lost_race(error)
                raise
            self._on_committed()
        finally:
            await asyncio.shield(session.close())


def _raise_if_lost_race(error: BaseException) -> None:
    if not isinstance(error, IntegrityError):
        return
    # Two concurrent creates of one userName: the unique index decides.
    if UNIQUE_USER_NAME_INDEX in str(error.orig):
        raise Uniqueness("userName is already taken in this org") from error
    # The org comes from a resolved token; one that names no org is no caller.
    if USER_ORG_FOREIGN_KEY in str(error.orig):
        raise Unauthorized("request carries no valid org") from error
