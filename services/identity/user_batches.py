"""Batches of user creates (SCIM Bulk, RFC 7644 §3.7) in a few round trips.

Every item is validated exactly as a single create validates it. The valid
ones are then checked for a taken `userName` and for `uniqueness: server`
values, against the org's users and against the items before them, in one
query per attribute; the users, their audit rows and their outbox events are
written with multi-row INSERTs in the one transaction of the batch. An item
that fails writes nothing and leaves the others alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa
from scim2_models import Uniqueness as UniquenessCharacteristic
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ScimError, Uniqueness
from services.common.telemetry import inject_headers
from services.identity.models import (
    AuditAction,
    OutboxEvent,
    ProvisioningAudit,
    User,
    fold_case,
    is_live,
)
from services.identity.org_schemas import OrgSchemas, unique_lock_key
from services.identity.scim import jsonb
from services.identity.scim.resource import normalize_user
from services.identity.scim.schema import ResourceSchema, name_of
from services.identity.users import (
    ChangeContext,
    NewUser,
    UserService,
    change_rows,
)

logger = logging.getLogger(__name__)

# More items than this in one call would hold the event loop, which every org
# shares, for too long (validation yields every 100 items meanwhile); the
# gateway sends batches of at most 1,000.
MAX_BATCH = 1000
_VALIDATED_BETWEEN_YIELDS = 100
# A write racing ours for a userName can move where failOnErrors stops; the
# batch is then run again, and finds that write committed.
_ATTEMPTS = 3

_ATTRIBUTES = User.__table__.c.attributes
# Written with Core statements: one INSERT for all the rows of a batch.
_USERS = cast(sa.Table, User.__table__)
_AUDITS = cast(sa.Table, ProvisioningAudit.__table__)
_EVENTS = cast(sa.Table, OutboxEvent.__table__)

Outcome = NewUser | ScimError
"""What became of one item: the user written, or why it was refused."""


@dataclass(frozen=True, slots=True)
class _Claim:
    """A value one item wants that no other user may hold."""

    rule: str
    # The value in the form the database compares it in.
    key: Any
    # Whether a user of the org already holds it.
    taken: bool


class _LostRace(Exception):
    """A concurrent transaction took a userName the batch found free."""


class UserBatches:
    """Create many users of an org in one transaction, with the rules of one."""

    def __init__(self, users: UserService) -> None:
        self._users = users

    async def create(
        self,
        *,
        org_id: uuid.UUID,
        payloads: Sequence[dict[str, Any] | ScimError],
        context: ChangeContext,
        max_errors: int = 0,
    ) -> list[Outcome]:
        """Provision the users of `payloads`; return one outcome per item processed.

        A payload may already be the error its parsing raised. With
        `max_errors`, processing stops at the item that makes that many
        failures (RFC 7644 §3.7.3): the items after it are neither written
        nor returned.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._users.unit_of_work() as session:
                    return await _create(
                        session,
                        schemas=self._users.schemas,
                        org_id=org_id,
                        payloads=payloads,
                        context=context,
                        max_errors=max_errors,
                    )
            except _LostRace:
                logger.warning(
                    "batch of %d users lost a userName race (attempt %d); "
                    "running it again",
                    len(payloads),
                    attempt,
                    extra={"org_id": str(org_id), "request_id": context.request_id},
                )
        raise Uniqueness("userName values of this batch are being taken concurrently")


async def _create(
    session: AsyncSession,
    *,
    schemas: OrgSchemas,
    org_id: uuid.UUID,
    payloads: Sequence[dict[str, Any] | ScimError],
    context: ChangeContext,
    max_errors: int,
) -> list[Outcome]:
    schema = await schemas.load(session, org_id=org_id, lock=True)
    now = datetime.now(UTC)
    outcomes: list[Outcome] = []
    for start in range(0, len(payloads), _VALIDATED_BETWEEN_YIELDS):
        if start:
            # Validation is CPU work: let other orgs' requests run meanwhile.
            await asyncio.sleep(0)
        outcomes.extend(
            _validated(payload, org_id=org_id, schema=schema, now=now)
            for payload in payloads[start : start + _VALIDATED_BETWEEN_YIELDS]
        )
    users = [outcome for outcome in outcomes if isinstance(outcome, NewUser)]
    claims = await _claims(session, org_id=org_id, schema=schema, users=users)
    outcomes = _settle(outcomes, claims=claims, max_errors=max_errors)

    accepted = [outcome for outcome in outcomes if isinstance(outcome, NewUser)]
    written = await _insert(session, accepted)
    lost = {user.user_id for user in accepted if user.user_id not in written}
    if lost and max_errors:
        raise _LostRace
    outcomes = [
        Uniqueness(f"userName {o.user_name!r} is already taken in this org")
        if isinstance(o, NewUser) and o.user_id in lost
        else o
        for o in outcomes
    ]

    await _record(session, outcomes, context=context, schema=schema)
    logger.info(
        "batch of %d users: %d provisioned, %d refused",
        len(payloads),
        len(written),
        len(outcomes) - len(written),
        extra={"org_id": str(org_id), "request_id": context.request_id},
    )
    return outcomes


