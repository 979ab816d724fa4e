"""The endpoints table: `EndpointRecord` items (`lambdas.data.records`), keyed by the SageMaker endpoint name,
with `record_type`="endpoint" so that index `by_created` lists them newest first."""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import table
from lambdas.data.dynamo import condition_failed, conditional_update, now_iso
from lambdas.data.pages import Page, StartKey, query_page
from lambdas.data.records import EndpointRecord
from lambdas.data.tables import ENDPOINTS
from lambdas.errors import Conflict
from lambdas.settings import settings

RECORD_TYPE = "endpoint"
PAGE_KEY = {"name", "record_type", "created_at"}


def endpoints_table() -> Any:
    return table(getattr(settings(), ENDPOINTS.setting))


def put_new_endpoint(endpoint: EndpointRecord) -> EndpointRecord:
    """Write a new endpoint; Conflict when one of that name exists."""
    try:
        endpoints_table().put_item(
            Item={**endpoint.to_item(), "record_type": RECORD_TYPE},
            ConditionExpression="attribute_not_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
        )
    except Exception as exc:
        if condition_failed(exc):
            raise Conflict(f"endpoint '{endpoint.name}' exists already", field="name") from exc
        raise
    return endpoint


def get_endpoint(name: str) -> EndpointRecord | None:
    item = endpoints_table().get_item(Key={"name": name}, ConsistentRead=True).get("Item")
    return EndpointRecord.from_item(item) if item else None


def list_endpoints(limit: int, start_key: StartKey | None, status: str | None = None) -> Page[EndpointRecord]:
    from boto3.dynamodb.conditions import Attr, Key

    query: dict[str, Any] = {
        "IndexName": "by_created",
        "KeyConditionExpression": Key("record_type").eq(RECORD_TYPE),
        "ScanIndexForward": False,
    }
    if status:
        query["FilterExpression"] = Attr("status").eq(status)
    return query_page(endpoints_table(), EndpointRecord, limit, start_key, **query)


def set_status(name: str, status: str) -> EndpointRecord | None:
    """Record a status the control plane chose (now); the endpoint as written, None when nothing changed."""
    return mirror_status(name, status, None, now_iso())


def mirror_status(
    name: str, status: str, failure_reason: str | None, at: str, latest: str | None = None
) -> EndpointRecord | None:
    """Write the status and `updated_at = at` unless the stored `updated_at` is later than `latest` (default
    `at`); the endpoint as written, or None when it is unknown or the change is stale.

    A status change carries the time SageMaker emitted it; `updated_at` is ISO-8601 UTC as `now_iso()` writes
    it, so strings compare as times and a late, out-of-order event never overwrites a newer state. A Deleting
    endpoint stays Deleting."""
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
    return conditional_update(
        endpoints_table(),
        EndpointRecord,
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
    )


def mark_autoscaling_registered(name: str) -> None:
    """Note that the endpoint's autoscaling is registered (nothing to note when it was deleted meanwhile)."""
    try:
        endpoints_table().update_item(
            Key={"name": name},
            UpdateExpression="SET autoscaling_registered = :yes",
            ConditionExpression="attribute_exists(#name)",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={":yes": True},
        )
    except Exception as exc:
        if not condition_failed(exc):
            raise


def delete_endpoint_item(name: str) -> None:
    endpoints_table().delete_item(Key={"name": name})
