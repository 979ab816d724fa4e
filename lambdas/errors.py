"""Typed domain errors, and the one place that maps them to HTTP statuses.

Logic and data access raise these; the API resolver turns each into a 4xx JSON body
`{"message": ..., "field": ..., "errors": [{"field", "message"}, ...]}` where `field` names the request field
at fault (when there is one) and `errors` lists every problem found, `message` and `field` being the first.
"""

from __future__ import annotations

from typing import NamedTuple


class FieldError(NamedTuple):
    field: str | None
    message: str


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = [FieldError(field, message)]

    @classmethod
    def of(cls, errors: list[FieldError]) -> DomainError:
        """One error for several problems (at least one): its message and field are the first's."""
        error = cls(errors[0].message, errors[0].field)
        error.errors = list(errors)
        return error


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
