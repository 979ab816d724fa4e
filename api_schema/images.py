"""Whether a request's image string can be an image at all, known without decoding it (stdlib only).

The WebUI takes images as base64, raw or as a `data:image/...;base64,` URL. The control plane checks each
at submit: the base64 must decode and start as a PNG, JPEG or WebP file does.
"""

from __future__ import annotations

import base64
import binascii
import re

_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.+-]+)*,", re.IGNORECASE)
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


def image_problem(value: str) -> str | None:
    """None when `value` is base64 of a PNG, JPEG or WebP file (optionally a data: URL); else what is wrong."""
    match = _DATA_URL.match(value)
    text = value[match.end():] if match else value
    text = "".join(text.split())
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "is not base64 (raw, or a data:image/...;base64, URL)"
    if data.startswith((_PNG, _JPEG)) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return None
    return "does not decode as a PNG, JPEG or WebP image"
