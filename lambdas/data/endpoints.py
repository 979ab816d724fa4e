"""The endpoints table.

`name` key (the SageMaker endpoint name, `{resource_prefix}-{api name}`), `record_type`="endpoint" (index
`by_created` lists them newest first), `instance_type`, `min_instances`, `max_instances` (read by the
autoscaling of the endpoint-events handler), `status`, `failure_reason`, `created_at`, `updated_at`, and the
SageMaker `model_name` and `config_name`.
"""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import table
from lambdas.data.jobs import from_dynamo, now_iso
from lambdas.data.pages import Page, query_page
from lambdas.data.tables import ENDPOINTS
from lambdas.errors import Conflict
from lambdas.settings import settings

RECORD_TYPE = "endpoint"
PAGE_KEY = {"name", "record_type", "created_at"}


def endpoints_table() -> Any:
    return table(getattr(settings(), ENDPOINTS.setting))


def put_new_endpoint(item: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    try:
        endpoints_table().put_item(
            Item={**item, "record_type": RECORD_TYPE},
            ConditionExpression="attribute_not_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise Conflict(f"endpoint '{item['name']}' exists already", field="name") from exc
        raise


def get_endpoint(name: str) -> dict[str, Any] | None:
    item = endpoints_table().get_item(Key={"name": name}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def list_endpoints(limit: int, start_key: dict[str, Any] | None, status: str | None = None) -> Page:
    from boto3.dynamodb.conditions import Attr, Key

    query: dict[str, Any] = {
        "IndexName": "by_created",
        "KeyConditionExpression": Key("record_type").eq(RECORD_TYPE),
        "ScanIndexForward": False,
    }
    if status:
        query["FilterExpression"] = Attr("status").eq(status)
    page = query_page(endpoints_table(), limit, start_key, **query)
    page.items = [from_dynamo(i) for i in page.items]
    return page


def set_status(name: str, status: str) -> bool:
    """Record a status the control plane chose (now); False when nothing changed."""
    return mirror_status(name, status, None, now_iso()) is not None


def mirror_status(
    name: str, status: str, failure_reason: str | None, at: str, latest: str | None = None
) -> dict[str, Any] | None:
    """Write the status and `updated_at = at` unless the stored `updated_at` is later than `latest` (default
    `at`); the updated item, or None when the endpoint is unknown or the change is stale.

    A status change carries the time SageMaker emitted it; `updated_at` is ISO-8601 UTC as `now_iso()` writes
    it, so strings compare as times and a late, out-of-order event never overwrites a newer state. A Deleting
    endpoint stays Deleting."""
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


def delete_endpoint_item(name: str) -> None:
    endpoints_table().delete_item(Key={"name": name})
