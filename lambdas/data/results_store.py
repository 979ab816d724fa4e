"""The S3 objects SageMaker async inference leaves behind: the response (manifest), the error body, the images.

Where they are: the endpoint config sets `S3OutputPath = s3://{bucket}/async/success` and
`S3FailurePath = s3://{bucket}/async/failure`, and the control plane invokes with `InferenceId = job id`,
so SageMaker writes `async/success/{job_id}.out` or `async/failure/{job_id}-error.out`. The notifier takes
the locations from the notification; the sweeper, which has none, takes those InvokeEndpointAsync answered
(recorded on the job) or, when they were not recorded, these names.

A missing object is `None` / `False`; every other error (throttling, 5xx, access) propagates so that
the caller retries. HeadObject answers 404 for a missing key only with `s3:ListBucket`; without it, 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from api_schema import s3_layout
from lambdas.data.aws import client, error_code

MAX_RESULT_BYTES = 1024 * 1024  # manifests and error bodies are a few KiB; refuse to load anything huge

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """`s3://bucket/key` -> S3Location; ValueError when it is not one."""
        parts = urlparse(uri)
        key = unquote(parts.path.lstrip("/"))
        if parts.scheme != "s3" or not parts.netloc or not key:
            raise ValueError(f"not an s3://bucket/key location: {uri!r}")
        return cls(parts.netloc, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ResultTooLarge(ValueError):
    pass


def async_output_location(bucket: str, job_id: str) -> S3Location:
    return S3Location(bucket, s3_layout.async_output_key(job_id))


def async_failure_location(bucket: str, job_id: str) -> S3Location:
    return S3Location(bucket, s3_layout.async_failure_key(job_id))


def _is_missing(exc: Exception) -> bool:
    return error_code(exc) in _MISSING_CODES


def read_text(location: S3Location) -> str | None:
    """The object's text (UTF-8, undecodable bytes replaced), or None when it does not exist."""
    try:
        response = client("s3").get_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise
    body = response["Body"]
    if int(response.get("ContentLength", 0)) > MAX_RESULT_BYTES:
        body.close()
        raise ResultTooLarge(f"{location} is larger than {MAX_RESULT_BYTES} bytes")
    return bytes(body.read()).decode("utf-8", errors="replace")


def exists(location: S3Location) -> bool:
    try:
        client("s3").head_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        if _is_missing(exc):
            return False
        raise
    return True
