"""Users and their API keys: a key is shown once, only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets

from api_schema.resources import CreateUserRequest, CreateUserResponse, Role, User, UserList, UserResponse
from lambdas.data import users as data
from lambdas.data.dynamo import now_iso
from lambdas.data.pages import decode_token, encode_token
from lambdas.data.records import UserRecord
from lambdas.errors import InvalidInput, NotFound
from lambdas.logic.caller import Caller

KEY_PREFIX = "sdc_"
ADMIN_NAME = "admin"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _user(record: UserRecord) -> User:
    return User(name=record.name, role=record.role, created_at=record.created_at)


def _new_user(name: str, role: Role, api_key: str) -> UserRecord:
    return UserRecord(name=name, role=role, key_hash=key_hash(api_key), created_at=now_iso())


def create_user(caller: Caller, request: CreateUserRequest) -> CreateUserResponse:
    caller.require_admin()
    api_key = new_api_key()
    user = data.put_user(_new_user(request.name, request.role, api_key))
    return CreateUserResponse(user=_user(user), api_key=api_key)


def list_users(caller: Caller, limit: int, next_token: str | None) -> UserList:
    caller.require_admin()
    page = data.list_users(limit, decode_token("users", next_token, data.PAGE_KEY))
    return UserList(users=[_user(i) for i in page.items], next_token=encode_token("users", page.next_key))


def current_user(caller: Caller) -> UserResponse:
    user = data.get_user(caller.name)
    if user is None:  # revoked since the authorizer's answer was cached
        raise NotFound(f"user '{caller.name}' does not exist", field="x-api-key")
    return UserResponse(user=_user(user))


def revoke_user(caller: Caller, name: str) -> None:
    caller.require_admin()
    if name == caller.name:
        raise InvalidInput("you cannot revoke your own key", field="name")
    data.delete_user(name)


def authenticate(api_key: str) -> Caller | None:
    """The user an API key belongs to, or None for an unknown or revoked key."""
    if not api_key:
        return None
    user = data.find_by_key_hash(key_hash(api_key))
    return Caller(name=user.name, role=user.role) if user else None


def set_admin_key(api_key: str, name: str = ADMIN_NAME) -> None:
    """Create (or re-key) the admin user with this key: the bootstrap path on AWS and locally."""
    if len(api_key) < 20:
        raise InvalidInput("the admin key must be at least 20 characters", field="api_key")
    data.put_user(_new_user(name, "admin", api_key), replace=True)
