"""Pagination tokens and the error mapping, without AWS."""

from __future__ import annotations

import base64
import json

import pytest

from lambdas.api.app import field_path
from lambdas.data.pages import decode_token, encode_token
from lambdas.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated, http_status

KEY = {"id": "j1", "owner": "alice", "created_at": "2026-11-25T18:00:00.000000Z"}


def test_a_token_round_trips_within_its_scope():
    token = encode_token("inferences:alice", KEY)

    assert token is not None and "=" not in token
    assert decode_token("inferences:alice", token, set(KEY)) == KEY
    assert encode_token("x", None) is None and decode_token("x", None, set(KEY)) is None


@pytest.mark.parametrize(
    "token",
    [
        "!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(json.dumps([1]).encode()).decode(),
        encode_token("inferences:bob", KEY),
        encode_token("inferences:alice", {**KEY, "extra": "x"}),
        encode_token("inferences:alice", {**KEY, "created_at": 5}),
    ],
)
def test_malformed_foreign_or_forged_tokens_are_invalid_input(token):
    with pytest.raises(InvalidInput) as error:
        decode_token("inferences:alice", token, set(KEY))

    assert error.value.field == "next_token"


def test_one_token_may_have_one_of_several_shapes():
    assert decode_token("models:*", encode_token("models:*", {"type": "lora"}), set(KEY), {"type"}) == {"type": "lora"}


@pytest.mark.parametrize(
    ("error", "status"),
    [(InvalidInput("x"), 400), (Unauthenticated("x"), 401), (Forbidden("x"), 403), (NotFound("x"), 404),
     (Conflict("x"), 409), (DomainError("x"), 400)],
)
def test_each_domain_error_has_one_status(error, status):
    assert http_status(error) == status


def test_field_paths_drop_the_request_part():
    assert field_path(("body", "payload", "steps")) == "payload.steps"
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("body", "parts", 0, "etag")) == "parts.0.etag"
