"""The models table.

Model items: `id` (uuid hex), `name`, `type` (index `by_type` with `created_at`), `filename`,
`size_bytes`, `status` (uploading | ready), `owner`, `created_at`, `key` (S3 key), `upload_id` (while uploading).
Guard items: `id` = "name#<name>", `model_id`; they have no `type`, so the type index never lists them.
A model and its guard are written and deleted together in one transaction, which makes names unique.
"""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import client, table
from lambdas.data.jobs import from_dynamo
from lambdas.data.pages import Page, query_page
from lambdas.data.tables import MODELS
from lambdas.errors import Conflict
from lambdas.settings import settings

PAGE_KEY = {"id", "type", "created_at"}


def _name() -> str:
    return str(getattr(settings(), MODELS.setting))


def models_table() -> Any:
    return table(_name())


def guard_id(name: str) -> str:
    return f"name#{name}"


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def create_model(item: dict[str, Any]) -> None:
    """Write a model and its name guard; Conflict when the name is taken."""
    from botocore.exceptions import ClientError

    guard = {"id": guard_id(item["name"]), "model_id": item["id"]}
    new = "attribute_not_exists(id)"
    try:
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": _name(), "Item": _serialize(guard), "ConditionExpression": new}},
                {"Put": {"TableName": _name(), "Item": _serialize(item), "ConditionExpression": new}},
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            raise Conflict(f"a model named '{item['name']}' exists already", field="name") from exc
        raise


def get_model(model_id: str) -> dict[str, Any] | None:
    item = models_table().get_item(Key={"id": model_id}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item and "type" in item else None


def get_model_by_name(name: str) -> dict[str, Any] | None:
    guard = models_table().get_item(Key={"id": guard_id(name)}, ConsistentRead=True).get("Item")
    return get_model(guard["model_id"]) if guard else None


def list_models(model_type: str, limit: int, start_key: dict[str, Any] | None) -> Page:
    from boto3.dynamodb.conditions import Key

    page = query_page(models_table(), limit, start_key, IndexName="by_type",
                      KeyConditionExpression=Key("type").eq(model_type), ScanIndexForward=False)
    page.items = [from_dynamo(i) for i in page.items]
    return page


def ready_models(model_type: str) -> list[dict[str, Any]]:
    """Every ready model of a type (all pages of the type index)."""
    from boto3.dynamodb.conditions import Attr, Key

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "IndexName": "by_type",
        "KeyConditionExpression": Key("type").eq(model_type),
        "FilterExpression": Attr("status").eq("ready"),
    }
    while True:
        response = models_table().query(**kwargs)
        items.extend(from_dynamo(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def mark_ready(model_id: str) -> bool:
    """uploading -> ready (dropping the upload id); False when the model is not uploading."""
    from botocore.exceptions import ClientError

    try:
        models_table().update_item(
            Key={"id": model_id},
            UpdateExpression="SET #s = :ready REMOVE upload_id",
            ConditionExpression="#s = :uploading",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":ready": "ready", ":uploading": "uploading"},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_model(model_id: str, name: str) -> None:
    client("dynamodb").transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": _name(), "Key": {"id": {"S": model_id}}}},
            {
                "Delete": {
                    "TableName": _name(),
                    "Key": {"id": {"S": guard_id(name)}},
                    "ConditionExpression": "attribute_not_exists(id) OR model_id = :id",
                    "ExpressionAttributeValues": {":id": {"S": model_id}},
                }
            },
        ]
    )
