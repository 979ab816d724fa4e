"""The `progress` of in_progress jobs: running (the container's last report) or queued (and behind how many).

A job is running once its container has written a progress report. Its endpoint takes jobs in the order they
were handed to it, so the jobs ahead of a queued one are those handed over before it and after the latest
one that is running: one Query on the endpoint's queue (index `by_queue`), then reads from the latest back.
"""

from __future__ import annotations

import time

from api_schema import s3_layout
from api_schema.jobs import JobProgress
from api_schema.resources import Progress
from lambdas.data import jobs, storage
from lambdas.data.job_signals import read_progress
from lambdas.data.records import JobRecord

QUEUE_LOOKAHEAD = 50  # the most jobs looked at ahead of a queued one: a longer queue reports this many


class QueueView:
    """One per request: each job's progress report is read once however many jobs of a page ask for it."""

    def __init__(self) -> None:
        self._reports: dict[str, JobProgress | None] = {}

    def _report(self, job_id: str) -> JobProgress | None:
        if job_id not in self._reports:
            self._reports[job_id] = read_progress(job_id)
        return self._reports[job_id]

    def progress(self, job: JobRecord) -> Progress | None:
        """None unless the job is in_progress."""
        if job.status != "in_progress":
            return None
        report = self._report(job.id)
        if report is None:
            return Progress(state="queued", queue_position=self._position(job))
        return running(report, time.time())

    def _position(self, job: JobRecord) -> int:
        position = 0
        for job_id in jobs.queued_before(job.endpoint_name, job.started_at or job.created_at, QUEUE_LOOKAHEAD):
            if self._report(job_id) is not None:
                break
            position += 1
        return position


def running(report: JobProgress, now: float) -> Progress:
    fraction = min(1.0, report.step / report.steps) if report.steps else 0.0
    eta = None if report.eta_s is None else max(0.0, report.eta_s - max(0.0, now - report.written_at))
    preview = None if report.preview_step is None else storage.presign_get(s3_layout.preview_key(report.job_id))
    return Progress(state="running", step=report.step, steps=report.steps, fraction=round(fraction, 4),
                    phase=report.phase, eta_s=None if eta is None else round(eta, 1), preview_url=preview)
