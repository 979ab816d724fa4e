"""Typed errors of a job; `server` maps them to HTTP in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api_schema.jobs import CANCELLED
from api_schema.validation_errors import validation_field, validation_message

if TYPE_CHECKING:
    from pydantic import ValidationError


class JobError(Exception):
    status_code = 500
    type = "InternalError"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidJob(JobError):
    """The job asks for something this server cannot do (a user error: 400)."""

    status_code = 400
    type = "InvalidJob"


class ModelLoadError(JobError):
    """A model file is missing, corrupt, of the wrong kind or of a refused format (a user error: 422)."""

    status_code = 422
    type = "ModelLoadError"


class Busy(JobError):
    status_code = 503
    type = "Busy"


class Cancelled(JobError):
    """The job was cancelled (its S3 marker is there): it stops before it starts or at its next step."""

    status_code = 409
    type = CANCELLED


def field_and_message(exc: ValidationError) -> tuple[str | None, str]:
    """A pydantic error as the job's failure reads it: the first error's field, and every error's message."""
    return validation_field(exc), validation_message(exc)
