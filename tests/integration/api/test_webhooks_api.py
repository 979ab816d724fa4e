"""Webhooks through the API: the signing secret (created and rotated by its owner, shown once, readable afterwards
by nothing the API answers) and a job's webhook_url (checked at submit, kept on the job)."""

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


def submit(gateway, key, webhook_url):
    body = {"endpoint_name": "sd", "task": "txt2img", "payload_upload": True, "webhook_url": webhook_url}
    return gateway.post("/inferences", key=key, json_body=body)


def test_a_job_keeps_its_webhook_url_once_its_owner_has_a_secret(gateway, user_key, endpoint):
    url = "https://93.184.215.14/hooks/sdcloud"
    without = submit(gateway, user_key, url)
    rotate(gateway, user_key)
    job = submit(gateway, user_key, url)

    assert without.status == 400 and without.body["field"] == "webhook_url"
    assert "webhook-secret" in without.message
    assert job.status == 201 and job.body["inference"]["webhook_url"] == url
    read = gateway.get(f"/inferences/{job.body['inference']['id']}", key=user_key)
    assert read.body["inference"]["webhook_url"] == url


def test_on_the_aws_settings_a_private_or_plain_http_webhook_url_is_400(gateway, user_key, endpoint):
    rotate(gateway, user_key)

    for url in ("https://10.0.0.7/hook", "https://169.254.169.254/latest/meta-data", "https://[fd00:ec2::254]/",
                "http://127.0.0.1:8080/hook", "https://localhost/hook"):
        reply = submit(gateway, user_key, url)
        assert reply.status == 400 and reply.body["field"] == "webhook_url", (url, reply.body)
