"""What a group's audit row keeps: enough to explain the change after a rename."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.group_mapping import audit
from services.group_mapping.context import ChangeContext, Source
from services.group_mapping.models import AuditAction, GroupAudit, ScimGroup


class _Session:
    """Keeps the rows a change adds."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, row: Any) -> None:
        self.rows.append(row)


def test_a_role_mapping_row_names_the_group_as_it_was_called_then() -> None:
    session = _Session()
    group = ScimGroup(
        group_id=uuid.uuid4(), org_id=uuid.uuid4(), display_name="Fin", version=3
    )
    context = ChangeContext(
        request_id="req-9",
        token_id=uuid.uuid4(),
        received_at=datetime.now(UTC),
        source=Source.ADMIN,
    )

    event_id = audit.record(
        session,  # type: ignore[arg-type]
        action=AuditAction.MAP_ROLE,
        group=group,
        before={"roles": []},
        after={"roles": ["finance.approver"]},
        context=context,
        occurred_at=datetime.now(UTC),
    )
    group.display_name = "Finance Approvers"

    (row,) = session.rows
    assert isinstance(row, GroupAudit)
    assert row.event_id == event_id
    assert row.after == {"roles": ["finance.approver"], "displayName": "Fin"}
    assert row.token_id == context.token_id and row.request_id == "req-9"
