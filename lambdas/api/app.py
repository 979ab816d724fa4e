"""The REST API Lambda: one resolver with request validation, a router per resource, errors mapped here.

Every 4xx body is `{"message": ..., "field": ..., "errors": [{"field", "message"}]}`: every problem found,
`message` and `field` being the first. Request validation failures (body, query, path, headers) answer 400,
like every other invalid input, with `field` the dotted path of each error.
A body that is not UTF-8 JSON of bounded nesting is refused before the resolver reads it (`bodies.py`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from api_schema import validation_errors
from lambdas.api import endpoints, inferences, models, ping, users
from lambdas.api.bodies import check_body
from lambdas.errors import DomainError, FieldError, http_status

app = APIGatewayRestResolver(enable_validation=True)
for module in (ping, users, models, endpoints, inferences):
    app.include_router(module.router)


def error_response(status: int, errors: list[FieldError]) -> Response:
    body = {"message": errors[0].message, "field": errors[0].field,
            "errors": [{"field": e.field, "message": e.message} for e in errors]}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'payload', 'steps') -> 'payload.steps'; the request part ('body', 'query', ...) is dropped."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "headers"):
        parts = parts[1:]
    return validation_errors.field_path(parts)


@app.exception_handler(DomainError)
def domain_error(error: DomainError) -> Response:
    return error_response(http_status(error), error.errors)


def request_error(error: dict[str, Any]) -> FieldError:
    if error.get("type") == "json_invalid":  # its loc is ('body', character offset)
        return FieldError(None, f"request body is not valid JSON: {error.get('ctx', {}).get('error', '')} "
                                f"at character {error['loc'][-1]}")
    field = field_path(error.get("loc", ())) or None
    message = validation_errors.error_message(error)
    return FieldError(field, f"{field}: {message}" if field else message)


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError) -> Response:
    return error_response(400, [request_error(e) for e in error.errors()])


@app.not_found
def not_found(error: NotFoundError) -> Response:
    return error_response(404, [FieldError(None, f"no route {app.current_event.http_method} {app.current_event.path}")])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        check_body(event)
    except DomainError as error:
        return ResponseBuilder[APIGatewayProxyEvent](domain_error(error)).build(APIGatewayProxyEvent(event))
    return app.resolve(event, context)
