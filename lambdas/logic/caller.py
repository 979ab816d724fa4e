"""Who is calling: the user and role the authorizer established."""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.errors import Forbidden


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this action needs the admin role")
