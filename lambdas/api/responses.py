"""OpenAPI response descriptions shared by the routers."""

from __future__ import annotations

from typing import Any

from api_schema.resources import ErrorBody


def errors(*statuses: int) -> dict[int, Any]:
    descriptions = {
        400: "Invalid input; `field` names the field at fault",
        401: "Missing, unknown or revoked API key",
        403: "The caller's role may not do this",
        404: "No such resource (or not the caller's)",
        409: "Conflict with the resource's current state",
    }
    return {
        status: {"description": descriptions[status], "content": {"application/json": {"model": ErrorBody}}}
        for status in (400, 401, *statuses)
    }
