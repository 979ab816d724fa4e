"""SageMaker endpoint state changes -> the endpoints table and the endpoint's autoscaling.

The event is "SageMaker Endpoint State Change" from EventBridge: `detail.EndpointName`, `detail.EndpointStatus`
(IN_SERVICE-style or InService-style; both are accepted), `detail.FailureReason` when it failed, and the
envelope's `time`. Statuses are written only for endpoints the table knows (the EventBridge rule delivers
only this stack's endpoints); SageMaker may send an event more than once, and every step here is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.data import autoscaling
from lambdas.data.dynamo import iso
from lambdas.data.endpoints import delete_endpoint_item, get_endpoint, mark_autoscaling_registered, mirror_status
from lambdas.data.sagemaker import endpoint_exists

# SageMaker's EndpointStatus (lower case, no underscores) -> the status the REST contract shows.
STATUSES = {
    "creating": "Creating",
    "inservice": "InService",
    "updating": "Updating",
    "systemupdating": "Updating",
    "rollingback": "Updating",
    "failed": "Failed",
    "outofservice": "Failed",
    "updaterollbackfailed": "Failed",
    "deleting": "Deleting",
    "deleted": "gone",
}


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class StateChange:
    endpoint: str
    sagemaker_status: str
    at: str  # when SageMaker emitted it, ISO-8601 UTC with microseconds like `updated_at`
    failure_reason: str | None = None

    @property
    def latest(self) -> str:
        """The latest instant `at` may stand for: EventBridge times are whole seconds, so a record updated
        within that second (the API's write of Creating) is not newer than the event."""
        return self.at.replace(".000000Z", ".999999Z")

    @property
    def status(self) -> str | None:
        return STATUSES.get(self.sagemaker_status.replace("_", "").lower())

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> StateChange:
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise MalformedEvent("detail is missing")
        name, status = detail.get("EndpointName"), detail.get("EndpointStatus")
        if not isinstance(name, str) or not name or not isinstance(status, str):
            raise MalformedEvent("detail.EndpointName and detail.EndpointStatus are required")
        try:
            at = datetime.fromisoformat(str(event.get("time"))).astimezone(UTC)
        except ValueError as exc:
            raise MalformedEvent(f"time is not an ISO-8601 time: {event.get('time')!r}") from exc
        reason = detail.get("FailureReason")
        return cls(name, status, iso(at), str(reason) if reason else None)


def apply_state_change(change: StateChange) -> str:
    """Mirror the change; register autoscaling on the first InService; clean up on deletion. Says what it did."""
    status = change.status
    if status is None:
        return f"ignored: unknown EndpointStatus {change.sagemaker_status!r}"
    if status in ("Deleting", "gone"):
        # Always, even when the record is gone already (the API drops a Deleting record once SageMaker has
        # forgotten the endpoint) or this event is older than the stored state: Deleting is final.
        autoscaling.deregister(change.endpoint)
        if status == "gone" or not endpoint_exists(change.endpoint):
            delete_endpoint_item(change.endpoint)
            return "removed with its autoscaling"
    if get_endpoint(change.endpoint) is None:
        return "ignored: not an endpoint of this stack (or already removed)"
    reason = change.failure_reason or (f"the endpoint is {change.sagemaker_status}" if status == "Failed" else None)
    record = mirror_status(change.endpoint, status, reason, change.at, change.latest)
    if record is None:
        return "ignored: older than the stored state"
    if status == "InService" and record.max_instances and not record.autoscaling_registered:
        autoscaling.register(change.endpoint, record.min_instances, record.max_instances)
        mark_autoscaling_registered(change.endpoint)
        return f"status {status}; autoscaling registered"
    return f"status {status}"
