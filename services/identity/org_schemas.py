"""The User extension schemas of each org: registration, changes, and their use.

Every org's Users carry the core schema and the enterprise extension; an
org's admin adds schemas of its own. A change that could break stored values
is checked against the users holding them, in SQL, and refused while any
does. User writes take a shared lock on the org's schemas for their
transaction and schema changes an exclusive one, so no write can slip a value
past a change's check.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from scim2_models import Attribute, Schema
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.errors import NotFound, ScimError
from services.identity.admin_audit import AdminAction, AdminContext, record_action
from services.identity.models import OrgSchema, User, fold_case, is_live
from services.identity.scim import jsonb
from services.identity.scim.schema import ResourceSchema, name_of
from services.identity.scim.schema_documents import (
    BreakingChange,
    breaking_changes,
    org_user_schema,
    parse_schema_document,
    schema_document,
)

logger = logging.getLogger(__name__)

_ATTRIBUTES = User.__table__.c.attributes


class SchemaInUse(ScimError):
    """A schema change or removal would break values stored users hold."""

    status = 409


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """A schema an org registered, as the admin API shows it."""

    urn: str
    document: dict[str, Any]
    required: bool
    version: int
    created_at: datetime
    updated_at: datetime


class OrgSchemas:
    """Register, list and remove org schemas; give each org its User schema."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # Per org: the (urn, version, required) rows the schema was built from.
        self._cache: dict[uuid.UUID, tuple[tuple[Any, ...], ResourceSchema]] = {}

    async def for_org(self, *, org_id: uuid.UUID) -> ResourceSchema:
        """Return the User schema of an org, for reads."""
        async with self._sessions() as session:
            return await self.load(session, org_id=org_id)

    async def load(
        self, session: AsyncSession, *, org_id: uuid.UUID, lock: bool = False
    ) -> ResourceSchema:
        """Return the User schema of an org as `session` sees it.

        With `lock`, the org's schemas cannot change until the transaction ends.
        """
        if lock:
            await session.execute(
                sa.select(sa.func.pg_advisory_xact_lock_shared(_lock_key(org_id)))
            )
        # One small index read per call: the cache is used only while every
        # version matches, so each replica sees a change at once.
        rows = (
            await session.execute(
                sa.select(OrgSchema.urn, OrgSchema.version, OrgSchema.required)
                .where(OrgSchema.org_id == org_id)
                .order_by(OrgSchema.created_at, OrgSchema.urn)
            )
        ).all()
        key = tuple(tuple(row) for row in rows)
        cached = self._cache.get(org_id)
        if cached is not None and cached[0] == key:
            return cached[1]

        documents = (
            await session.execute(
                sa.select(OrgSchema.document, OrgSchema.required)
                .where(OrgSchema.org_id == org_id)
                .order_by(OrgSchema.created_at, OrgSchema.urn)
            )
        ).all()
        extensions = [Schema.model_validate(row.document) for row in documents]
        required = [row.document["id"] for row in documents if row.required]
        schema = org_user_schema(extensions, required=required)
        self._cache[org_id] = (key, schema)
        return schema

    async def register(
        self,
        *,
        org_id: uuid.UUID,
        document: object,
        required: bool,
        admin: AdminContext,
    ) -> tuple[RegisteredSchema, bool]:
        """Add a schema, or change the one with its URN; say whether it is new.

        Raises:
            InvalidValue: the document is not a Schema this server can serve.
            SchemaInUse: the change would break values stored users hold.
        """
        schema = parse_schema_document(document)
        urn = schema.id or ""
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            await _lock_exclusive(session, org_id)
            row = await _row(session, org_id=org_id, urn=urn)
            if row is None:
                if required:
                    await _refuse_held(session, org_id, _lacking_extension(urn), urn)
                row = OrgSchema(
                    org_id=org_id,
                    urn=urn,
                    document=schema_document(schema),
                    required=required,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
            else:
                old = Schema.model_validate(row.document)
                for change in breaking_changes(old, schema):
                    await _check_change(session, org_id=org_id, urn=urn, change=change)
                if required and not row.required:
                    await _refuse_held(session, org_id, _lacking_extension(urn), urn)
                row.document = schema_document(schema)
                row.required = required
                row.version += 1
                row.updated_at = now
            await session.flush()
            await record_action(
                session,
                admin=admin,
                action=AdminAction.REGISTER_SCHEMA,
                org_id=org_id,
                target=urn,
                details={"version": row.version, "required": required},
            )
            registered = _registered(row)
        logger.info(
            "org schema %s at version %d",
            urn,
            registered.version,
            extra={"org_id": str(org_id), "request_id": admin.request_id},
        )
        return registered, registered.version == 1

    async def list(self, *, org_id: uuid.UUID) -> list[RegisteredSchema]:
        """Return the schemas an org registered, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                sa.select(OrgSchema)
                .where(OrgSchema.org_id == org_id)
                .order_by(OrgSchema.created_at, OrgSchema.urn)
            )
            return [_registered(row) for row in rows]

    async def delete(self, *, org_id: uuid.UUID, urn: str, admin: AdminContext) -> None:
        """Remove a schema, or raise `SchemaInUse` while a user holds values in it."""
        async with self._sessions.begin() as session:
            await _lock_exclusive(session, org_id)
            row = await _row(session, org_id=org_id, urn=urn)
            if row is None:
                raise NotFound(f"no schema {urn!r} in this org")
            held = jsonb.present(jsonb.extract(_ATTRIBUTES, (row.urn,)))
            await _refuse_held(session, org_id, held, f"removing '{row.urn}'")
            await session.delete(row)
            await record_action(
                session,
                admin=admin,
                action=AdminAction.DELETE_SCHEMA,
                org_id=org_id,
                target=row.urn,
                details={"version": row.version},
            )


def _lock_key(org_id: uuid.UUID) -> sa.ColumnElement[Any]:
    return sa.func.hashtextextended(f"org_schema:{org_id}", 0)


async def _lock_exclusive(session: AsyncSession, org_id: uuid.UUID) -> None:
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(org_id))))


async def _row(
    session: AsyncSession, *, org_id: uuid.UUID, urn: str
) -> OrgSchema | None:
    # RFC 7643 §2.1 and §10.2: schema URNs compare ignoring case.
    found = await session.scalars(
        sa.select(OrgSchema).where(
            OrgSchema.org_id == org_id, sa.func.lower(OrgSchema.urn) == urn.lower()
        )
    )
    return found.first()


def _registered(row: OrgSchema) -> RegisteredSchema:
    return RegisteredSchema(
        urn=row.urn,
        document=row.document,
        required=row.required,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _lacking_extension(urn: str) -> sa.ColumnElement[bool]:
    return sa.not_(jsonb.present(jsonb.extract(_ATTRIBUTES, (urn,))))


async def _check_change(
    session: AsyncSession, *, org_id: uuid.UUID, urn: str, change: BreakingChange
) -> None:
    where = f"'{urn}:{change.path}' {change.what}"
    value = jsonb.extract(_ATTRIBUTES, (urn, *change.keys))
    attribute = change.attribute
    if change.what == "becomes unique" and attribute is not None:
        await _refuse_duplicates(session, org_id, value, attribute, where)
        return
    if change.what == "becomes required" and not change.conservative:
        extension = jsonb.present(jsonb.extract(_ATTRIBUTES, (urn,)))
        broken = sa.and_(extension, sa.not_(jsonb.present(value)))
    elif change.what == "narrows canonicalValues" and not change.conservative:
        assert attribute is not None
        broken = sa.and_(jsonb.present(value), _outside(value, attribute))
    else:
        broken = jsonb.present(value)
    await _refuse_held(session, org_id, broken, where)


def _outside(value: sa.ColumnElement[Any], attribute: Attribute) -> Any:
    allowed = [str(v) for v in attribute.canonical_values or ()]
    text = jsonb.as_text(value)
    if attribute.case_exact:
        return sa.not_(text.in_(allowed))
    folded = [fold_case(sa.literal(v, sa.Text)) for v in allowed]
    return sa.not_(fold_case(text).in_(folded))


async def _refuse_held(
    session: AsyncSession, org_id: uuid.UUID, broken: Any, what: str
) -> None:
    count = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(User)
            .where(
                User.org_id == org_id,
                is_live(),
                broken,
            )
        )
    ).scalar_one()
    if count:
        raise SchemaInUse(
            f"{what}: refused while {count} user(s) hold values it breaks"
        )


async def _refuse_duplicates(
    session: AsyncSession,
    org_id: uuid.UUID,
    value: sa.ColumnElement[Any],
    attribute: Attribute,
    what: str,
) -> None:
    compared = jsonb.typed(value, attribute)
    duplicated = (
        await session.execute(
            sa.select(compared)
            .where(
                User.org_id == org_id,
                is_live(),
                compared.is_not(None),
            )
            .group_by(compared)
            .having(sa.func.count() > 1)
            .limit(1)
        )
    ).first()
    if duplicated is not None:
        raise SchemaInUse(f"{what}: refused while users share a value of it")


def unique_lock_key(
    *, org_id: uuid.UUID, urn: str, attribute: Attribute, value: Any
) -> sa.ColumnElement[Any]:
    """Return the advisory lock key of one value of a `uniqueness: server` attribute."""
    prefix = f"unique:{org_id}:{urn.lower()}:{name_of(attribute).lower()}:"
    if isinstance(value, str):
        text: Any = sa.literal(value, sa.Text)
        if not attribute.case_exact:
            text = fold_case(text)
        return sa.func.hashtextextended(sa.literal(prefix, sa.Text).concat(text), 0)
    return sa.func.hashtextextended(prefix + json.dumps(value), 0)
