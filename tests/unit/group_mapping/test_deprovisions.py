"""A deprovision event that keeps failing is reported, and resolved once applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as pb
from services.common.error_reports import ErrorReporter
from services.group_mapping.context import ChangeContext
from services.group_mapping.deprovisions import (
    DROP_USER,
    DeprovisionListener,
    MembershipCleaner,
)


class RecordingReporter(ErrorReporter):
    """Keeps what would be sent to the error tracker."""

    def __init__(self) -> None:
        super().__init__("", source="group_mapping")
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def report(self, **fields: Any) -> None:  # type: ignore[override]
        self.sent.append(("report", fields))

    def resolve(  # type: ignore[override]
        self, *, org_id: str, kind: int, dedup_keys: Sequence[str], reason: str = ""
    ) -> None:
        self.sent.append(("resolve", {"kind": kind, "dedup_keys": list(dedup_keys)}))


class FlakyCleaner(MembershipCleaner):
    """Fails while the database is "away", then drops the user."""

    def __init__(self) -> None:
        self.away = True
        self.calls = 0

    async def drop_user(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID, context: ChangeContext
    ) -> int:
        self.calls += 1
        if self.away:
            raise OSError("connection refused")
        return 2


def _record(event: dict[str, str]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="scim.user_deprovisioned",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=json.dumps(event).encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )


async def test_listener_reports_an_event_it_cannot_apply_then_resolves_it() -> None:
    cleaner = FlakyCleaner()
    reporter = RecordingReporter()
    listener = DeprovisionListener(
        cleaner,
        bootstrap_servers="unused:9092",
        consumer_group="unused",
        poll_ms=1,
        reporter=reporter,
    )
    event = {
        "action": "DEPROVISION",
        "org_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
    }

    with pytest.raises(OSError):
        await listener._apply(_record(event))
    cleaner.away = False
    await listener._apply(_record(event))

    assert cleaner.calls == 4
    (what, report), (then, resolution) = reporter.sent
    assert (what, then) == ("report", "resolve")
    assert report["kind"] == pb.ERROR_KIND_DOWNSTREAM_CALL_FAILED
    assert report["dedup_key"] == event["event_id"]
    assert report["operation"].method == DROP_USER
    assert json.loads(report["operation"].request_json)["userId"] == event["user_id"]
    assert resolution == {
        "kind": pb.ERROR_KIND_DOWNSTREAM_CALL_FAILED,
        "dedup_keys": [event["event_id"]],
    }
