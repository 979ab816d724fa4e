"""The event side's writes to the endpoints table (layout and reads: `lambdas.data.endpoints`): mirror a
SageMaker status change, and note that the endpoint's autoscaling is registered.

Ordering: a status change carries the time SageMaker emitted it; it is written only if the item's `updated_at`
(ISO-8601 UTC as `now_iso()` writes it, so strings compare as times) is not later than that time, so a late,
out-of-order event never overwrites a newer state; and, as in `endpoints.set_status`, a Deleting endpoint
stays Deleting.
"""

from __future__ import annotations

from typing import Any

from lambdas.data.endpoints import endpoints_table
from lambdas.data.jobs import from_dynamo


def mirror_status(
    name: str, status: str, failure_reason: str | None, at: str, latest: str | None = None
) -> dict[str, Any] | None:
    """Write the status and `updated_at = at` unless the stored `updated_at` is later than `latest` (default
    `at`); the updated item, or None when the endpoint is unknown or the change is stale."""
    from botocore.exceptions import ClientError

    update = "SET #status = :status, #updated_at = :at"
    values: dict[str, Any] = {":status": status, ":at": at, ":latest": latest or at}
    if failure_reason:
        update += ", #failure_reason = :reason"
        values[":reason"] = failure_reason
    else:
        update += " REMOVE #failure_reason"
    condition = "attribute_exists(#name) AND (attribute_not_exists(#updated_at) OR #updated_at <= :latest)"
    if status != "Deleting":
        condition += " AND #status <> :deleting"
        values[":deleting"] = "Deleting"
    try:
        response = endpoints_table().update_item(
            Key={"name": name},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#name": "name",
                "#status": "status",
                "#updated_at": "updated_at",
                "#failure_reason": "failure_reason",
            },
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return dict(from_dynamo(response["Attributes"]))


def mark_autoscaling_registered(name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        endpoints_table().update_item(
            Key={"name": name},
            UpdateExpression="SET autoscaling_registered = :yes",
            ConditionExpression="attribute_exists(#name)",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={":yes": True},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":  # deleted meanwhile: nothing to note
            raise
