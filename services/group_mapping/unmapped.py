"""Tell the error tracker about groups pushed with members but no role.

An identity provider that pushes a group no Rivane role maps to gives its
members nothing: an admin has to map it. The group is reported once as
UNMAPPED_GROUP (keyed by its id; repeats join the same error); its operation
is `ReconcileGroupRoles`, which succeeds once a mapping exists. Mapping the
group, or deleting it, resolves the error.
"""

from __future__ import annotations

import uuid

from protos.rivane.error_tracker.v1 import error_tracker_pb2 as error_pb
from protos.rivane.group_mapping.v1 import group_mapping_pb2 as pb
from services.common.error_reports import ErrorReporter, operation

RECONCILE = "/rivane.group_mapping.v1.GroupMappingService/ReconcileGroupRoles"


class UnmappedGroupAlerts:
    """Report unmapped groups with members, and resolve them when settled."""

    def __init__(self, reporter: ErrorReporter) -> None:
        self._reporter = reporter

    def needs_role(
        self,
        *,
        org_id: uuid.UUID,
        group_id: uuid.UUID,
        display_name: str,
        request_id: str,
    ) -> None:
        """Report that a group with members maps to no role."""
        request = pb.ReconcileGroupRolesRequest(
            org_id=str(org_id), group_id=str(group_id)
        )
        self._reporter.report(
            org_id=str(org_id),
            kind=error_pb.ERROR_KIND_UNMAPPED_GROUP,
            reason_code="NO_ROLE_MAPPING",
            reason=f"group {display_name!r} has members but maps to no role",
            subject_type="Group",
            subject_id=str(group_id),
            dedup_key=str(group_id),
            operation=operation(
                RECONCILE, request, summary=f"grant the roles of group {group_id}"
            ),
            request_id=request_id,
        )

    def settled(self, *, org_id: uuid.UUID, group_id: uuid.UUID, why: str) -> None:
        """Resolve the group's error: it was mapped, or deleted."""
        self._reporter.resolve(
            org_id=str(org_id),
            kind=error_pb.ERROR_KIND_UNMAPPED_GROUP,
            dedup_keys=[str(group_id)],
            reason=why,
        )
