"""What a user's audit row keeps of a change: never a value the schema hides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from scim2_models import Attribute, Returned, Schema

from services.identity.models import AuditAction
from services.identity.scim.schema import USER_SCHEMA, ResourceSchema
from services.identity.users import ChangeContext, NewUser, change_rows

HR_URN = "urn:example:scim:schemas:extension:hr:2.0:User"
HR = Schema(
    id=HR_URN,
    name="HR",
    attributes=[
        Attribute(name="costCenter", type=Attribute.Type.string),
        Attribute(name="pin", type=Attribute.Type.string, returned=Returned.never),
    ],
)
SCHEMA = ResourceSchema(
    core=USER_SCHEMA.core,
    extensions=(*USER_SCHEMA.extensions, HR),
    checked_extensions=frozenset({HR_URN}),
)
CONTEXT = ChangeContext(
    request_id="req-1", token_id=uuid.uuid4(), received_at=datetime.now(UTC)
)


def _user(**hr: Any) -> NewUser:
    attributes = {"userName": "ada@x.test", HR_URN: hr}
    return NewUser.from_attributes(
        org_id=uuid.uuid4(), attributes=attributes, now=datetime.now(UTC)
    )


def _snapshot(user: NewUser) -> dict[str, Any]:
    return {"status": user.status, "version": 1, "attributes": user.attributes}


def test_a_provisioned_users_audit_row_never_holds_a_never_returned_value() -> None:
    audit, event = change_rows(
        action=AuditAction.PROVISION,
        before=None,
        user=_user(costCenter="CC-1", pin="1234"),
        context=CONTEXT,
        schema=SCHEMA,
    )

    assert audit["after"]["attributes"][HR_URN] == {"costCenter": "CC-1"}
    assert audit["after"]["withheld_changed"] == [f"{HR_URN}:pin"]
    assert "1234" not in repr(audit) and "1234" not in repr(event)
    assert audit["token_id"] == CONTEXT.token_id
    assert event["event_id"] == audit["event_id"]


def test_an_update_names_a_changed_hidden_value_without_showing_either() -> None:
    before = _snapshot(_user(costCenter="CC-1", pin="1234"))

    audit, _ = change_rows(
        action=AuditAction.UPDATE,
        before=before,
        user=_user(costCenter="CC-1", pin="5678"),
        context=CONTEXT,
        schema=SCHEMA,
    )

    assert audit["before"]["attributes"][HR_URN] == {"costCenter": "CC-1"}
    assert audit["after"]["withheld_changed"] == [f"{HR_URN}:pin"]
    assert "1234" not in repr(audit) and "5678" not in repr(audit)


def test_an_update_leaving_hidden_values_alone_names_none() -> None:
    before = _snapshot(_user(costCenter="CC-1", pin="1234"))

    audit, _ = change_rows(
        action=AuditAction.UPDATE,
        before=before,
        user=_user(costCenter="CC-2", pin="1234"),
        context=CONTEXT,
        schema=SCHEMA,
    )

    assert "withheld_changed" not in audit["after"]
    assert audit["after"]["attributes"][HR_URN] == {"costCenter": "CC-2"}
