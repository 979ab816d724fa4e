"""Cursor pagination over DynamoDB Queries with opaque tokens.

A token is base64url JSON of `{"s": scope, "k": LastEvaluatedKey}`. The scope binds it to one listing
(e.g. one owner's jobs), so a token from another listing or a hand-made one is refused: it must decode,
match the scope, and carry exactly the key attributes of the queried index (or another allowed shape), as strings.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lambdas.data.dynamo import Record
from lambdas.errors import InvalidInput

MAX_QUERIES_PER_PAGE = 10

R = TypeVar("R", bound=Record)
StartKey = dict[str, str]  # a LastEvaluatedKey: every key attribute of the tables and indexes is a string


@dataclass
class Page(Generic[R]):
    items: list[R] = field(default_factory=list)
    next_key: StartKey | None = None


def encode_token(scope: str, key: StartKey | None) -> str | None:
    if not key:
        return None
    raw = json.dumps({"s": scope, "k": key}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(scope: str, token: str | None, *key_shapes: set[str]) -> StartKey | None:
    """The start key a token carries; it must have exactly one of `key_shapes` as its attribute names."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("next_token is malformed", field="next_token") from exc
    if not isinstance(data, dict) or data.get("s") != scope:
        raise InvalidInput("next_token does not belong to this listing", field="next_token")
    key = data.get("k")
    if not isinstance(key, dict) or set(key) not in key_shapes or not all(isinstance(v, str) for v in key.values()):
        raise InvalidInput("next_token is malformed", field="next_token")
    return key


def query_page(table: Any, record: type[R], limit: int, start_key: StartKey | None, **query: Any) -> Page[R]:
    """Up to `limit` records of one Query; with a FilterExpression it queries on until the page is full.

    Query's Limit counts evaluated items, so every round asks only for what is missing and the page
    never overshoots: the last evaluated key is always exactly where the next page starts.
    """
    page = Page[R]()
    key: StartKey | None = start_key
    for _ in range(MAX_QUERIES_PER_PAGE):
        kwargs = dict(query, Limit=limit - len(page.items))
        if key:
            kwargs["ExclusiveStartKey"] = key
        response = table.query(**kwargs)
        page.items.extend(record.from_item(item) for item in response.get("Items", []))
        key = response.get("LastEvaluatedKey")
        if not key or len(page.items) >= limit:
            break
    page.next_key = key
    return page
