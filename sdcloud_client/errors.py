"""The one error type the client raises for a failed API call."""

from __future__ import annotations

from typing import NamedTuple


class FieldError(NamedTuple):
    """One problem the API found: the request field at fault (when it names one) and what is wrong."""

    field: str | None
    message: str

    def __str__(self) -> str:
        named = self.field and not self.message.startswith(f"{self.field}:")
        return f"{self.field}: {self.message}" if named else self.message


class ApiError(Exception):
    """The API answered with an error (status >= 400), or could not be reached (status 0).

    `errors` is every problem the server listed (a 400 names them all at once); `field` is the first one's
    field. `message` is the server's own message when it found one problem, and all of them, one after the
    other, when it found several, so that whoever shows `message` shows them all.
    """

    def __init__(self, status: int, message: str, field: str | None = None,
                 errors: list[FieldError] | None = None) -> None:
        self.errors = errors or [FieldError(field, message)]
        if len(self.errors) > 1:
            message = f"{len(self.errors)} problems: " + "; ".join(str(e) for e in self.errors)
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.field = field

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def unauthorized(self) -> bool:
        return self.status in (401, 403)


class ConfigError(ValueError):
    """No API URL was configured."""
