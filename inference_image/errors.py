"""Typed errors of a job; `server` maps them to HTTP in one place."""

from __future__ import annotations


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
