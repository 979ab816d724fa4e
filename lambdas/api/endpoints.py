from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from api_schema.resources import CreateEndpointRequest, EndpointList, EndpointResponse, EndpointStatus
from lambdas.api.caller import current_caller
from lambdas.api.responses import responses
from lambdas.logic import endpoints

router = Router()
TAGS = ["endpoints"]


@router.post("/endpoints", summary="Create a SageMaker async endpoint (admin)", tags=TAGS, status_code=202,
             responses=responses(202, "The endpoint, Creating", 403, 409))
def create_endpoint(body: CreateEndpointRequest) -> EndpointResponse:
    return EndpointResponse(endpoint=endpoints.create_endpoint(current_caller(router), body))


@router.get("/endpoints", summary="List endpoints, newest first", tags=TAGS,
            responses=responses(200, "A page of endpoints"))
def list_endpoints(
    status: Annotated[EndpointStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> EndpointList:
    current_caller(router)
    return endpoints.list_endpoints(status, limit, next_token)


@router.get("/endpoints/<name>", summary="Get an endpoint", tags=TAGS, responses=responses(200, "The endpoint", 404))
def get_endpoint(name: str) -> EndpointResponse:
    current_caller(router)
    return EndpointResponse(endpoint=endpoints.get_endpoint(name))


@router.delete("/endpoints/<name>", summary="Delete an endpoint with its config and model (admin)", tags=TAGS,
               status_code=202, responses=responses(202, "The endpoint, Deleting", 403, 404))
def delete_endpoint(name: str) -> EndpointResponse:
    return EndpointResponse(endpoint=endpoints.delete_endpoint(current_caller(router), name))
