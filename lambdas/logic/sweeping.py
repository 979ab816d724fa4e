"""Settle jobs past their deadline: lost notifications, hung or vanished endpoints, payloads never uploaded.

Deadlines are set by the control plane: an in_progress job's is its start + request_ttl_seconds (the longest
SageMaker keeps it queued) + job_timeout_seconds (the invocation timeout) + sweep_margin_seconds; a created
job's is the end of its upload window. Past it, SageMaker has given up on the invocation, so what is in S3 is
final: the success output settles the job as the notifier would have, else the failure object, else the job
fails as timed out. A created job fails as never started.

It also empties the webhook outbox: an ended job still marked `announce` ANNOUNCE_GRACE_S after its end (the
path that ended it failed to queue its webhook, or died first) is queued now (`lambdas.logic.webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from lambdas.data.dynamo import iso, parse_iso
from lambdas.data.jobs import get_job, mark_failed, overdue_jobs, unannounced_jobs
from lambdas.data.records import JobRecord
from lambdas.data.results_store import S3Location, async_failure_location, async_output_location, exists
from lambdas.logic.results import Outcome, settle_failure, settle_success
from lambdas.logic.webhooks import announce_end_or_defer, announce_outstanding
from lambdas.settings import settings

SWEEP_LIMIT = 200  # jobs per run; a larger backlog is worked off by the following runs (every 5 minutes)
GIVE_UP_AFTER_S = 3600  # a job whose result still cannot be read this long after its deadline is failed
ANNOUNCE_GRACE_S = 60  # how long after its end a job's webhook is left to the path that ended it


@dataclass
class SweepReport:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # job id -> the transient error; the next run retries

    def attempt(self, job_id: str, settle: Callable[[], Outcome]) -> None:
        try:
            self.outcomes[job_id] = settle()
        except Exception as exc:  # one job's transient error must not keep the others waiting
            self.errors[job_id] = f"{type(exc).__name__}: {exc}"


def _seconds_since_start(job: JobRecord, now: int) -> int | None:
    try:
        began = parse_iso(job.started_at or job.created_at)
    except ValueError:
        return None
    return max(0, now - int(began.timestamp()))


def timed_out_error(job: JobRecord, now: int) -> str:
    elapsed = _seconds_since_start(job, now)
    waited = f" after {elapsed} s" if elapsed is not None else ""
    endpoint = f"endpoint {job.endpoint_name}" if job.endpoint_name else "the endpoint"
    return f"timed out{waited} without a result from {endpoint}"


def _failed(job_id: str, error: str) -> Outcome:
    if not mark_failed(job_id, error):
        return Outcome.UNCHANGED
    announce_end_or_defer(job_id)
    return Outcome.FAILED


def _recorded(location: str | None) -> S3Location | None:
    """Where InvokeEndpointAsync said it would write (recorded at submit); None if not recorded."""
    return S3Location.parse(location) if location else None


def recover(job_id: str, now: int) -> Outcome:
    """Settle one overdue job from its S3 output, its failure object, or as timed out."""
    job = get_job(job_id)  # the index is eventually consistent: the job may have moved on meanwhile
    if job is None or job.pending is None or job.deadline > now:
        return Outcome.UNCHANGED
    if job.status == "created":
        return _failed(job_id, "the payload was not uploaded and started before the upload URL expired")
    bucket = settings().bucket
    output = _recorded(job.output_location) or async_output_location(bucket, job_id)
    if exists(output):
        return settle_success(job_id, output)
    failure = _recorded(job.failure_location) or async_failure_location(bucket, job_id)
    if exists(failure):
        return settle_failure(job_id, failure, reason=None)
    return settle_failure(job_id, None, reason=timed_out_error(job, now))


def _settle_overdue(job: JobRecord, now: int) -> Outcome:
    """`recover`; once the job is GIVE_UP_AFTER_S past its deadline, an error fails it instead of keeping it."""
    try:
        return recover(job.id, now)
    except Exception as exc:
        if now - job.deadline < GIVE_UP_AFTER_S:
            raise
        return _failed(job.id, f"its result could not be read: {type(exc).__name__}")


def _announce(job_id: str) -> Outcome:
    return Outcome.ANNOUNCED if announce_outstanding(job_id) else Outcome.UNCHANGED


def sweep(now: int, limit: int = SWEEP_LIMIT) -> SweepReport:
    """Settle up to `limit` overdue jobs, then queue the webhooks of up to `limit` jobs that ended ANNOUNCE_GRACE_S
    or more before `now` (epoch s) without their webhook queued."""
    report = SweepReport()
    for job in overdue_jobs(now, limit):
        report.attempt(job.id, partial(_settle_overdue, job, now))
    ended_by = iso(datetime.fromtimestamp(now - ANNOUNCE_GRACE_S, UTC))
    for job_id in unannounced_jobs(ended_by, limit):
        report.attempt(job_id, partial(_announce, job_id))
    return report
