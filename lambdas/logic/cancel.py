"""Cancel a job: `created` or `in_progress` -> `cancelled` at once, and its webhook is queued like any ended job's.

The marker is written before the table changes, so a container that starts the job after the change finds it
and skips the job; one running it stops at its next denoising step. A job that ended meanwhile keeps its end
(the conditional update fails, and whichever transition ended it announced it) and the unused marker goes with
the job when it is deleted; one that the notifier cancelled first (the container saw this marker) answers as a
cancel that took effect.
"""

from __future__ import annotations

from api_schema.resources import ENDED_STATUSES, InferenceResponse
from lambdas.data import jobs
from lambdas.data.job_signals import request_cancel
from lambdas.errors import Conflict
from lambdas.logic.caller import Caller
from lambdas.logic.inferences import owned_job, to_inference
from lambdas.logic.webhooks import announce_end_or_defer


def _already_ended(job_id: str, status: str) -> Conflict:
    return Conflict(f"inference '{job_id}' has already ended: it is {status}", field="id")


def cancel(caller: Caller, job_id: str) -> InferenceResponse:
    job = owned_job(caller, job_id)
    if job.status in ENDED_STATUSES:
        raise _already_ended(job_id, job.status)
    request_cancel(job_id)
    cancelled = jobs.mark_cancelled(job_id)
    if cancelled is None:
        current = jobs.get_job(job_id) or job
        if current.status == "cancelled":  # the container saw the marker and the notifier ended it first
            return InferenceResponse(inference=to_inference(current))
        raise _already_ended(job_id, current.status)
    announce_end_or_defer(job_id)
    return InferenceResponse(inference=to_inference(cancelled))
