"""Workarounds for moto gaps that matter to sd-cloud, applied only in tests and the local stack.

moto's SageMaker endpoint-config validator knows an old list of instance types without the GPU families
sd-cloud deploys to (ml.g5, ml.g6, ml.g6e). moto's server reads a PUT sent as a form (what urllib sends by
default) as form fields: the body is lost, the request hangs or fails, where S3 takes any content type.
Production code never imports this module.
"""

from __future__ import annotations

import re
from typing import Any

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
