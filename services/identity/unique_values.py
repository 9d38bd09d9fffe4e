"""`uniqueness: server` for the attributes of an org's own extensions (RFC 7643 §7).

Each value is checked under an advisory lock on (org, attribute, value) held
until the transaction ends, so two concurrent writes of one value take turns
and the second finds the first.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from scim2_models import Uniqueness
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Uniqueness as UniquenessError
from services.identity.models import User, is_live
from services.identity.org_schemas import unique_lock_key
from services.identity.scim import jsonb
from services.identity.scim.schema import ResourceSchema, name_of

_ATTRIBUTES = User.__table__.c.attributes


async def check_unique_values(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    schema: ResourceSchema,
    attributes: Mapping[str, Any],
    held: Mapping[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
) -> None:
    """Raise `Uniqueness` when another user of the org holds a value unique to one.

    `held` is what the user held before the write: values it keeps are not
    checked again.
    """
    for urn in sorted(schema.checked_extensions):
        holder = attributes.get(urn)
        if not isinstance(holder, Mapping):
            continue
        before = (held or {}).get(urn) or {}
        for attribute in schema.attributes(extension=urn):
            if attribute.uniqueness != Uniqueness.server:
                continue
            name = name_of(attribute)
            value = holder.get(name)
            if value is None or value == before.get(name):
                continue

            lock = unique_lock_key(
                org_id=org_id, urn=urn, attribute=attribute, value=value
            )
            await session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
            held_value = jsonb.typed(jsonb.extract(_ATTRIBUTES, (urn, name)), attribute)
            wanted = jsonb.typed(sa.literal(value, JSONB), attribute)
            query = sa.select(User.user_id).where(
                User.org_id == org_id,
                is_live(),
                held_value == wanted,
            )
            if user_id is not None:
                query = query.where(User.user_id != user_id)
            if (await session.execute(query.limit(1))).first() is not None:
                raise UniquenessError(
                    f"'{urn}:{name}' must be unique and another user holds the value"
                )
