"""The webhook signing secret: created and rotated by its owner, shown once, readable afterwards by nothing the API
answers (it lives in Secrets Manager, one secret per user)."""

from __future__ import annotations

import base64

import boto3
from standardwebhooks import Webhook


def rotate(gateway, key):
    reply = gateway.post("/users/me/webhook-secret", key=key)
    assert reply.status == 201, reply.body
    return reply.body["secret"]


def stored(name):
    return boto3.client("secretsmanager").get_secret_value(SecretId=f"sdcloud/webhook/{name}")["SecretString"]


def test_any_user_creates_a_standard_webhooks_secret_stored_in_secrets_manager(gateway, user_key):
    secret = rotate(gateway, user_key)

    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert stored("alice") == secret
    Webhook(secret)  # the library takes it as it is


def test_rotation_replaces_the_secret_and_each_user_has_their_own(gateway, user_key, admin_key):
    first = rotate(gateway, user_key)
    second = rotate(gateway, user_key)
    admins = rotate(gateway, admin_key)

    assert len({first, second, admins}) == 3
    assert stored("alice") == second and stored("admin") == admins


def test_the_secret_is_shown_only_once(gateway, user_key):
    secret = rotate(gateway, user_key)

    for path in ("/users/me", "/inferences", "/models", "/endpoints"):
        reply = gateway.get(path, key=user_key)
        assert reply.status == 200 and secret not in str(reply.body) and "whsec_" not in str(reply.body)
    assert gateway.get("/users/me/webhook-secret", key=user_key).status in (404, 405)


def test_the_secret_route_needs_a_key(gateway, admin_key):
    assert gateway.post("/users/me/webhook-secret").status == 401
