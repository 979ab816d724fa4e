"""The Lambda functions, defined once: the CDK stack builds them from this, and the local stack runs them with
the same timeouts and memory.

Stdlib only: `infrastructure/` and `sdcloud.local` import it without loading any handler.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    timeout_s: int
    memory_mb: int = 256


# API Gateway's integration limit: a longer run would be cut off at 29 s anyway.
API = FunctionSpec("api", "lambdas.api.app.handler", timeout_s=29, memory_mb=512)
AUTHORIZER = FunctionSpec("authorizer", "lambdas.authorizer.handler", timeout_s=10)
# The results queue's visibility timeout follows it (infrastructure/constructs/messaging.py).
NOTIFIER = FunctionSpec("notifier", "lambdas.notifier.handler", timeout_s=60, memory_mb=512)
ENDPOINT_EVENTS = FunctionSpec("endpoint-events", "lambdas.endpoint_events.handler", timeout_s=60)
# A sweep settles at most SWEEP_LIMIT jobs; its schedule runs every 5 minutes.
SWEEPER = FunctionSpec("sweeper", "lambdas.sweeper.handler", timeout_s=120, memory_mb=512)
# Completion webhooks from the webhook queue, WEBHOOK_BATCH_SIZE at a time; one POST waits at most 10 s.
WEBHOOK_DELIVERY = FunctionSpec("webhook-delivery", "lambdas.webhook_delivery.handler", timeout_s=60)
WEBHOOK_BATCH_SIZE = 5
# Receives of a webhook message before its dead-letter queue: with the delivery's backoff (settings'
# webhook_retry_seconds, doubled per attempt up to 15 minutes) the default retries cover about 1.8 hours.
WEBHOOK_MAX_RECEIVES = 12
# The CloudFormation custom resource writing the first admin; the local stack calls `create_local_admin()`.
BOOTSTRAP_ADMIN = FunctionSpec("bootstrap-admin", "lambdas.bootstrap_admin.handler", timeout_s=60)

LOCAL_FUNCTIONS = (API, AUTHORIZER, NOTIFIER, ENDPOINT_EVENTS, SWEEPER, WEBHOOK_DELIVERY)
ALL_FUNCTIONS = (*LOCAL_FUNCTIONS, BOOTSTRAP_ADMIN)
