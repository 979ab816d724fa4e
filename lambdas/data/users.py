"""The users table: `UserRecord` items (`lambdas.data.records`) keyed by `name`, found by their key's hash with
index `by_key_hash`, and with `record_type`="user" so that index `by_created` lists them all."""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import table
from lambdas.data.dynamo import condition_failed
from lambdas.data.pages import Page, StartKey, query_page
from lambdas.data.records import UserRecord
from lambdas.data.tables import USERS
from lambdas.errors import Conflict, NotFound
from lambdas.settings import settings

RECORD_TYPE = "user"
PAGE_KEY = {"name", "record_type", "created_at"}


def users_table() -> Any:
    return table(getattr(settings(), USERS.setting))


def put_user(user: UserRecord, *, replace: bool = False) -> UserRecord:
    """Write a user; unless `replace`, a user of that name must not exist yet (Conflict)."""
    condition = {} if replace else {"ConditionExpression": "attribute_not_exists(#n)",
                                    "ExpressionAttributeNames": {"#n": "name"}}
    try:
        users_table().put_item(Item={**user.to_item(), "record_type": RECORD_TYPE}, **condition)
    except Exception as exc:
        if condition_failed(exc):
            raise Conflict(f"user '{user.name}' exists already", field="name") from exc
        raise
    return user


def get_user(name: str) -> UserRecord | None:
    item = users_table().get_item(Key={"name": name}).get("Item")
    return UserRecord.from_item(item) if item else None


def find_by_key_hash(key_hash: str) -> UserRecord | None:
    from boto3.dynamodb.conditions import Key

    items = users_table().query(IndexName="by_key_hash", KeyConditionExpression=Key("key_hash").eq(key_hash))["Items"]
    return UserRecord.from_item(items[0]) if items else None


def list_users(limit: int, start_key: StartKey | None) -> Page[UserRecord]:
    from boto3.dynamodb.conditions import Key

    by_type = Key("record_type").eq(RECORD_TYPE)
    return query_page(users_table(), UserRecord, limit, start_key, IndexName="by_created",
                      KeyConditionExpression=by_type)


def delete_user(name: str) -> None:
    try:
        users_table().delete_item(
            Key={"name": name}, ConditionExpression="attribute_exists(#n)", ExpressionAttributeNames={"#n": "name"}
        )
    except Exception as exc:
        if condition_failed(exc):
            raise NotFound(f"user '{name}' not found", field="name") from exc
        raise
