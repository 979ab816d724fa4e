"""Completion webhooks: the users' signing secrets, and the announcement that a job with a `webhook_url` ended.

The delivery itself (sign, POST, retry with backoff) is `lambdas.logic.webhook_delivery`, run by its own function
from the webhook queue.
"""

from __future__ import annotations

import base64
import secrets

from api_schema.resources import ENDED_STATUSES, WebhookSecretResponse
from lambdas.data import jobs, webhook_queue, webhook_secrets
from lambdas.errors import InvalidInput
from lambdas.logic.caller import Caller
from lambdas.logic.webhook_urls import check_webhook_url
from lambdas.settings import settings

SECRET_PREFIX = "whsec_"  # the Standard Webhooks secret format: the prefix, then the key in base64
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def rotate_secret(caller: Caller) -> WebhookSecretResponse:
    """Create or replace the caller's signing secret; this answer is the only place it is ever shown."""
    secret = new_secret()
    webhook_secrets.put_secret(caller.name, secret)
    return WebhookSecretResponse(secret=secret)


def accept_webhook_url(caller: Caller, url: str) -> str:
    """The URL a job may be submitted with: allowed (`check_webhook_url`), and its owner has a secret to sign with."""
    check_webhook_url(url, allow_loopback=settings().webhook_allow_loopback)
    if not webhook_secrets.has_secret(caller.name):
        raise InvalidInput("webhook_url needs a webhook secret to sign with: POST /users/me/webhook-secret first",
                           field="webhook_url")
    return url


def webhook_id(job_id: str) -> str:
    """The Standard Webhooks message id of a job's end: one per job (it ends once), kept by every retry."""
    return f"msg_{job_id}"


def announce_end(job_id: str) -> None:
    """Queue the webhook of a job that has just ended, if it has a webhook_url."""
    job = jobs.get_job(job_id)
    if job and job.webhook_url and job.status in ENDED_STATUSES:
        webhook_queue.send(job_id, webhook_id(job_id))
