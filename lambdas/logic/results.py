"""Settle an in_progress job from what the endpoint left in S3; the notifier and the sweeper share this path.

A success whose manifest or images are missing or invalid fails the job at once with an error that says
so: SageMaker writes the output object before it notifies, the container uploads the images before it
answers, and S3 reads are strongly consistent, so waiting would not bring them back (it would only hold
the job in_progress until the DLQ or the sweeper). Throttling and other transient errors propagate, so the
message is retried through the queue (or the job by the next sweep).
"""

from __future__ import annotations

from enum import Enum

from pydantic import ValidationError

from api_schema import s3_layout
from api_schema.jobs import CANCELLED, InferenceFailure, InferenceManifest
from api_schema.validation_errors import as_text, problems
from lambdas.data.jobs import get_job, mark_cancelled, mark_failed, mark_succeeded
from lambdas.data.results_store import ResultTooLarge, S3Location, exists, read_text
from lambdas.logic.webhooks import announce_end_or_defer

MAX_ERROR_CHARS = 2000


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the container stopped the job because it was cancelled
    UNCHANGED = "unchanged"  # the job is not in_progress (finished, deleted, unknown): nothing written
    IGNORED = "ignored"  # not an inference result (e.g. SageMaker's test notification)
    MALFORMED = "malformed"
    ANNOUNCED = "announced"  # the sweeper queued the webhook of a job whose end was not queued when it ended


def _is_in_progress(job_id: str) -> bool:
    job = get_job(job_id)
    return job is not None and job.status == "in_progress"


def _fail(job_id: str, error: str) -> Outcome:
    if not mark_failed(job_id, error[:MAX_ERROR_CHARS]):
        return Outcome.UNCHANGED
    announce_end_or_defer(job_id)
    return Outcome.FAILED


def _cancel(job_id: str) -> Outcome:
    if not mark_cancelled(job_id):
        return Outcome.UNCHANGED
    announce_end_or_defer(job_id)
    return Outcome.CANCELLED


def _load_manifest(job_id: str, output: S3Location) -> InferenceManifest | str:
    """The manifest, or why it cannot be used (a readable error for the job)."""
    try:
        text = read_text(output)
    except ResultTooLarge as exc:
        return f"the endpoint reported success but its result is unusable: {exc}"
    if text is None:
        return f"the endpoint reported success but its result {output} is missing"
    try:
        manifest = InferenceManifest.model_validate_json(text)
    except ValidationError as exc:
        return f"the endpoint's result {output} is not a valid manifest ({as_text(problems(exc)[0])})"
    if manifest.job_id != job_id:
        return f"the endpoint's result {output} belongs to job {manifest.job_id!r}, not {job_id!r}"
    if not manifest.images:
        return "the endpoint reported success but produced no images"
    prefix = s3_layout.output_prefix(job_id)
    outside = [key for key in manifest.images if not key.startswith(prefix)]
    if outside:
        return f"the endpoint's result names images outside {prefix}: {', '.join(outside)}"
    missing = [key for key in manifest.images if not exists(S3Location(output.bucket, key))]
    if missing:
        return f"{len(missing)} of {len(manifest.images)} result images are missing: {', '.join(missing)}"
    return manifest


def settle_success(job_id: str, output: S3Location) -> Outcome:
    """in_progress -> succeeded from the manifest at `output` (failed if the result is unusable)."""
    if not _is_in_progress(job_id):
        return Outcome.UNCHANGED
    manifest = _load_manifest(job_id, output)
    if isinstance(manifest, str):
        return _fail(job_id, manifest)
    if not mark_succeeded(job_id, manifest):
        return Outcome.UNCHANGED
    announce_end_or_defer(job_id)
    return Outcome.SUCCEEDED


def describe_failure(text: str) -> str | None:
    """A readable error from the container's InferenceFailure body; None when the text is not one."""
    try:
        failure = InferenceFailure.model_validate_json(text)
    except ValidationError:
        return None
    detail = failure.type if failure.field is None else f"{failure.type}, field {failure.field}"
    return f"{failure.message} ({detail})"


def settle_failure(job_id: str, failure: S3Location | None, reason: str | None) -> Outcome:
    """in_progress -> failed; the error is the container's failure object, else `reason`, else the raw object.
    A container that stopped the job because it was cancelled (failure type `Cancelled`): -> cancelled."""
    if not _is_in_progress(job_id):
        return Outcome.UNCHANGED
    try:
        text = read_text(failure) if failure else None
    except ResultTooLarge:
        text = None
    if text and _is_cancelled(text):
        return _cancel(job_id)
    error = (text and describe_failure(text)) or reason or (text and text.strip()) or "the inference failed"
    return _fail(job_id, error)


def _is_cancelled(text: str) -> bool:
    try:
        return InferenceFailure.model_validate_json(text).type == CANCELLED
    except ValidationError:
        return False
