"""Recover or fail in_progress jobs past their deadline (a lost notification, a hung or vanished endpoint).

The deadline is set at submit: start + job_timeout_seconds (the invocation timeout) + sweep_margin_seconds.
Past it SageMaker has given up on the invocation, so what is in S3 is final: the success output settles the
job as the notifier would have, else the failure object, else the job fails as timed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas.data.jobs import overdue_jobs
from lambdas.data.results_store import async_failure_location, async_output_location, exists
from lambdas.logic.results import Outcome, settle_failure, settle_success
from lambdas.settings import settings

SWEEP_LIMIT = 200  # jobs per run; a larger backlog is worked off by the following runs (every 5 minutes)


@dataclass
class SweepReport:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # job id -> the transient error; the next run retries


def _seconds_since_start(job: dict[str, Any], now: int) -> int | None:
    started = job.get("started_at") or job.get("created_at")
    try:
        began = datetime.strptime(str(started), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0, now - int(began.timestamp()))


def timed_out_error(job: dict[str, Any], now: int) -> str:
    elapsed = _seconds_since_start(job, now)
    waited = f" after {elapsed} s" if elapsed is not None else ""
    endpoint = f"endpoint {job['endpoint_name']}" if job.get("endpoint_name") else "the endpoint"
    return f"timed out{waited} without a result from {endpoint}"


def recover(job: dict[str, Any], now: int) -> Outcome:
    """Settle one overdue job from its S3 output, its failure object, or as timed out."""
    job_id, bucket = str(job["id"]), settings().bucket
    output = async_output_location(bucket, job_id)
    if exists(output):
        return settle_success(job_id, output)
    failure = async_failure_location(bucket, job_id)
    if exists(failure):
        return settle_failure(job_id, failure, reason=None)
    return settle_failure(job_id, None, reason=timed_out_error(job, now))


def sweep(now: int, limit: int = SWEEP_LIMIT) -> SweepReport:
    report = SweepReport()
    for job in overdue_jobs(now, limit):
        try:
            report.outcomes[job["id"]] = recover(job, now)
        except Exception as exc:  # one job's transient error must not keep the others stuck
            report.errors[job["id"]] = f"{type(exc).__name__}: {exc}"
    return report
