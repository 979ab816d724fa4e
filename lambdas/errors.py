"""Typed domain errors, and the one place that maps them to HTTP statuses.

Logic and data access raise these; the API resolver turns each into a 4xx JSON body
`{"message": ..., "field": ...}` where `field` names the request field at fault (when there is one).
"""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """The request is malformed or refers to something that cannot be used."""


class Unauthenticated(DomainError):
    """No caller identity reached the handler (the authorizer did not run or passed nothing)."""


class Forbidden(DomainError):
    """The caller is known but its role may not do this."""


class NotFound(DomainError):
    """No such resource, or not one the caller may see."""


class Conflict(DomainError):
    """The resource exists already or is in a state that does not allow this."""


class UnsupportedMediaType(DomainError):
    """The request body is not in a format the API reads (JSON in UTF-8)."""


HTTP_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    UnsupportedMediaType: 415,
}


def http_status(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400
