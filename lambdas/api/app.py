"""The REST API Lambda: one resolver with request validation, a router per resource, errors mapped here.

Every 4xx body is `{"message": ..., "field": ...}`. Request validation failures (body, query, path,
headers) answer 400, like every other invalid input, with `field` the dotted path of the first error.
A body that is not UTF-8 JSON of bounded nesting is refused before the resolver reads it (`bodies.py`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from lambdas.api import endpoints, inferences, models, ping, users
from lambdas.api.bodies import check_body
from lambdas.errors import DomainError, http_status

app = APIGatewayRestResolver(enable_validation=True)
for module in (ping, users, models, endpoints, inferences):
    app.include_router(module.router)


def error_response(status: int, message: str, field: str | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body={"message": message, "field": field})


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'payload', 'steps') -> 'payload.steps'; the request part ('body', 'query', ...) is dropped."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "headers"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts)


@app.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response:
    return error_response(http_status(error), error.message, error.field)


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    first = error.errors()[0]
    if first.get("type") == "json_invalid":  # its loc is ('body', character offset)
        return error_response(400, f"request body is not valid JSON: {first.get('ctx', {}).get('error', '')} "
                                   f"at character {first['loc'][-1]}")
    field = field_path(first.get("loc", ())) or None
    message = first.get("msg", "invalid")
    return error_response(400, f"{field}: {message}" if field else message, field)


@app.not_found
def not_found(error: NotFoundError) -> Response:
    return error_response(404, f"no route {app.current_event.http_method} {app.current_event.path}")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        check_body(event)
    except DomainError as error:
        return ResponseBuilder[APIGatewayProxyEvent](domain_error(error)).build(APIGatewayProxyEvent(event))
    return app.resolve(event, context)
