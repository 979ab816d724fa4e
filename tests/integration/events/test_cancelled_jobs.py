"""`cancelled` is terminal for the notifier and the sweeper: the container's Cancelled answer ends a job cancelled,
and nothing that comes after a cancel (a late success, a failure, the deadline) changes it."""

from __future__ import annotations

import time

from async_flow_helpers import (
    failure_notification,
    publish,
    put_in_progress_job,
    success_notification,
    write_failure,
    write_success,
)

from api_schema.jobs import CANCELLED, InferenceFailure
from lambdas.data.jobs import get_job, mark_cancelled
from lambdas.sweeper import handler as sweeper


def status(job_id: str) -> str:
    job = get_job(job_id)
    assert job is not None
    return job.status


def cancelled_answer(job_id: str) -> str:
    failure = InferenceFailure(job_id=job_id, status_code=409, type=CANCELLED, message="the job was cancelled")
    return write_failure(job_id, failure)


def test_the_containers_cancelled_answer_ends_the_job_cancelled(aws, run_notifier):
    put_in_progress_job("c1")
    publish(failure_notification("c1", "ClientError: Received client error (409)", cancelled_answer("c1")), error=True)

    assert run_notifier()[1] == []

    job = get_job("c1")
    assert job is not None and job.status == "cancelled" and job.error is None
    assert job.pending is None and job.queue is None


def test_a_late_success_or_failure_after_a_cancel_changes_nothing(aws, run_notifier):
    for job_id in ("c2", "c3"):
        put_in_progress_job(job_id)
        assert mark_cancelled(job_id)
    publish(success_notification("c2", write_success("c2")))
    publish(failure_notification("c3", "ModelError", cancelled_answer("c3")), error=True)

    assert run_notifier()[1] == []

    assert (status("c2"), status("c3")) == ("cancelled", "cancelled")
    assert getattr(get_job("c2"), "images", None) is None


def test_the_sweeper_leaves_cancelled_jobs_alone(aws):
    put_in_progress_job("c4", deadline=int(time.time()) - 60)
    assert mark_cancelled("c4")

    assert sweeper({}, None) == {"outcomes": {}}
    assert status("c4") == "cancelled"