def _validated(
    payload: dict[str, Any] | ScimError,
    *,
    org_id: uuid.UUID,
    schema: ResourceSchema,
    now: datetime,
) -> Outcome:
    if isinstance(payload, ScimError):
        return payload
    try:
        attributes = normalize_user(payload, schema=schema)
    except ScimError as error:
        return error
    return NewUser.from_attributes(org_id=org_id, attributes=attributes, now=now)


def _settle(
    outcomes: list[Outcome], *, claims: dict[uuid.UUID, list[_Claim]], max_errors: int
) -> list[Outcome]:
    """Refuse the items whose values are held, by the org or by an earlier item.

    Only an item that is accepted claims its values, so one refused for its
    userName does not make a later item's unique value look taken.
    """
    claimed: set[tuple[str, Any]] = set()
    settled: list[Outcome] = []
    errors = 0
    for outcome in outcomes:
        if isinstance(outcome, NewUser):
            wanted = claims.get(outcome.user_id, [])
            refusal = _refusal(outcome, wanted, claimed=claimed)
            if refusal is None:
                claimed.update((claim.rule, claim.key) for claim in wanted)
            else:
                outcome = refusal
        settled.append(outcome)
        if isinstance(outcome, ScimError):
            errors += 1
            if max_errors and errors >= max_errors:
                break
    return settled


def _refusal(
    user: NewUser, wanted: list[_Claim], *, claimed: set[tuple[str, Any]]
) -> ScimError | None:
    for claim in wanted:
        earlier = (claim.rule, claim.key) in claimed
        if not (claim.taken or earlier):
            continue
        holder = "an earlier user of this request" if earlier else "another user"
        if claim.rule == "userName":
            return Uniqueness(
                f"userName {user.user_name!r} is already taken by {holder}"
            )
        return Uniqueness(f"'{claim.rule}' must be unique and {holder} holds the value")
    return None


async def _claims(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    schema: ResourceSchema,
    users: list[NewUser],
) -> dict[uuid.UUID, list[_Claim]]:
    """Return, per user, the values it wants unique and whether each is held."""
    claims: dict[uuid.UUID, list[_Claim]] = {user.user_id: [] for user in users}
    if not users:
        return claims

    # RFC 7643 §4.1.1: userName folded as the unique index folds it.
    names = _wanted([(user.user_id, user.user_name) for user in users], sa.Text)
    key = fold_case(names.c.value)
    held = sa.exists().where(
        User.org_id == org_id,
        is_live(),
        fold_case(User.user_name) == key,
    )
    await _collect(
        session, claims, rule="userName", query=sa.select(names.c.id, key, held)
    )

    # In the order a single create takes the advisory locks, so that two
    # writers of the same values always queue in the same order.
    for urn in sorted(schema.checked_extensions):
        for attribute in schema.attributes(extension=urn):
            if attribute.uniqueness != UniquenessCharacteristic.server:
                continue
            name = name_of(attribute)
            values = [
                (user.user_id, holder[name])
                for user in users
                if isinstance(holder := user.attributes.get(urn), dict)
                and holder.get(name) is not None
            ]
            if not values:
                continue
            await _lock_values(
                session,
                [
                    unique_lock_key(
                        org_id=org_id, urn=urn, attribute=attribute, value=v
                    )
                    for _, v in values
                ],
            )
            wanted = _wanted([(uid, json.dumps(v)) for uid, v in values], sa.Text)
            key = jsonb.typed(sa.cast(wanted.c.value, JSONB), attribute)
            held_value = jsonb.typed(jsonb.extract(_ATTRIBUTES, (urn, name)), attribute)
            held = sa.exists().where(
                User.org_id == org_id,
                is_live(),
                held_value == key,
            )
            await _collect(
                session,
                claims,
                rule=f"{urn}:{name}",
                query=sa.select(wanted.c.id, key, held),
            )
    return claims


