"""Every key and prefix of the bucket, defined once (DESIGN.md section 4).

The handlers build keys with it, the inference container names its images with it, and the CDK constructs
scope lifecycle rules and IAM grants to its prefixes. Stdlib only.
"""

from __future__ import annotations

MODELS = "models/"
INPUTS = "inputs/"
OUTPUTS = "outputs/"
ASYNC = "async/"
ASYNC_SUCCESS = f"{ASYNC}success/"  # the endpoint config's S3OutputPath
ASYNC_FAILURE = f"{ASYNC}failure/"  # and its S3FailurePath
COMPILED = "compiled/"  # compiled artifacts shared by instances: compiled/{torch}/{GPU}/{artifact}
ACCESS_LOGS = "bucket/"  # the bucket's server access logs, in the access-log bucket


def model_key(model_type: str, model_id: str, filename: str) -> str:
    return f"{MODELS}{model_type}/{model_id}/{filename}"


def input_key(job_id: str) -> str:
    """The job's input, read by the endpoint (InvokeEndpointAsync's InputLocation)."""
    return f"{INPUTS}{job_id}.json"


def payload_key(job_id: str) -> str:
    """Where a `payload_upload` job's client PUTs its payload."""
    return f"{INPUTS}{job_id}.payload.json"


def output_prefix(job_id: str) -> str:
    return f"{OUTPUTS}{job_id}/"


def progress_key(job_id: str) -> str:
    """The running job's progress (`jobs.JobProgress`), written by the container, read by the control plane."""
    return f"{output_prefix(job_id)}progress.json"


def preview_key(job_id: str) -> str:
    """The running job's live preview (a small JPEG), when the container makes them."""
    return f"{output_prefix(job_id)}preview.jpg"


CANCEL_MARKER = "cancel"


def cancel_key(job_id: str) -> str:
    """Present once the job was cancelled: the control plane writes it, the container looks for it."""
    return f"{output_prefix(job_id)}{CANCEL_MARKER}"


def image_key(output_prefix: str, index: int) -> str:
    return f"{output_prefix}image_{index}.png"


def async_output_key(job_id: str) -> str:
    """What SageMaker writes under S3OutputPath when invoked with `InferenceId = job id`."""
    return f"{ASYNC_SUCCESS}{job_id}.out"


def async_failure_key(job_id: str) -> str:
    return f"{ASYNC_FAILURE}{job_id}-error.out"
