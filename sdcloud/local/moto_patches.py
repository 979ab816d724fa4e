"""Workarounds for moto gaps that matter to sd-cloud, applied only in tests and the local stack.

moto's SageMaker endpoint-config validator knows an old list of instance types without the GPU families
sd-cloud deploys to (ml.g5, ml.g6, ml.g6e). moto's server reads a PUT sent as a form (what urllib sends by
default) as form fields: the body is lost, the request hangs or fails, where S3 takes any content type. moto
reads a whole object for each ranged GET, so the container's parallel ranged download of a checkpoint costs
its size squared. Production code never imports this module.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import urlparse

GPU_INSTANCE_TYPE = re.compile(r"^ml\.(g5|g6|g6e)\.(x|2x|4x|8x|12x|16x|24x|48x)large$")


def allow_gpu_instance_types() -> None:
    """Make moto accept ml.g5/ml.g6/ml.g6e instance types in CreateEndpointConfig. Idempotent."""
    from moto.sagemaker.models import FakeEndpointConfig

    original = FakeEndpointConfig.validate_instance_type
    if getattr(original, "_sdcloud_patched", False):
        return

    def validate_instance_type(self: Any, instance_type: str) -> None:
        if GPU_INSTANCE_TYPE.match(instance_type):
            return
        original(self, instance_type)

    validate_instance_type._sdcloud_patched = True  # type: ignore[attr-defined]
    FakeEndpointConfig.validate_instance_type = validate_instance_type  # type: ignore[method-assign]


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def s3_puts_take_any_content_type() -> None:
    """Make moto's server keep the body of a PUT whatever its Content-Type, as S3 does. Idempotent.

    Of the services the local stack serves, only S3 takes PUTs; AWS's form-encoded (query) protocol is POST.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__
    if getattr(original, "_sdcloud_patched", False):
        return

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        if environ.get("REQUEST_METHOD") == "PUT" and content_type.startswith(FORM_TYPES):
            environ["CONTENT_TYPE"] = "application/octet-stream"
        return original(self, environ, start_response)

    call._sdcloud_patched = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]


SINGLE_RANGE = re.compile(r"^bytes=\d+-\d*$")


class _KeyWindow:
    """An object's bytes as moto's range handling takes them (its length and one slice), read from the key's
    buffer only where sliced."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __len__(self) -> int:
        return int(self.key.size)

    def __getitem__(self, window: slice) -> bytes:
        start, stop, _ = window.indices(len(self))
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return bytes(self.key._value_buffer.read(max(stop - start, 0)))


def s3_ranged_gets_read_their_range() -> None:
    """Make a GET of one byte range (what parallel downloads send) read only that range of the object, where
    moto reads and copies the whole object for each one. Idempotent.

    During such a request the object's first `value` read (the GetObject response's body, which moto's range
    handling slices next) gives a window on the key's buffer. Any other GET keeps moto's own path.
    """
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    original_response = S3Response.key_response
    if getattr(original_response, "_sdcloud_patched", False):
        return
    whole_value: Any = vars(FakeKey)["value"]
    ranged = threading.local()

    def key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        ranged.active = (request.method == "GET" and not urlparse(full_url).query
                         and bool(SINGLE_RANGE.match(request.headers.get("range") or "")))
        try:
            return original_response(self, request, full_url, headers)
        finally:
            ranged.active = False

    def value(key: Any) -> Any:
        if getattr(ranged, "active", False):
            ranged.active = False
            return _KeyWindow(key)
        return whole_value.fget(key)

    key_response._sdcloud_patched = True  # type: ignore[attr-defined]
    S3Response.key_response = key_response  # type: ignore[method-assign]
    FakeKey.value = property(value, whole_value.fset)  # type: ignore[method-assign,assignment]
