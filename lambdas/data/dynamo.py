"""How the tables hold values: times as ISO-8601 strings that sort as times, numbers as `Decimal`, and a record
type that reads and writes items in that form; conditional writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from lambdas.data.aws import error_code

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Item = dict[str, Any]  # a DynamoDB item (or key) as boto3's table resource reads and writes it


def iso(moment: datetime) -> str:
    """A UTC time as every table stores it: ISO-8601 with microseconds, so strings compare as times."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    """The time `iso` wrote; ValueError for any other text."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def condition_failed(exc: BaseException) -> bool:
    """A conditional write refused because its condition did not hold."""
    return error_code(exc) == "ConditionalCheckFailedException"


def to_dynamo(value: Any) -> Any:
    """JSON-like data as DynamoDB accepts it (floats as Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    """DynamoDB data back as JSON-like Python (Decimal as int or float)."""
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Record(BaseModel):
    """One table item. An attribute the item lacks is None here, and None is never written: it stays absent.
    Attributes of the item the record does not declare (such as `record_type`) are left out."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        return cls.model_validate(from_dynamo(item))

    def to_item(self) -> Item:
        return dict(to_dynamo(self.model_dump(exclude_none=True)))


R = TypeVar("R", bound=Record)


def conditional_update(table: Any, record: type[R], **update: Any) -> R | None:
    """One conditional `UpdateItem` (`update`: its arguments); the item as written, None when the condition
    does not hold."""
    try:
        response = table.update_item(ReturnValues="ALL_NEW", **update)
    except Exception as exc:
        if condition_failed(exc):
            return None
        raise
    return record.from_item(response["Attributes"])
