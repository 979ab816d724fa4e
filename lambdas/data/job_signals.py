"""What the control plane and a running job's container tell each other through S3, under the job's output
prefix: the container's progress (`s3_layout.progress_key`) and the cancel marker (`s3_layout.cancel_key`)."""

from __future__ import annotations

from pydantic import ValidationError

from api_schema import s3_layout
from api_schema.jobs import JobProgress
from lambdas.data.results_store import ResultTooLarge, S3Location, read_text
from lambdas.data.storage import bucket, s3


def read_progress(job_id: str) -> JobProgress | None:
    """The job's last progress report; None while the container has not started it (or wrote nothing usable)."""
    try:
        text = read_text(S3Location(bucket(), s3_layout.progress_key(job_id)))
    except ResultTooLarge:
        return None
    if text is None:
        return None
    try:
        return JobProgress.model_validate_json(text)
    except ValidationError:
        return None


def request_cancel(job_id: str) -> None:
    s3().put_object(Bucket=bucket(), Key=s3_layout.cancel_key(job_id), Body=b"")
