"""Limits on JSON text checked before it is parsed: Python's parser recurses once per nesting level.

A body nested thousands deep would exhaust the recursion limit inside `json.loads` (a crash, not an
answer); DynamoDB also stops at 32 levels. So nesting is measured on the raw text first, without parsing.
"""

from __future__ import annotations

import re

from lambdas.errors import InvalidInput

MAX_JSON_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def check_json_depth(text: str, field: str | None = None) -> None:
    """Raise InvalidInput when the JSON text nests arrays/objects deeper than MAX_JSON_DEPTH (or cannot nest)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    # Each pass removes the innermost empty containers, i.e. one level of nesting.
    for _ in range(MAX_JSON_DEPTH):
        if not brackets:
            return
        brackets = _INNERMOST.sub("", brackets)
    if brackets:
        what = "JSON text nests deeper than" if _balanced(brackets) else "JSON text has unmatched brackets within"
        name = field or "request body"
        raise InvalidInput(f"{name}: {what} {MAX_JSON_DEPTH} levels", field=field)


def _balanced(brackets: str) -> bool:
    return brackets.count("[") == brackets.count("]") and brackets.count("{") == brackets.count("}")
