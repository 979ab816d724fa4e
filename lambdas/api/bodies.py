"""The request body, checked before the resolver reads it: JSON in UTF-8, of bounded nesting.

powertools' resolver decodes and parses the body inside its validation step, where a body that is not
UTF-8, a multipart type without boundary or JSON nested thousands deep raises errors no route can catch.
The handler checks the raw event first, so each of these is a 4xx naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from lambdas.errors import InvalidInput, UnsupportedMediaType
from lambdas.logic.json_text import check_json_depth

JSON = "application/json"
BODY_METHODS = {"POST", "PUT", "PATCH"}
NOT_UTF8 = "the request body is not UTF-8 text (JSON is sent as UTF-8)"


def check_body(event: dict[str, Any]) -> None:
    """Raise UnsupportedMediaType (415) or InvalidInput (400) unless the event's body is absent or JSON text."""
    body = event.get("body") or ""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").strip()
    if content_type and (body or str(event.get("httpMethod", "")).upper() in BODY_METHODS):
        event["headers"] = _with_content_type(event["headers"], _json_content_type(content_type))
    if not body:
        return
    check_json_depth(_text(body, bool(event.get("isBase64Encoded"))))


def _json_content_type(value: str) -> str:
    """The Content-Type as powertools reads JSON (`application/json...`), or UnsupportedMediaType."""
    media_type, *parameters = (part.strip() for part in value.split(";"))
    if media_type.lower() != JSON:
        raise UnsupportedMediaType(f"Content-Type must be {JSON}, not {media_type!r}", field="Content-Type")
    for parameter in parameters:
        name, _, charset = parameter.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"the body must be UTF-8 JSON, not charset {charset.strip()!r}",
                                       field="Content-Type")
    return "; ".join([JSON, *parameters])


def _with_content_type(headers: dict[str, Any], value: str) -> dict[str, Any]:
    return {**{k: v for k, v in headers.items() if str(k).lower() != "content-type"}, "content-type": value}


def _text(body: str, is_base64: bool) -> str:
    try:
        raw = base64.b64decode(body, validate=True) if is_base64 else body.encode("utf-8", "surrogatepass")
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeError) as exc:
        raise InvalidInput(NOT_UTF8) from exc
    if "\0" in text:  # valid UTF-8, but no JSON text holds a raw NUL: UTF-16 without its byte order mark
        raise InvalidInput(NOT_UTF8)
    return text
