"""The users table: `name` key, `key_hash` (SHA-256 hex of the API key, index `by_key_hash`),
`role`, `created_at`, and `record_type`="user" so that index `by_created` lists them all."""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import table
from lambdas.data.pages import Page, query_page
from lambdas.data.tables import USERS
from lambdas.errors import Conflict, NotFound
from lambdas.settings import settings

RECORD_TYPE = "user"
PAGE_KEY = {"name", "record_type", "created_at"}


def users_table() -> Any:
    return table(getattr(settings(), USERS.setting))


def put_user(name: str, role: str, key_hash: str, created_at: str, *, replace: bool = False) -> dict[str, Any]:
    """Write a user; unless `replace`, a user of that name must not exist yet (Conflict)."""
    from botocore.exceptions import ClientError

    item = {"name": name, "role": role, "key_hash": key_hash, "created_at": created_at, "record_type": RECORD_TYPE}
    condition = {} if replace else {"ConditionExpression": "attribute_not_exists(#n)",
                                    "ExpressionAttributeNames": {"#n": "name"}}
    try:
        users_table().put_item(Item=item, **condition)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise Conflict(f"user '{name}' exists already", field="name") from exc
        raise
    return item


def get_user(name: str) -> dict[str, Any] | None:
    return users_table().get_item(Key={"name": name}).get("Item")


def find_by_key_hash(key_hash: str) -> dict[str, Any] | None:
    from boto3.dynamodb.conditions import Key

    items = users_table().query(IndexName="by_key_hash", KeyConditionExpression=Key("key_hash").eq(key_hash))["Items"]
    return items[0] if items else None


def list_users(limit: int, start_key: dict[str, Any] | None) -> Page:
    from boto3.dynamodb.conditions import Key

    by_type = Key("record_type").eq(RECORD_TYPE)
    return query_page(users_table(), limit, start_key, IndexName="by_created", KeyConditionExpression=by_type)


def delete_user(name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        users_table().delete_item(
            Key={"name": name}, ConditionExpression="attribute_exists(#n)", ExpressionAttributeNames={"#n": "name"}
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise NotFound(f"user '{name}' not found", field="name") from exc
        raise
