"""What the client's calls share below the routes: the JSON types, the API's error bodies, the Lambda event
limit, presigned S3 PUTs and polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from sdcloud_client.errors import ApiError, FieldError

JsonDict = dict[str, Any]
Progress = Callable[[int, int], None]

# A synchronous Lambda invocation takes at most 6 MB: the API Gateway event, which carries the request body
# as one JSON string beside the headers. A body that would not fit (several ControlNet images of 1024 px)
# goes through payload_upload by itself, so a user never meets the limit.
LAMBDA_EVENT_LIMIT = 6 * 1024 * 1024
EVENT_ENVELOPE = 64 * 1024  # the headers and request context around the body


def fits_one_invocation(body: JsonDict) -> bool:
    """Whether this JSON request body fits in the API's Lambda event (as a JSON string, escapes counted)."""
    return len(json.dumps(json.dumps(body))) + EVENT_ENVELOPE <= LAMBDA_EVENT_LIMIT


def put_presigned(
    http: requests.Session, url: str, data: Any, timeout: float, content_type: str | None = None
) -> requests.Response:
    """PUT to a presigned S3 URL (no API key: S3 authenticates the URL itself)."""
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        response = http.put(url, data=data, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise ApiError(0, f"upload to storage failed: {exc}") from exc
    if response.status_code >= 400:
        raise ApiError(response.status_code, f"upload to storage refused: {response.text[:300]}")
    return response


def error_from(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("message") or body.get("Message")):
        listed = body.get("errors")
        errors = [FieldError(e.get("field"), str(e.get("message")))
                  for e in (listed if isinstance(listed, list) else []) if isinstance(e, dict)]
        return ApiError(
            response.status_code, str(body.get("message") or body.get("Message")), body.get("field"), errors or None
        )
    return ApiError(response.status_code, response.text[:300] or response.reason or "error")


def poll(
    fetch: Callable[[], JsonDict],
    done: Callable[[JsonDict], bool],
    interval: float,
    timeout: float,
    on_update: Callable[[JsonDict], None] | None,
    what: str,
    each_round: Callable[[JsonDict], None] | None = None,
) -> JsonDict:
    """Fetch until `done`; `on_update` sees each change of status or progress, `each_round` every fetch."""
    deadline = time.monotonic() + timeout
    last_status, last_progress = None, None
    while True:
        item = fetch()
        if on_update and (item.get("status"), item.get("progress")) != (last_status, last_progress):
            on_update(item)
        last_status, last_progress = item.get("status"), item.get("progress")
        if done(item):
            return item
        if each_round:
            each_round(item)
        if time.monotonic() + interval > deadline:
            raise TimeoutError(f"{what} is still {last_status} after {timeout:.0f}s")
        time.sleep(interval)
