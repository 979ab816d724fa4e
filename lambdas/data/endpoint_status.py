"""The event side's writes to the endpoints table (the item layout is the control plane's, key `name`):
mirror a SageMaker status change, note the autoscaling registration, drop the item once the endpoint is gone.

Ordering: a status change carries the time SageMaker emitted it; it is written only if that time is not older
than the item's `updated_at` (ISO-8601 UTC as `now_iso()` writes it, so strings compare as times), so a late,
out-of-order event never overwrites a newer state.
"""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import client, table
from lambdas.data.jobs import from_dynamo
from lambdas.settings import settings


def endpoints_table() -> Any:
    return table(settings().endpoints_table)


def get_endpoint(name: str) -> dict[str, Any] | None:
    item = endpoints_table().get_item(Key={"name": name}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def mirror_status(name: str, status: str, failure_reason: str | None, at: str) -> dict[str, Any] | None:
    """Write the status as of `at`; the updated item, or None when the endpoint is unknown or `at` is stale."""
    from botocore.exceptions import ClientError

    update = "SET #status = :status, #updated_at = :at"
    values: dict[str, Any] = {":status": status, ":at": at}
    if failure_reason:
        update += ", #failure_reason = :reason"
        values[":reason"] = failure_reason
    else:
        update += " REMOVE #failure_reason"
    try:
        response = endpoints_table().update_item(
            Key={"name": name},
            UpdateExpression=update,
            ConditionExpression="attribute_exists(#name) AND (attribute_not_exists(#updated_at) OR #updated_at <= :at)",
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


def remove_endpoint(name: str) -> None:
    endpoints_table().delete_item(Key={"name": name})


def endpoints_with_status(status: str) -> list[dict[str, Any]]:
    """Endpoints in `status`: a Query on the `by_created` index (record_type = "endpoint"), never a Scan."""
    from boto3.dynamodb.conditions import Attr, Key

    query: dict[str, Any] = {
        "IndexName": "by_created",
        "KeyConditionExpression": Key("record_type").eq("endpoint"),
        "FilterExpression": Attr("status").eq(status),
    }
    items: list[dict[str, Any]] = []
    while True:
        page = endpoints_table().query(**query)
        items.extend(from_dynamo(item) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sagemaker_endpoint_exists(name: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError as exc:
        error = exc.response["Error"]
        if error["Code"] == "ValidationException" and "Could not find endpoint" in error.get("Message", ""):
            return False
        raise
    return True
