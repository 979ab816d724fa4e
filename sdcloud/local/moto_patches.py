"""Workarounds for moto gaps that matter to sd-cloud, applied only in tests and the local stack.

moto's SageMaker endpoint-config validator knows an old list of instance types without the GPU families
sd-cloud deploys to (ml.g5, ml.g6, ml.g6e). Production code never imports this module.
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
