"""Compiled SCIM filters and sort keys against a real PostgreSQL: which users they pick.

The tables live in a schema of their own, created and dropped by this module,
in the database of RIVANE_TEST_DATABASE_URL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from scim2_models import Attribute, Schema
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.identity.models import Base, Org, User, UserStatus, fold_case, is_live
from services.identity.scim.filters import compile_user_filter, user_sort_key
from services.identity.scim.resource import is_active, normalize_user
from services.identity.scim.schema import (
    CORE_USER_URN,
    ENTERPRISE_USER_URN,
    USER_SCHEMA,
    ResourceSchema,
)
from tests.integration.stack import integration_database_url

pytestmark = pytest.mark.integration

DATABASE_URL = integration_database_url()
# An org's own extension, with the types the User schemas lack.
STAFF = "urn:example:scim:schemas:extension:staff:2.0:User"
ORG_SCHEMA = ResourceSchema(
    core=USER_SCHEMA.core,
    extensions=(
        *USER_SCHEMA.extensions,
        Schema(
            id=STAFF,
            name="Staff",
            attributes=[
                Attribute(name="clearance", type=Attribute.Type.integer),
                Attribute(name="score", type=Attribute.Type.decimal),
                Attribute(name="verified", type=Attribute.Type.boolean),
                Attribute(name="hired", type=Attribute.Type.date_time),
                Attribute(name="tags", type=Attribute.Type.string, multi_valued=True),
            ],
        ),
    ),
)
ORG_ID = uuid.uuid4()
IDS = {name: uuid.uuid4() for name in ("ada", "grace", "alan")}

USERS: dict[str, dict[str, Any]] = {
    "ada": {
        "userName": "Ada.Lovelace@Example.test",
        "externalId": "00uADA",
        "displayName": "Ada Lovelace",
        "title": "Countess",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@example.test", "type": "work", "primary": True},
            {"value": "ada@home.example", "type": "home"},
        ],
        ENTERPRISE_USER_URN: {"department": "Treasury", "manager": {"value": "m-1"}},
        STAFF: {
            "clearance": 3,
            "score": 9.5,
            "verified": True,
            "hired": "2020-05-01T09:00:00Z",
            "tags": ["Alpha", "beta"],
        },
        "_created": datetime(2024, 1, 1, tzinfo=UTC),
    },
    "grace": {
        "userName": "grace@example.test",
        "externalId": "00uGRACE",
        "active": False,
        "nickName": "Amazing",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"value": "grace@navy.example", "type": "work"}],
        ENTERPRISE_USER_URN: {"department": "Payables"},
        STAFF: {
            "clearance": 10,
            "score": 7,
            "verified": "False",
            "hired": "2019-12-31T23:00:00-02:00",
        },
        "_created": datetime(2024, 6, 1, tzinfo=UTC),
    },
    "alan": {
        "userName": "alan_50%@example.test",
        "displayName": 'He said "hi" \\ back',
        "title": "",
        "name": {"familyName": "Tür"},
        "emails": [{"value": "alan@x.example", "type": "home", "primary": True}],
        "_created": datetime(2025, 1, 1, tzinfo=UTC),
    },
}


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[AsyncEngine]:
    """An engine whose search_path is a fresh schema holding the three users."""
    schema = f"scim_filter_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(
        DATABASE_URL, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except OSError as error:
        await engine.dispose()
        pytest.fail(f"PostgreSQL at {DATABASE_URL} is not reachable: {error}")

    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(
                sa.insert(Org).values(org_id=ORG_ID, name="filters")
            )
            await connection.execute(sa.insert(User), [_row(name) for name in USERS])
        yield engine
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def _row(name: str) -> dict[str, Any]:
    body = {key: value for key, value in USERS[name].items() if key != "_created"}
    attributes = normalize_user(body, schema=ORG_SCHEMA)
    created: datetime = USERS[name]["_created"]
    return {
        "user_id": IDS[name],
        "org_id": ORG_ID,
        "user_name": attributes["userName"],
        "external_id": attributes.get("externalId"),
        "status": UserStatus.ACTIVE if is_active(attributes) else UserStatus.INACTIVE,
        "attributes": attributes,
        "version": 1,
        "created_at": created,
        "updated_at": created.replace(day=15),
    }


async def matching(
    engine: AsyncEngine, filter_text: str, *, schema: ResourceSchema = USER_SCHEMA
) -> set[str]:
    """Return the names of the users a filter selects."""
    names = {user_id: name for name, user_id in IDS.items()}
    query = sa.select(User.user_id).where(
        User.org_id == ORG_ID, compile_user_filter(filter_text, schema=schema)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).scalars().all()
    return {names[user_id] for user_id in rows}


async def ordered(
    engine: AsyncEngine,
    sort_by: str,
    *,
    descending: bool = False,
    schema: ResourceSchema = USER_SCHEMA,
) -> list[str]:
    """Return the names of all users in `sortBy` order."""
    names = {user_id: name for name, user_id in IDS.items()}
    key = user_sort_key(sort_by, schema=schema)
    query = (
        sa.select(User.user_id)
        .where(User.org_id == ORG_ID)
        .order_by(key.desc() if descending else key.asc(), User.user_id)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).scalars().all()
    return [names[user_id] for user_id in rows]


EVERYONE = {"ada", "grace", "alan"}
EXT = ENTERPRISE_USER_URN


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        # userName: the column, compared ignoring case.
        ('userName eq "ADA.LOVELACE@example.TEST"', {"ada"}),
        ('userName ne "grace@example.test"', {"ada", "alan"}),
        ('userName co "LOVELACE"', {"ada"}),
        ('userName sw "Grace"', {"grace"}),
        ('userName ew "@EXAMPLE.TEST"', EVERYONE),
        ('userName gt "b"', {"grace"}),
        ('userName le "alan_50%@example.test"', {"ada", "alan"}),
        ("userName pr", EVERYONE),
        # LIKE wildcards in a value are plain characters.
        ('userName co "_"', {"alan"}),
        ('userName co "%"', {"alan"}),
        ('userName sw "a%"', set()),
        # externalId: the column, case exact.
        ('externalId eq "00uADA"', {"ada"}),
        ('externalId eq "00uada"', set()),
        ("externalId pr", {"ada", "grace"}),
        ("not (externalId pr)", {"alan"}),
        ('externalId ne "00uADA"', {"grace", "alan"}),
        # id: the primary key; an id that is no UUID matches nothing.
        (f'id eq "{IDS["ada"]}"', {"ada"}),
        ('id eq "not-a-uuid"', set()),
        ('id ne "not-a-uuid"', EVERYONE),
        # active: the status column.
        ("active eq true", {"ada", "alan"}),
        ("active eq false", {"grace"}),
        ("active ne true", {"grace"}),
        # Unassigned while the user is ACTIVE: only grace's is set (false).
        ("active pr", {"grace"}),
        ("not (active pr)", {"ada", "alan"}),
        # meta: the timestamp columns.
        ('meta.created gt "2024-03-01T00:00:00Z"', {"grace", "alan"}),
        ('meta.created le "2024-01-01T00:00:00+00:00"', {"ada"}),
        ('meta.created eq "2024-06-01T00:00:00Z"', {"grace"}),
        ('meta.lastModified ge "2025-01-15T00:00:00Z"', {"alan"}),
        ('meta.resourceType eq "User"', EVERYONE),
        # Attributes held in JSONB; an empty string is not present.
        ("title pr", {"ada"}),
        ("title eq null", {"grace", "alan"}),
        ("title ne null", {"ada"}),
        ('title ne "Countess"', {"grace", "alan"}),
        ('not (title eq "Countess")', {"grace", "alan"}),
        ('name.familyName eq "LOVELACE"', {"ada"}),
        ('name.familyName eq "Tür"', {"alan"}),
        ('name.givenName sw "gr"', {"grace"}),
        ("name pr", EVERYONE),
        ('displayName eq "He said \\"hi\\" \\\\ back"', {"alan"}),
        ('nickName eq "amazing"', {"grace"}),
        # Multi-valued attributes: any value matches.
        ('emails[type eq "work" and value co "NAVY"]', {"grace"}),
        ('emails[type eq "home"]', {"ada", "alan"}),
        ('emails[not (type eq "work")]', {"ada", "alan"}),
        ('not (emails[type eq "work"])', {"alan"}),
        ('emails.value co "@home"', {"ada"}),
        ('emails co "navy"', {"grace"}),
        ('emails[type eq "work"].value ew "navy.example"', {"grace"}),
        ("emails.primary eq true", {"ada", "alan"}),
        ('emails.type ne "work"', {"alan"}),
        ("emails pr", EVERYONE),
        ("phoneNumbers pr", set()),
        ("emails.display pr", set()),
        # The enterprise extension, qualified or not.
        (f'{EXT}:department eq "treasury"', {"ada"}),
        (f'{EXT}:manager.value eq "m-1"', {"ada"}),
        (f'{EXT}:manager.value eq "M-1"', set()),
        (f"{EXT.upper()}:Department pr", {"ada", "grace"}),
        ('department eq "Payables"', {"grace"}),
        (f'schemas eq "{EXT}"', {"ada", "grace"}),
        # The core URN prefix, logic and precedence.
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "alan"', {"alan"}),
        ('(userName sw "ada" or userName sw "grace") and active eq true', {"ada"}),
        ('userName sw "ada" or userName sw "grace" and active eq true', {"ada"}),
        ('USERNAME SW "ADA" OR NOT (ACTIVE EQ TRUE)', {"ada", "grace"}),
    ],
)
async def test_compiled_filter_selects_the_right_users(
    engine: AsyncEngine, filter_text: str, expected: set[str]
) -> None:
    assert await matching(engine, filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        # Numbers compare as numbers: 10 > 5, where as text "10" < "5".
        ("clearance gt 5", {"grace"}),
        ("clearance le 3", {"ada"}),
        (f"{STAFF}:clearance eq 10", {"grace"}),
        ("score ge 8.5", {"ada"}),
        ("score lt 1e1", {"ada", "grace"}),
        ("verified eq true", {"ada"}),
        ("verified eq false", {"grace"}),
        ("not (verified eq true)", {"grace", "alan"}),
        ('hired lt "2020-01-01T00:00:00Z"', set()),
        ('hired lt "2020-01-01T02:00:00Z"', {"grace"}),
        ('hired ge "2020-05-01T09:00:00+00:00"', {"ada"}),
        ('tags eq "ALPHA"', {"ada"}),
        ('tags[value sw "B"]', {"ada"}),
        ("tags pr", {"ada"}),
    ],
)
async def test_compiled_filter_types_an_org_extension(
    engine: AsyncEngine, filter_text: str, expected: set[str]
) -> None:
    assert await matching(engine, filter_text, schema=ORG_SCHEMA) == expected


async def test_compiled_filter_counts_with_the_listing_query(
    engine: AsyncEngine,
) -> None:
    query = sa.select(sa.func.count()).where(
        User.org_id == ORG_ID, compile_user_filter('emails[type eq "home"]')
    )
    async with engine.connect() as connection:
        total = (await connection.execute(query)).scalar_one()

    assert total == 2


async def test_user_sort_key_orders_by_the_attribute(engine: AsyncEngine) -> None:
    assert await ordered(engine, "name.familyName") == ["grace", "ada", "alan"]
    assert await ordered(engine, "meta.created", descending=True) == [
        "alan",
        "grace",
        "ada",
    ]
    assert await ordered(engine, "userName") == ["ada", "alan", "grace"]


async def test_user_sort_key_orders_extension_and_qualified_attributes(
    engine: AsyncEngine,
) -> None:
    # RFC 7644 §3.4.2.3: users without a value come last ascending, first
    # descending.
    department = f"{EXT}:department"
    assert await ordered(engine, department) == ["grace", "ada", "alan"]
    assert await ordered(engine, department, descending=True) == [
        "alan",
        "ada",
        "grace",
    ]
    assert await ordered(engine, f"{CORE_USER_URN}:NAME.familyName") == [
        "grace",
        "ada",
        "alan",
    ]
    clearance = f"{STAFF}:clearance"
    assert await ordered(engine, clearance, schema=ORG_SCHEMA) == [
        "ada",
        "grace",
        "alan",
    ]
    # Only ada has tags; the two without any come after her.
    tags = await ordered(engine, f"{STAFF}:tags", schema=ORG_SCHEMA)
    assert tags[0] == "ada"


async def test_user_sort_key_orders_meta_and_column_attributes(
    engine: AsyncEngine,
) -> None:
    assert await ordered(engine, "externalId") == ["ada", "grace", "alan"]
    # Every version is 1 here, so the id decides.
    assert await ordered(engine, "meta.version") == sorted(
        ["ada", "grace", "alan"], key=lambda name: IDS[name]
    )


async def test_user_sort_key_orders_many_values_by_the_primary_one(
    engine: AsyncEngine,
) -> None:
    assert await ordered(engine, "emails") == ["ada", "alan", "grace"]
    assert (await ordered(engine, "emails.type"))[0] == "alan"


async def test_is_live_lets_a_cached_generic_plan_use_the_user_name_index(
    engine: AsyncEngine,
) -> None:
    # A userName lookup as the service sends it, prepared with its parameters.
    query = sa.select(User.user_id).where(
        User.org_id == ORG_ID,
        fold_case(User.user_name) == fold_case(sa.literal("ada", sa.Text)),
        is_live(),
    )
    compiled = query.compile(
        dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    positional = str(compiled)
    for name in compiled.positiontup or ():
        positional = positional.replace(f"%({name})s", "$?", 1)
    numbered, count = positional, 0
    while "$?" in numbered:
        count += 1
        numbered = numbered.replace("$?", f"${count}", 1)
    values = ", ".join(
        f"'{compiled.params[name]}'" for name in compiled.positiontup or ()
    )

    async with engine.connect() as connection:
        # What PostgreSQL does to a prepared statement after five runs; a
        # table scan is only taken when no index can answer.
        await connection.execute(sa.text("SET plan_cache_mode = force_generic_plan"))
        await connection.execute(sa.text("SET enable_seqscan = off"))
        await connection.execute(sa.text(f"PREPARE lookup AS {numbered}"))
        plan = (
            (await connection.execute(sa.text(f"EXPLAIN EXECUTE lookup({values})")))
            .scalars()
            .all()
        )

    assert "uq_user_org_user_name" in "\n".join(plan), plan
