"""Users, keys and the authorizer: only a known, unrevoked key gets in, only admins manage users."""

from __future__ import annotations

import hashlib

import boto3
import pytest


def test_ping_needs_no_key(gateway):
    reply = gateway.get("/ping")

    assert reply.status == 200
    assert reply.body["status"] == "ok" and reply.body["version"]
    assert gateway.authorizer_calls == 0


@pytest.mark.parametrize("key", [None, "", "sdc_not-a-real-key"])
def test_a_missing_or_unknown_key_is_401(gateway, admin_key, key):
    assert gateway.get("/users", key=key).status == 401


def test_admin_creates_a_user_whose_key_works_and_is_stored_only_as_a_hash(gateway, admin_key, aws):
    reply = gateway.post("/users", key=admin_key, json_body={"name": "carol", "role": "user"})

    assert reply.status == 201
    assert reply.body["user"]["name"] == "carol" and reply.body["user"]["role"] == "user"
    key = reply.body["api_key"]
    item = boto3.resource("dynamodb").Table(aws.settings.users_table).get_item(Key={"name": "carol"})["Item"]
    assert item["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(item)
    assert gateway.get("/models", key=key).status == 200


def test_the_authorizer_passes_user_and_role(gateway, user_key):
    from lambdas.authorizer import handler

    policy = handler({"methodArn": "arn:aws:execute-api:us-east-1:1:api/v1/GET/models",
                      "headers": {"X-Api-Key": user_key}}, None)

    assert policy["context"] == {"user": "alice", "role": "user"}
    assert policy["principalId"] == "alice"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:1:api/v1/*"


def test_any_user_reads_who_its_key_belongs_to(gateway, admin_key, user_key):
    mine = gateway.get("/users/me", key=user_key)

    assert mine.status == 200
    assert mine.body["user"]["name"] == "alice" and mine.body["user"]["role"] == "user"
    assert gateway.get("/users/me", key=admin_key).body["user"]["role"] == "admin"
    assert gateway.get("/users/me").status == 401


def test_a_plain_user_may_not_manage_users(gateway, user_key):
    assert gateway.post("/users", key=user_key, json_body={"name": "mallory"}).status == 403
    assert gateway.get("/users", key=user_key).status == 403
    reply = gateway.delete("/users/alice", key=user_key)
    assert reply.status == 403 and "admin" in reply.message


def test_a_duplicate_user_name_is_409(gateway, admin_key, user_key):
    reply = gateway.post("/users", key=admin_key, json_body={"name": "alice"})

    assert reply.status == 409
    assert reply.body["field"] == "name"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "no spaces"}, "name"), ({"name": "x", "role": "root"}, "role"), ({}, "name"),
     ({"name": "x", "extra": 1}, "extra")],
)
def test_invalid_user_bodies_are_400_naming_the_field(gateway, admin_key, body, field):
    reply = gateway.post("/users", key=admin_key, json_body=body)

    assert reply.status == 400
    assert reply.body["field"] == field and reply.message.startswith(f"{field}:")


def test_a_body_that_is_not_json_is_400(gateway, admin_key):
    reply = gateway.post("/users", key=admin_key, raw_body="{not json")

    assert reply.status == 400 and "JSON" in reply.message


def test_a_revoked_key_stops_working(gateway, admin_key, user_key):
    assert gateway.get("/models", key=user_key).status == 200

    revoked = gateway.delete("/users/alice", key=admin_key)
    assert revoked.status == 204 and revoked.body is None  # no body at all, not `null`

    assert gateway.get("/models", key=user_key).status == 401
    assert gateway.delete("/users/alice", key=admin_key).status == 404


def test_an_admin_cannot_revoke_itself(gateway, admin_key):
    reply = gateway.delete("/users/admin", key=admin_key)

    assert reply.status == 400 and reply.body["field"] == "name"


def test_users_list_pages_through_every_user_once(gateway, admin_key):
    names = {f"user{i:02d}" for i in range(7)}
    for name in names:
        assert gateway.post("/users", key=admin_key, json_body={"name": name}).status == 201

    seen: list[str] = []
    token = None
    while True:
        reply = gateway.get("/users", key=admin_key, query={"limit": 3, "next_token": token})
        assert reply.status == 200
        assert len(reply.body["users"]) <= 3
        seen += [u["name"] for u in reply.body["users"]]
        token = reply.body["next_token"]
        if not token:
            break

    assert sorted(seen) == sorted(names | {"admin"})


def test_unknown_routes_are_404_json(gateway, admin_key):
    reply = gateway.get("/nothing-here", key=admin_key)

    assert reply.status == 404 and "no route" in reply.message
