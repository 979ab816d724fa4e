"""Pydantic validation errors as problems, a field and a message each: the one conversion that the handlers,
the result notifier and the inference container all use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from api_schema.support import Problem


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic location as a dotted path: ('alwayson_scripts', 'controlnet', 'args', 0) -> '...args.0'."""
    return ".".join(str(part) for part in loc)


def error_message(error: Any) -> str:
    """A pydantic error's message without pydantic's 'Value error, ' prefix."""
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def problems(exc: ValidationError) -> list[Problem]:
    """Every error of `exc`: its field ('' for the whole input) and its message."""
    return [Problem(field_path(error["loc"]), error_message(error)) for error in exc.errors()]


def as_text(problem: Problem) -> str:
    """'field: message', the whole input named 'body'."""
    return f"{problem.field or 'body'}: {problem.message}"


def validation_message(exc: ValidationError) -> str:
    """Every problem of `exc` as text, separated by '; '."""
    return "; ".join(as_text(problem) for problem in problems(exc))


def validation_field(exc: ValidationError) -> str | None:
    """The field of the first problem of `exc`; None when that is the whole input."""
    found = problems(exc)
    return (found[0].field or None) if found else None
