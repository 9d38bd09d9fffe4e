"""The log line of each audited change names its org, as every other line does."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.logging import configure_logging
from services.common.settings import get_settings
from services.group_mapping import audit as group_audit
from services.group_mapping.context import ChangeContext as GroupContext
from services.group_mapping.models import AuditAction as GroupAction
from services.group_mapping.models import ScimGroup
from services.identity.models import AuditAction
from services.identity.scim.schema import USER_SCHEMA
from services.identity.users import ChangeContext, NewUser, UserService


class _Session:
    """Takes the rows a change adds; the log line is what is looked at."""

    def add(self, row: Any) -> None:
        pass


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Log as the services do, one JSON object a line; restore the root logger."""
    monkeypatch.setenv("RIVANE_LOG_FORMAT", "json")
    get_settings.cache_clear()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("audit-test")
    lines = io.StringIO()
    for handler in root.handlers:
        if handler not in handlers and isinstance(handler, logging.StreamHandler):
            handler.setStream(lines)
    yield lines
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    get_settings.cache_clear()


def _last_line(lines: io.StringIO) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(lines.getvalue().splitlines()[-1])
    return line


def test_a_users_change_is_logged_with_its_org_and_request(
    json_lines: io.StringIO,
) -> None:
    user = NewUser.from_attributes(
        org_id=uuid.uuid4(),
        attributes={"userName": "ada@x.test"},
        now=datetime.now(UTC),
    )
    context = ChangeContext(
        request_id="req-7", token_id=uuid.uuid4(), received_at=datetime.now(UTC)
    )

    UserService._record(
        _Session(),  # type: ignore[arg-type]
        action=AuditAction.PROVISION,
        before=None,
        user=user,  # type: ignore[arg-type]
        context=context,
        schema=USER_SCHEMA,
    )

    line = _last_line(json_lines)
    assert line["org"] == str(user.org_id)
    assert line["request_id"] == "req-7"


def test_a_groups_change_is_logged_with_its_org_and_request(
    json_lines: io.StringIO,
) -> None:
    group = ScimGroup(
        group_id=uuid.uuid4(), org_id=uuid.uuid4(), display_name="Fin", version=1
    )
    context = GroupContext(
        request_id="req-8", token_id=None, received_at=datetime.now(UTC)
    )

    group_audit.record(
        _Session(),  # type: ignore[arg-type]
        action=GroupAction.CREATE,
        group=group,
        before=None,
        after=group_audit.snapshot(group),
        context=context,
        occurred_at=datetime.now(UTC),
    )

    line = _last_line(json_lines)
    assert line["org"] == str(group.org_id)
    assert line["request_id"] == "req-8"
