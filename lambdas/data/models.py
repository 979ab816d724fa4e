"""The models table.

Model items: `ModelRecord` (`lambdas.data.records`), listed by type with index `by_type` (`type`, `created_at`).
Guard items: `id` = "name#<name>", `model_id`; they have no `type`, so the type index never lists them.
A model and its guard are written and deleted together in one transaction, which makes names unique.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdas.data.aws import client, error_code, table
from lambdas.data.dynamo import Item, conditional_update
from lambdas.data.pages import Page, StartKey, query_page
from lambdas.data.records import ModelRecord
from lambdas.data.tables import MODELS
from lambdas.errors import Conflict
from lambdas.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

PAGE_KEY = {"id", "type", "created_at"}


def _name() -> str:
    return str(getattr(settings(), MODELS.setting))


def models_table() -> Any:
    return table(_name())


def guard_id(name: str) -> str:
    return f"name#{name}"


def _serialize(item: Item) -> dict[str, AttributeValueTypeDef]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def create_model(model: ModelRecord) -> ModelRecord:
    """Write a model and its name guard; Conflict when the name is taken."""
    guard = {"id": guard_id(model.name), "model_id": model.id}
    new = "attribute_not_exists(id)"
    try:
        client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": _name(), "Item": _serialize(guard), "ConditionExpression": new}},
                {"Put": {"TableName": _name(), "Item": _serialize(model.to_item()), "ConditionExpression": new}},
            ]
        )
    except Exception as exc:
        if error_code(exc) == "TransactionCanceledException":
            raise Conflict(f"a model named '{model.name}' exists already", field="name") from exc
        raise
    return model


def get_model(model_id: str) -> ModelRecord | None:
    item = models_table().get_item(Key={"id": model_id}, ConsistentRead=True).get("Item")
    return ModelRecord.from_item(item) if item and "type" in item else None


def get_model_by_name(name: str) -> ModelRecord | None:
    guard = models_table().get_item(Key={"id": guard_id(name)}, ConsistentRead=True).get("Item")
    return get_model(guard["model_id"]) if guard else None


def list_models(model_type: str, limit: int, start_key: StartKey | None) -> Page[ModelRecord]:
    from boto3.dynamodb.conditions import Key

    return query_page(models_table(), ModelRecord, limit, start_key, IndexName="by_type",
                      KeyConditionExpression=Key("type").eq(model_type), ScanIndexForward=False)


def ready_models(model_type: str) -> list[ModelRecord]:
    """Every ready model of a type (all pages of the type index)."""
    from boto3.dynamodb.conditions import Attr, Key

    models: list[ModelRecord] = []
    kwargs: dict[str, Any] = {
        "IndexName": "by_type",
        "KeyConditionExpression": Key("type").eq(model_type),
        "FilterExpression": Attr("status").eq("ready"),
    }
    while True:
        response = models_table().query(**kwargs)
        models.extend(ModelRecord.from_item(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return models
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def mark_ready(model_id: str) -> ModelRecord | None:
    """uploading -> ready (dropping the upload id); the model as written, None when it is not uploading."""
    return conditional_update(
        models_table(),
        ModelRecord,
        Key={"id": model_id},
        UpdateExpression="SET #s = :ready REMOVE upload_id",
        ConditionExpression="#s = :uploading",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":ready": "ready", ":uploading": "uploading"},
    )


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
