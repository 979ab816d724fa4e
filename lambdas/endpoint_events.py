"""Lambda: EventBridge "SageMaker Endpoint State Change" -> endpoints table status and autoscaling.

A malformed event is logged and dropped (a retry could not fix it); AWS errors raise, so EventBridge's
asynchronous invocation retries the event (every step is idempotent).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambdas.logic.endpoint_lifecycle import MalformedEvent, StateChange, apply_state_change

logger = Logger()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        change = StateChange.from_event(event)
    except MalformedEvent as exc:
        logger.warning(f"malformed endpoint event dropped: {exc}", extra={"event_id": event.get("id")})
        return {"result": f"malformed: {exc}"}
    result = apply_state_change(change)
    logger.info(result, extra={"endpoint": change.endpoint, "sagemaker_status": change.sagemaker_status})
    return {"endpoint": change.endpoint, "result": result}
