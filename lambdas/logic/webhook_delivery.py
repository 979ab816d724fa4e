"""Deliver one ended job's webhook: its JSON (as GET /inferences/{id} answers), signed with its owner's secret as
the Standard Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature`).

At least once: a delivery that fails (no answer, a non-2xx status, a transient AWS error) is retried with
exponential backoff, by making the message visible again later (settings' `webhook_retry_seconds`, doubled per
attempt, at most MAX_BACKOFF_S); after WEBHOOK_MAX_RECEIVES receives the queue moves it to its dead-letter queue.
A delivery that can never succeed (the job deleted meanwhile, its URL now refused) is dropped with a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

from api_schema.resources import ENDED_STATUSES, InferenceResponse
from lambdas.data import jobs, webhook_http, webhook_queue, webhook_secrets
from lambdas.errors import InvalidInput
from lambdas.logic.inferences import to_inference
from lambdas.logic.webhook_urls import Resolver, Unresolvable, check_webhook_url, resolve_host
from lambdas.settings import settings

MAX_BACKOFF_S = 900
TIMEOUT_S = 10


class DeliveryFailed(Exception):
    """This attempt failed; the message comes back after the backoff."""


@dataclass(frozen=True)
class Delivered:
    job_id: str
    detail: str
    dropped: bool = False


def backoff_seconds(receive_count: int, first_s: int) -> int:
    """How long after its `receive_count`-th receive (1, 2, ...) a failed message comes back."""
    return min(first_s * 2 ** (max(receive_count, 1) - 1), MAX_BACKOFF_S)


def signed_headers(secret: str, webhook_id: str, body: str, now: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": f"sdcloud-webhooks/{settings().version}",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def deliver(job_id: str, webhook_id: str, resolve: Resolver = resolve_host) -> Delivered:
    """POST the job's webhook once; DeliveryFailed (or an AWS error) when it should be tried again."""
    job = jobs.get_job(job_id)
    if job is None or not job.webhook_url or job.status not in ENDED_STATUSES:
        return Delivered(job_id, "the job is gone or has not ended: nothing to deliver", dropped=True)
    try:
        target = check_webhook_url(job.webhook_url, allow_loopback=settings().webhook_allow_loopback,
                                   resolve=resolve)
    except Unresolvable as exc:
        raise DeliveryFailed(exc.message) from exc
    except InvalidInput as exc:
        return Delivered(job_id, f"not delivered: {exc.message}", dropped=True)
    secret = webhook_secrets.get_secret(job.owner)
    if secret is None:
        return Delivered(job_id, f"not delivered: user '{job.owner}' has no webhook secret", dropped=True)
    body = InferenceResponse(inference=to_inference(job)).model_dump_json()
    headers = signed_headers(secret, webhook_id, body, datetime.now(UTC))
    try:
        status = webhook_http.post(scheme=target.scheme, host=target.host, port=target.port, address=target.address,
                                   path=target.path, body=body.encode(), headers=headers, timeout=TIMEOUT_S)
    except OSError as exc:
        raise DeliveryFailed(f"{target.host} could not be reached: {exc}") from exc
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{target.host} answered {status}")
    return Delivered(job_id, f"delivered to {target.host} ({status})")


def handle_message(body: str, receive_count: int, receipt_handle: str) -> Delivered:
    """One queue message; a failed attempt sets its backoff, then raises so the batch reports it as failed."""
    try:
        message = json.loads(body)
        job_id, webhook_id = str(message["job_id"]), str(message["webhook_id"])
    except (ValueError, TypeError, KeyError):
        return Delivered("", f"malformed message acknowledged: {body[:200]!r}", dropped=True)
    try:
        return deliver(job_id, webhook_id)
    except Exception:
        webhook_queue.retry_after(receipt_handle, backoff_seconds(receive_count, settings().webhook_retry_seconds))
        raise
