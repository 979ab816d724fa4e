"""The WebUI infotext ("parameters" PNG chunk): prompt, negative prompt, then `Key: value, ...`."""

from __future__ import annotations

import json
from typing import Any


def quote(value: Any) -> str:
    """The WebUI's `infotext_utils.quote`: JSON-quote a value holding a comma, colon or newline."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def number(value: float) -> str | float:
    """7.0 -> '7' as the WebUI API writes integral numbers, 0.75 stays 0.75."""
    return str(int(value)) if float(value).is_integer() else value


def format_infotext(prompt: str, negative_prompt: str, params: dict[str, Any]) -> str:
    """`params` in WebUI order; None values are left out, a value equal to its key is written alone."""
    body = ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{body}".strip()


def controlnet_unit_text(fields: dict[str, Any]) -> str:
    """The value of a `ControlNet N` entry: `Module: canny, Model: ..., Weight: 1.0, ...`."""
    return ", ".join(f"{k}: {v}" for k, v in fields.items())
