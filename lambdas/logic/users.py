"""Users and their API keys: a key is shown once, only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from api_schema.resources import CreateUserRequest, CreateUserResponse, User, UserList, UserResponse
from lambdas.data import users as data
from lambdas.data.jobs import now_iso
from lambdas.data.pages import decode_token, encode_token
from lambdas.errors import InvalidInput, NotFound
from lambdas.logic.caller import Caller

KEY_PREFIX = "sdc_"
ADMIN_NAME = "admin"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _user(item: dict[str, Any]) -> User:
    return User(name=item["name"], role=item["role"], created_at=item["created_at"])


def create_user(caller: Caller, request: CreateUserRequest) -> CreateUserResponse:
    caller.require_admin()
    api_key = new_api_key()
    item = data.put_user(request.name, request.role, key_hash(api_key), now_iso())
    return CreateUserResponse(user=_user(item), api_key=api_key)


def list_users(caller: Caller, limit: int, next_token: str | None) -> UserList:
    caller.require_admin()
    page = data.list_users(limit, decode_token("users", next_token, data.PAGE_KEY))
    return UserList(users=[_user(i) for i in page.items], next_token=encode_token("users", page.next_key))


def current_user(caller: Caller) -> UserResponse:
    item = data.get_user(caller.name)
    if item is None:  # revoked since the authorizer's answer was cached
        raise NotFound(f"user '{caller.name}' does not exist", field="x-api-key")
    return UserResponse(user=_user(item))


def revoke_user(caller: Caller, name: str) -> None:
    caller.require_admin()
    if name == caller.name:
        raise InvalidInput("you cannot revoke your own key", field="name")
    data.delete_user(name)


def authenticate(api_key: str) -> Caller | None:
    """The user an API key belongs to, or None for an unknown or revoked key."""
    if not api_key:
        return None
    item = data.find_by_key_hash(key_hash(api_key))
    return Caller(name=item["name"], role=item["role"]) if item else None


def set_admin_key(api_key: str, name: str = ADMIN_NAME) -> None:
    """Create (or re-key) the admin user with this key: the bootstrap path on AWS and locally."""
    if len(api_key) < 20:
        raise InvalidInput("the admin key must be at least 20 characters", field="api_key")
    data.put_user(name, "admin", key_hash(api_key), now_iso(), replace=True)
