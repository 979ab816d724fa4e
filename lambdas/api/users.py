from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from api_schema.resources import (
    CreateUserRequest,
    CreateUserResponse,
    UserList,
    UserResponse,
    WebhookSecretResponse,
)
from lambdas.api.caller import current_caller
from lambdas.api.responses import no_content, responses
from lambdas.logic import users, webhooks

router = Router()
TAGS = ["users"]


@router.post("/users", summary="Create a user and its API key (admin)", tags=TAGS, status_code=201,
             responses=responses(201, "The user and its API key (shown only now)", 403, 409))
def create_user(body: CreateUserRequest) -> CreateUserResponse:
    return users.create_user(current_caller(router), body)


@router.get("/users", summary="List users (admin)", tags=TAGS, responses=responses(200, "A page of users", 403))
def list_users(
    limit: Annotated[int, Query(ge=1, le=100)] = 50, next_token: Annotated[str | None, Query()] = None
) -> UserList:
    return users.list_users(current_caller(router), limit, next_token)


@router.get("/users/me", summary="The user the API key belongs to", tags=TAGS,
            responses=responses(200, "The caller's user record", 404))
def current_user() -> UserResponse:
    return users.current_user(current_caller(router))


@router.post("/users/me/webhook-secret", summary="Create or rotate the caller's webhook signing secret",
             description="The Standard Webhooks secret (`whsec_` + base64) that signs the caller's job webhooks, "
             "shown only in this answer; each call replaces it.",
             tags=TAGS, status_code=201, responses=responses(201, "The new secret (shown only now)"))
def rotate_webhook_secret() -> WebhookSecretResponse:
    return webhooks.rotate_secret(current_caller(router))


@router.delete("/users/<name>", summary="Revoke a user: its key stops working (admin)", tags=TAGS,
               status_code=204, responses=responses(204, "Revoked", 403, 404))
def revoke_user(name: str) -> Response[None]:
    users.revoke_user(current_caller(router), name)
    return no_content()
