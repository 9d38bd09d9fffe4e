"""Org schema extensions over HTTP: registration, discovery, writes checked, queries.

Each test works in orgs of its own, made through the admin API, against the
running gateway and identity service.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.listing import MAX_COUNT
from services.identity.models import OutboxEvent, User
from tests.integration.conftest import OrgCredentials, new_org
from tests.integration.stack import Stack

HR = "urn:acme:scim:schemas:extension:hr:2.0:User"
LAB = "urn:lab:scim:schemas:extension:bench:1.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

HR_SCHEMA: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
    "id": HR,
    "name": "HR",
    "description": "Acme HR attributes",
    "attributes": [
        {
            "name": "costCenter",
            "type": "string",
            "multiValued": False,
            "canonicalValues": ["CC-1", "CC-2", "CC-3"],
        },
        {"name": "badge", "type": "integer", "uniqueness": "server"},
        {"name": "level", "type": "integer", "required": True},
        {"name": "pin", "type": "string", "returned": "never"},
        {"name": "clearedBy", "type": "string", "mutability": "readOnly"},
        {
            "name": "desk",
            "type": "complex",
            "subAttributes": [
                {"name": "building", "type": "string"},
                {"name": "floor", "type": "integer"},
            ],
        },
    ],
}
LAB_SCHEMA: dict[str, Any] = {
    "id": LAB,
    "name": "Bench",
    "attributes": [{"name": "station", "type": "string", "required": True}],
}


def _admin(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=f"{stack.base_url}/admin",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
    )


def _scim(stack: Stack, org: OrgCredentials | None) -> httpx.Client:
    headers = {"Content-Type": "application/scim+json"}
    if org is not None:
        headers.update(org.auth)
    return httpx.Client(base_url=stack.scim_url, headers=headers, timeout=30)


def _register(
    stack: Stack, org: OrgCredentials, document: dict[str, Any], **params: str
) -> httpx.Response:
    with _admin(stack) as admin:
        return admin.post(f"/orgs/{org.name}/schemas", json=document, params=params)


def _user(name: str, **hr: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [USER, HR], "userName": name}
    if hr:
        body[HR] = hr
    return body


@pytest.fixture
async def hr_org(stack: Stack, database: AsyncEngine) -> OrgCredentials:
    """An org with the HR extension registered."""
    org = await new_org(stack, database)
    assert _register(stack, org, HR_SCHEMA).status_code == 201
    return org


def _error(response: httpx.Response, status: int, scim_type: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("scimType") == scim_type, body
    return str(body["detail"])


def test_registration_is_201_then_200_with_a_new_version(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    changed = {**HR_SCHEMA, "attributes": [*HR_SCHEMA["attributes"]]}
    changed["attributes"].append({"name": "nickname", "type": "string"})
    again = _register(stack, hr_org, changed)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2

    with _admin(stack) as admin:
        listed = admin.get(f"/orgs/{hr_org.name}/schemas").json()["schemas"]
        one = admin.get(f"/orgs/{hr_org.name}/schemas/{HR.upper()}")
    assert [s["urn"] for s in listed] == [HR]
    assert one.status_code == 200
    names = [a["name"] for a in one.json()["schema"]["attributes"]]
    assert "nickname" in names


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({**LAB_SCHEMA, "id": "not-a-urn"}, "'id'"),
        ({**LAB_SCHEMA, "id": ENTERPRISE}, ENTERPRISE),
        ({**LAB_SCHEMA, "id": USER}, USER),
        (
            {**LAB_SCHEMA, "attributes": [{"name": "station", "type": "text"}]},
            f"{LAB}:station",
        ),
        (
            {
                **LAB_SCHEMA,
                "attributes": [
                    {
                        "name": "station",
                        "type": "string",
                        "subAttributes": [{"name": "x", "type": "string"}],
                    }
                ],
            },
            "not complex",
        ),
        (
            {
                **LAB_SCHEMA,
                "attributes": [
                    {"name": "station", "type": "string", "returned": "request"}
                ],
            },
            "returned",
        ),
        (
            {
                **LAB_SCHEMA,
                "attributes": [{"name": "station", "type": "string", "mltiValued": 1}],
            },
            "mltiValued",
        ),
    ],
)
async def test_registration_refuses_a_document_naming_what_is_wrong(
    stack: Stack, database: AsyncEngine, document: dict[str, Any], named: str
) -> None:
    org = await new_org(stack, database)
    detail = _error(_register(stack, org, document), 400, "invalidValue")
    assert named in detail


async def test_discovery_answers_per_org_and_shared_without_a_token(
    stack: Stack, database: AsyncEngine
) -> None:
    acme, lab = await new_org(stack, database), await new_org(stack, database)
    assert _register(stack, acme, HR_SCHEMA).status_code == 201
    assert _register(stack, lab, LAB_SCHEMA, required="true").status_code == 201

    def schemas(org: OrgCredentials | None) -> list[str]:
        with _scim(stack, org) as client:
            return [s["id"] for s in client.get("/Schemas").json()["Resources"]]

    def extensions(org: OrgCredentials | None) -> list[dict[str, Any]]:
        with _scim(stack, org) as client:
            user = client.get("/ResourceTypes/User").json()
        extension_list: list[dict[str, Any]] = user["schemaExtensions"]
        return extension_list

    assert HR in schemas(acme) and LAB not in schemas(acme)
    assert LAB in schemas(lab) and HR not in schemas(lab)
    assert HR not in schemas(None) and USER in schemas(None)
    assert {"schema": HR, "required": False} in extensions(acme)
    assert {"schema": LAB, "required": True} in extensions(lab)
    assert extensions(None) == [{"schema": ENTERPRISE, "required": False}]

    with _scim(stack, acme) as client:
        hr = client.get(f"/Schemas/{HR}")
        other = client.get(f"/Schemas/{LAB}")
        config = client.get("/ServiceProviderConfig").json()
    assert hr.status_code == 200
    assert hr.json()["meta"]["location"].endswith(f"/Schemas/{HR}")
    badge = next(a for a in hr.json()["attributes"] if a["name"] == "badge")
    assert badge["uniqueness"] == "server"
    assert other.status_code == 404
    assert config["bulk"]["supported"] is True
    assert config["filter"] == {"supported": True, "maxResults": MAX_COUNT}

    with _scim(stack, None) as client:
        client.headers["Authorization"] = "Bearer rvn_scim_not_a_token"
        assert client.get("/Schemas").status_code == 401


def test_writes_are_checked_against_the_orgs_schema(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    with _scim(stack, hr_org) as client:
        wrong_type = client.post("/Users", json=_user("a@x.test", level="three"))
        missing = client.post("/Users", json=_user("b@x.test", costCenter="CC-1"))
        canonical = client.post(
            "/Users", json=_user("c@x.test", level=1, costCenter="CC-9")
        )
        read_only = client.post(
            "/Users", json=_user("d@x.test", level=1, clearedBy="me")
        )
        fine = client.post("/Users", json=_user("e@x.test", level=1, costCenter="cc-2"))
    assert f"{HR}:level" in _error(wrong_type, 400, "invalidValue")
    assert f"{HR}:level" in _error(missing, 400, "invalidValue")
    assert f"{HR}:costCenter" in _error(canonical, 400, "invalidValue")
    assert f"{HR}:clearedBy" in _error(read_only, 400, "mutability")
    assert fine.status_code == 201, fine.text


async def test_a_required_extension_must_be_carried(
    stack: Stack, database: AsyncEngine
) -> None:
    org = await new_org(stack, database)
    assert _register(stack, org, LAB_SCHEMA, required="true").status_code == 201
    with _scim(stack, org) as client:
        without = client.post("/Users", json={"userName": "n@x.test"})
        carried = client.post(
            "/Users", json={"userName": "m@x.test", LAB: {"station": "S1"}}
        )
    assert LAB in _error(without, 400, "invalidValue")
    assert carried.status_code == 201, carried.text
    assert carried.json()["schemas"] == [USER, LAB]


async def test_returned_never_values_are_kept_and_never_shown(
    stack: Stack, hr_org: OrgCredentials, database: AsyncEngine
) -> None:
    with _scim(stack, hr_org) as client:
        created = client.post("/Users", json=_user("p@x.test", level=2, pin="1234"))
        uid = created.json()["id"]
        fetched = client.get(f"/Users/{uid}").json()
        listed = client.get("/Users", params={"attributes": f"{HR}:pin"}).json()
    assert created.status_code == 201
    assert "pin" not in created.json()[HR] and "pin" not in fetched[HR]
    assert all(HR not in r for r in listed["Resources"])
    async with database.connect() as connection:
        stored = (
            await connection.execute(
                select(User.attributes).where(User.user_id == uuid.UUID(uid))
            )
        ).scalar_one()
    assert stored[HR]["pin"] == "1234"


def test_unique_values_are_enforced_even_under_concurrency(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    with _scim(stack, hr_org) as client:
        first = client.post("/Users", json=_user("u1@x.test", level=1, badge=7))
        second = client.post("/Users", json=_user("u2@x.test", level=1, badge=7))
        other = client.post("/Users", json=_user("u3@x.test", level=1, badge=8))
        clash = client.patch(
            f"/Users/{other.json()['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": f"{HR}:badge", "value": 7}],
            },
        )
    assert first.status_code == 201
    assert f"{HR}:badge" in _error(second, 409, "uniqueness")
    assert f"{HR}:badge" in _error(clash, 409, "uniqueness")

    def create(index: int) -> int:
        with _scim(stack, hr_org) as client:
            body = _user(f"r{index}@x.test", level=1, badge=99)
            return client.post("/Users", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [201] + [409] * 7


def test_extension_attributes_filter_sort_patch_and_select(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    with _scim(stack, hr_org) as client:
        ids = {}
        for name, cost, badge in (
            ("f1", "CC-1", 30),
            ("f2", "CC-2", 10),
            ("f3", "CC-1", 20),
        ):
            reply = client.post(
                "/Users",
                json=_user(f"{name}@x.test", level=1, costCenter=cost, badge=badge),
            )
            ids[name] = reply.json()["id"]

        found = client.get(
            "/Users",
            params={
                "filter": f'{HR}:costCenter eq "cc-1"',
                "sortBy": f"{HR}:badge",
                "sortOrder": "descending",
            },
        ).json()
        assert [r["userName"] for r in found["Resources"]] == ["f1@x.test", "f3@x.test"]

        ascending = client.get("/Users", params={"sortBy": f"{HR}:badge"}).json()
        assert [r["userName"] for r in ascending["Resources"]] == [
            "f2@x.test",
            "f3@x.test",
            "f1@x.test",
        ]

        patched = client.patch(
            f"/Users/{ids['f2']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": f"{HR}:costCenter", "value": "CC-3"},
                    {"op": "add", "path": f"{HR}:desk.floor", "value": 4},
                ],
            },
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()[HR]["costCenter"] == "CC-3"
        assert patched.json()[HR]["desk"] == {"floor": 4}

        refused = client.patch(
            f"/Users/{ids['f2']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": f"{HR}:costCenter", "value": "CC-0"}
                ],
            },
        )
        assert f"{HR}:costCenter" in _error(refused, 400, "invalidValue")

        chosen = client.get(
            f"/Users/{ids['f2']}", params={"attributes": f"{HR}:costCenter"}
        ).json()
        dropped = client.get(
            f"/Users/{ids['f2']}", params={"excludedAttributes": f"{HR}:desk"}
        ).json()
    assert chosen[HR] == {"costCenter": "CC-3"}
    assert "userName" not in chosen
    assert "desk" not in dropped[HR] and dropped[HR]["badge"] == 10


async def test_events_carry_extension_values_but_not_hidden_ones(
    stack: Stack, hr_org: OrgCredentials, database: AsyncEngine
) -> None:
    with _scim(stack, hr_org) as client:
        created = client.post(
            "/Users", json=_user("ev@x.test", level=5, costCenter="CC-2", pin="9")
        )
    uid = created.json()["id"]
    async with database.connect() as connection:
        payload = (
            await connection.execute(
                select(OutboxEvent.payload).where(OutboxEvent.key == uid)
            )
        ).scalar_one()
    assert payload["attributes"][HR] == {"level": 5, "costCenter": "CC-2"}
    assert payload["attributes"]["userName"] == "ev@x.test"


def test_attributes_no_schema_models_are_accepted_and_not_stored(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    body = {
        **_user("idp@x.test", level=1, unknownThing="x"),
        "groups": [],
        "password": "S3cret!",
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {
            "costCenter": "anything"
        },
    }
    with _scim(stack, hr_org) as client:
        created = client.post("/Users", json=body)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer[HR] == {"level": 1}
    assert "password" not in answer
    assert not any("CustomExtensionName" in key for key in answer)


def test_schema_changes_never_break_stored_users(
    stack: Stack, hr_org: OrgCredentials
) -> None:
    with _scim(stack, hr_org) as client:
        created = client.post(
            "/Users", json=_user("keep@x.test", level=1, costCenter="CC-3", badge=1)
        )
        uid = created.json()["id"]

    def variant(**changes: dict[str, Any] | None) -> dict[str, Any]:
        attributes = []
        for attribute in HR_SCHEMA["attributes"]:
            change = changes.get(attribute["name"], {})
            if change is not None:
                attributes.append({**attribute, **change})
        return {**HR_SCHEMA, "attributes": attributes}

    narrowed = variant(costCenter={"canonicalValues": ["CC-1", "CC-2"]})
    assert "costCenter" in _error(_register(stack, hr_org, narrowed), 409, None)
    removed = variant(badge=None)
    assert "badge" in _error(_register(stack, hr_org, removed), 409, None)
    retyped = variant(costCenter={"type": "integer", "canonicalValues": None})
    retyped["attributes"][0].pop("canonicalValues")
    assert "costCenter" in _error(_register(stack, hr_org, retyped), 409, None)
    with _admin(stack) as admin:
        deleted = admin.delete(f"/orgs/{hr_org.name}/schemas/{HR}")
    assert deleted.status_code == 409

    # Narrowing to values every user holds, and removing an unheld attribute,
    # are allowed.
    allowed = variant(costCenter={"canonicalValues": ["CC-3"]}, pin=None)
    assert _register(stack, hr_org, allowed).status_code == 200

    with _scim(stack, hr_org) as client:
        assert client.delete(f"/Users/{uid}").status_code == 204
    # A deprovisioned user holds nothing a schema change could break.
    assert _register(stack, hr_org, removed).status_code == 200


PEOPLE = "urn:acme:scim:schemas:extension:people:2.0:User"
PEOPLE_SCHEMA: dict[str, Any] = {
    "id": PEOPLE,
    "name": "People",
    "attributes": [
        {"name": "costCenter", "type": "string"},
        {"name": "skills", "type": "string", "multiValued": True},
        {"name": "pin", "type": "string", "returned": "never"},
        {
            "name": "ssn",
            "type": "string",
            "mutability": "writeOnly",
            "returned": "never",
        },
    ],
}


def _patch(op: str, path: str, value: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": path, "value": value}],
    }


async def test_patching_a_whole_extension_hides_unreturned_values_and_adds_to_lists(
    stack: Stack, database: AsyncEngine
) -> None:
    org = await new_org(stack, database)
    assert _register(stack, org, PEOPLE_SCHEMA).status_code == 201
    with _scim(stack, org) as client:
        uid = client.post("/Users", json={"userName": "w@x.test"}).json()["id"]
        # The value names its schema, as a client that models extensions does.
        added = client.patch(
            f"/Users/{uid}",
            json=_patch(
                "add",
                PEOPLE,
                {
                    "schemas": [PEOPLE],
                    "costCenter": "CC-1",
                    "skills": ["go"],
                    "pin": "1234",
                    "ssn": "078-05-1120",
                },
            ),
        )
        appended = client.patch(
            f"/Users/{uid}", json=_patch("add", f"{PEOPLE}:skills", ["rust"])
        )
        replaced = client.patch(
            f"/Users/{uid}",
            json=_patch("replace", PEOPLE, {"skills": ["c"], "pin": "5678"}),
        )
        fetched = client.get(f"/Users/{uid}").json()

    assert added.status_code == 200, added.text
    assert added.json()["schemas"] == [USER, PEOPLE]
    # RFC 7643 §7: neither a writeOnly nor a never-returned value is answered.
    assert added.json()[PEOPLE] == {"costCenter": "CC-1", "skills": ["go"]}
    # RFC 7644 §3.5.2.1: adding to a multi-valued attribute adds a value.
    assert appended.json()[PEOPLE]["skills"] == ["go", "rust"]
    # RFC 7644 §3.5.2.3: sub-attributes the value leaves out are unchanged.
    assert replaced.json()[PEOPLE] == {"costCenter": "CC-1", "skills": ["c"]}
    assert fetched[PEOPLE] == replaced.json()[PEOPLE]
    async with database.connect() as connection:
        stored = (
            await connection.execute(
                select(User.attributes).where(User.user_id == uuid.UUID(uid))
            )
        ).scalar_one()
    # A never-returned value is kept; a writeOnly one, like `password`, is not.
    assert stored[PEOPLE] == {"costCenter": "CC-1", "skills": ["c"], "pin": "5678"}
