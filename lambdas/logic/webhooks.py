"""Completion webhooks: the users' signing secrets, and the announcement that a job with a `webhook_url` ended.

The announcement is an outbox on the job item: a job created with a `webhook_url` carries `announce`, and only
once its end is on the webhook queue is the mark removed. The path that ends a job queues it at once
(`announce_end_or_defer`); should that fail, or the Lambda die between the transition and the send, the ended
job stays in the sparse index `by_announce` and the sweeper queues it (`announce_outstanding`). Delivery is at
least once: a send whose mark removal failed is sent again by the sweeper, under the same Standard Webhooks
message id (`webhook_id`), so receivers deduplicate on it.

The delivery itself (sign, POST, retry with backoff) is `lambdas.logic.webhook_delivery`, run by its own function
from the webhook queue.
"""

from __future__ import annotations

import base64
import logging
import secrets

from api_schema.resources import ENDED_STATUSES, WebhookSecretResponse
from lambdas.data import jobs, webhook_queue, webhook_secrets
from lambdas.data.records import JobRecord
from lambdas.errors import InvalidInput
from lambdas.logic.caller import Caller
from lambdas.logic.webhook_urls import check_webhook_url
from lambdas.settings import settings

SECRET_PREFIX = "whsec_"  # the Standard Webhooks secret format: the prefix, then the key in base64
SECRET_BYTES = 32

logger = logging.getLogger(__name__)


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


def _announce(job: JobRecord) -> bool:
    """Queue an ended job's webhook if it has a webhook_url, then drop its mark; True when one was queued."""
    if job.status not in ENDED_STATUSES:
        return False
    if job.webhook_url:
        webhook_queue.send(job.id, webhook_id(job.id))
    if job.announce:
        jobs.clear_announce(job.id)
    return bool(job.webhook_url)


def announce_end(job_id: str) -> bool:
    """Queue the webhook of a job that has ended, if it has a webhook_url; True when one was queued. AWS errors
    raise, and the job keeps its mark for the sweeper."""
    job = jobs.get_job(job_id)
    return job is not None and _announce(job)


def announce_end_or_defer(job_id: str) -> None:
    """`announce_end` for the path that has just ended the job. The end is written and the job keeps its mark, so
    an error here is logged and left to the sweeper: never a 5xx for the API's caller, nor a retried notification
    (whose transition, already done, would not announce again)."""
    try:
        announce_end(job_id)
    except Exception:
        logger.exception("the webhook of job %s was not queued; the sweeper will queue it", job_id)


def announce_outstanding(job_id: str) -> bool:
    """The sweeper's `announce_end` of a job found in `by_announce`: only if a consistent read still finds its mark
    (the index lags behind the table); True when one was queued."""
    job = jobs.get_job(job_id)
    return job is not None and job.announce is not None and _announce(job)
