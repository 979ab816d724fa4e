"""The one error type the client raises for a failed API call."""

from __future__ import annotations


class ApiError(Exception):
    """The API answered with an error (status >= 400), or could not be reached (status 0).

    `message` is the server's own message; `field` names the request field at fault when the server says so.
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
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
