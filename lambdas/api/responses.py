"""OpenAPI response descriptions shared by the routers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from api_schema.resources import ErrorBody

ERRORS = {
    400: "Invalid input (body, query, path or payload); `field` names the field at fault",
    401: "Missing, unknown or revoked API key",
    403: "The caller's role may not do this",
    404: "No such resource (or not the caller's)",
    409: "Conflict with the resource's current state",
}


def responses(status: int, description: str, *errors: int) -> dict[int, Any]:
    """The success response (its body is the route's return type; none for 204) plus 400, 401 and `errors`."""
    success: dict[str, Any] = {"description": description}
    if status == 204:
        success["content"] = {}
    error_bodies = {
        code: {"description": ERRORS[code], "content": {"application/json": {"model": ErrorBody}}}
        for code in (400, 401, *errors)
    }
    return {status: success, **error_bodies}


def no_content() -> Response[None]:
    """204 with no body at all (a plain `None` return would be serialized as `null`)."""
    return Response(status_code=204)