def _wanted(rows: list[tuple[uuid.UUID, Any]], value_type: Any) -> Any:
    """Return `rows` as a table (id, value), sent as two array parameters."""
    ids = sa.literal([str(uid) for uid, _ in rows], ARRAY(sa.Text))
    values = sa.literal([value for _, value in rows], ARRAY(value_type))
    return (
        sa.func.unnest(ids, values)
        .table_valued("id", "value")
        .render_derived(name="wanted")
    )


async def _collect(
    session: AsyncSession,
    claims: dict[uuid.UUID, list[_Claim]],
    *,
    rule: str,
    query: Any,
) -> None:
    for user_id, key, taken in await session.execute(query):
        claims[uuid.UUID(user_id)].append(_Claim(rule=rule, key=key, taken=taken))


async def _lock_values(session: AsyncSession, keys: list[Any]) -> None:
    """Take the advisory locks of many values in one statement, in key order."""
    unnested = sa.select(sa.func.unnest(array(keys)).label("key")).subquery()
    ordered = sa.select(unnested.c.key).order_by(unnested.c.key).subquery()
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(ordered.c.key)))


async def _insert(session: AsyncSession, users: list[NewUser]) -> set[uuid.UUID]:
    """Insert the users in one statement; return the ids of those written.

    A userName taken since the check (by a concurrent write, which the unique
    index waits for) leaves its row out instead of failing the batch.
    """
    if not users:
        return set()
    written = await _insert_rows(
        session,
        _USERS,
        [user.row() for user in users],
        conflicts="nothing",
        returning=_USERS.c.user_id,
    )
    return set(written)


async def _record(
    session: AsyncSession,
    outcomes: list[Outcome],
    *,
    context: ChangeContext,
    schema: ResourceSchema,
) -> None:
    """Write each new user's audit row and event, as a single create writes them."""
    # Every event of the batch is written in this one span.
    headers = inject_headers()
    audits, events = [], []
    for outcome in outcomes:
        if isinstance(outcome, NewUser):
            audit, event = change_rows(
                action=AuditAction.PROVISION,
                before=None,
                user=outcome,
                context=context,
                schema=schema,
                trace_headers=headers,
            )
            audits.append(audit)
            events.append(event)
    if audits:
        await _insert_rows(session, _AUDITS, audits)
        await _insert_rows(session, _EVENTS, events)


async def _insert_rows(
    session: AsyncSession,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    conflicts: str = "",
    returning: Any = None,
) -> list[Any]:
    """INSERT rows in one statement whose parameters are one array per column.

    The statement is the same whatever the number of rows, so it is parsed
    and planned once, and its parameters stay few; JSONB values travel as
    text and are cast by the database. A value every row shares (the org,
    the time, the trace headers) is sent once rather than as an array.
    """
    names = list(rows[0])
    selected: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for name in names:
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        first = values[0]
        # The first column always travels as an array: unnest counts the rows.
        if arrays and all(value == first for value in values):
            selected[name] = _parameter(first, column_type)
        else:
            arrays[name] = _parameter(values, column_type, many=True)
    unnested = sa.func.unnest(*arrays.values()).table_valued(*arrays).render_derived()
    selected.update((name, unnested.c[name]) for name in arrays)
    columns = [
        sa.cast(selected[name], JSONB)
        if isinstance(table.c[name].type, JSONB)
        else selected[name]
        for name in names
    ]
    statement = insert(table).from_select(names, sa.select(*columns))
    if conflicts == "nothing":
        statement = statement.on_conflict_do_nothing()
    if returning is None:
        await session.execute(statement)
        return []
    return list((await session.execute(statement.returning(returning))).scalars())


def _parameter(value: Any, column_type: Any, *, many: bool = False) -> Any:
    """Return a bound value of a column, or an array of them with `many`."""
    if isinstance(column_type, JSONB):
        if many:
            return sa.literal([_json_text(v) for v in value], ARRAY(sa.Text))
        return sa.literal(_json_text(value), sa.Text)
    return sa.literal(value, ARRAY(column_type) if many else column_type)


def _json_text(value: Any) -> str:
    """Return `value` as the JSON text of a JSONB parameter."""
    try:
        # Several times faster than `json`: a batch encodes thousands of values.
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # An integer past 64 bits, which JSON and JSONB hold and orjson refuses.
        return json.dumps(value)
