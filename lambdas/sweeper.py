"""Lambda (EventBridge schedule, every 5 minutes): settle jobs past their deadline, queue lost webhooks."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger

from lambdas.logic.sweeping import sweep

logger = Logger()


class SweepIncomplete(RuntimeError):
    """Some jobs hit transient errors; they stay overdue (or marked `announce`) and the next run retries them."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = sweep(int(time.time()))
    outcomes = {job_id: outcome.value for job_id, outcome in report.outcomes.items()}
    logger.info("sweep done", extra={"outcomes": outcomes, "errors": report.errors})
    if report.errors:
        raise SweepIncomplete(f"{len(report.errors)} job(s) not settled or announced: {report.errors}")
    return {"outcomes": outcomes}
