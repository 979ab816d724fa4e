from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from api_schema.model_types import ModelType
from api_schema.resources import CompleteModelRequest, CreateModelRequest, CreateModelResponse, ModelList, ModelResponse
from lambdas.api.caller import current_caller
from lambdas.api.responses import no_content, responses
from lambdas.logic import models

router = Router()
TAGS = ["models"]


@router.post("/models", summary="Register a model and get presigned multipart upload URLs", tags=TAGS,
             status_code=201, responses=responses(201, "The model (uploading) and its upload URLs", 409))
def create_model(body: CreateModelRequest) -> CreateModelResponse:
    return models.create_model(current_caller(router), body)


@router.post("/models/<model_id>/complete", summary="Complete the upload; the model becomes ready (owner)",
             tags=TAGS, responses=responses(200, "The ready model", 403, 404))
def complete_model(model_id: str, body: CompleteModelRequest) -> ModelResponse:
    return ModelResponse(model=models.complete_model(current_caller(router), model_id, body))


@router.get("/models", summary="List models, by type", tags=TAGS, responses=responses(200, "A page of models"))
def list_models(
    type: Annotated[ModelType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> ModelList:
    current_caller(router)
    return models.list_models(type, limit, next_token)


@router.get("/models/<model_id>", summary="Get a model", tags=TAGS, responses=responses(200, "The model", 404))
def get_model(model_id: str) -> ModelResponse:
    current_caller(router)
    return ModelResponse(model=models.get_model(model_id))


@router.delete("/models/<model_id>", summary="Delete a model and its file (owner or admin)", tags=TAGS,
               status_code=204, responses=responses(204, "Deleted", 403, 404))
def delete_model(model_id: str) -> Response[None]:
    models.delete_model(current_caller(router), model_id)
    return no_content()
