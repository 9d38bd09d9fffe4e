"""Which service and message an operation names, found in the descriptor pool."""

from __future__ import annotations

import pytest

from protos.rivane.group_mapping.v1 import group_mapping_pb2
from protos.rivane.session_revocation.v1 import session_revocation_pb2
from services.error_tracker.replayer import (
    Operation,
    Replayer,
    UnknownOperation,
    resolve_call,
)


def test_resolve_call_routes_by_the_methods_package() -> None:
    target, request, response = resolve_call(
        Operation(
            method="/rivane.session_revocation.v1.SessionRevocationService/RevokeUser",
            request_json='{"orgId": "o", "userId": "u", "eventId": "e"}',
        )
    )
    assert target == "session_revocation"
    assert isinstance(request, session_revocation_pb2.RevokeUserRequest)
    assert request.user_id == "u"
    assert response is session_revocation_pb2.RevokeUserResponse


def test_resolve_call_routes_flush_outbox_to_the_named_target() -> None:
    target, _request, _response = resolve_call(
        Operation(
            method="/rivane.error_tracker.v1.RetryTargetService/FlushOutbox",
            request_json="{}",
            target="group_mapping",
        )
    )
    assert target == "group_mapping"


def test_resolve_call_reads_a_new_rpc_of_group_mapping() -> None:
    _target, request, _response = resolve_call(
        Operation(
            method="/rivane.group_mapping.v1.GroupMappingService/ReconcileGroupRoles",
            request_json='{"orgId": "o", "groupId": "g"}',
        )
    )
    assert request == group_mapping_pb2.ReconcileGroupRolesRequest(
        org_id="o", group_id="g"
    )


@pytest.mark.parametrize(
    ("method", "request_json"),
    [
        ("RevokeUser", "{}"),
        ("/rivane.nothing.v1.Nope/Call", "{}"),
        ("/rivane.group_mapping.v1.GroupMappingService/GetGroup", "{}"),
        ("/rivane.error_tracker.v1.RetryTargetService/FlushOutbox", "{}"),
        ("/rivane.group_mapping.v1.GroupMappingService/ReconcileGroupRoles", "{]"),
    ],
)
def test_resolve_call_refuses_what_cannot_be_replayed(
    method: str, request_json: str
) -> None:
    with pytest.raises(UnknownOperation):
        resolve_call(Operation(method=method, request_json=request_json))


async def test_replay_of_an_unknown_method_answers_invalid_argument() -> None:
    replayer = Replayer({}, timeout=1)
    result = await replayer.replay(Operation(method="/x.Y/Z", request_json="{}"))
    assert result.status_code == "INVALID_ARGUMENT"
    await replayer.close()


async def test_replay_of_a_service_that_is_down_answers_unavailable() -> None:
    replayer = Replayer({"session_revocation": "127.0.0.1:1"}, timeout=2)
    result = await replayer.replay(
        Operation(
            method="/rivane.session_revocation.v1.SessionRevocationService/RevokeUser",
            request_json="{}",
        )
    )
    assert result.status_code == "UNAVAILABLE"
    await replayer.close()
