"""moto's endpoint-config validator accepts the GPU instance types sd-cloud deploys to, and still rejects nonsense."""

import pytest
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig

from sdcloud.local.moto_patches import allow_gpu_instance_types


def _config(instance_type: str) -> FakeEndpointConfig:
    return FakeEndpointConfig(  # type: ignore[abstract]
        account_id="123456789012",
        region_name="us-east-1",
        endpoint_config_name="cfg",
        production_variants=[{"VariantName": "main", "ModelName": "m", "InstanceType": instance_type}],
        async_inference_config={},
        data_capture_config={},
        tags=[],
        kms_key_id="",
    )


@pytest.mark.parametrize("instance_type", ["ml.g5.xlarge", "ml.g6.2xlarge", "ml.g6e.xlarge", "ml.g4dn.xlarge"])
def test_gpu_instance_types_pass_the_validator(instance_type):
    allow_gpu_instance_types()
    allow_gpu_instance_types()  # idempotent

    assert _config(instance_type).production_variants[0]["InstanceType"] == instance_type


@pytest.mark.parametrize("instance_type", ["ml.g5.huge", "ml.z9.xlarge"])
def test_unknown_instance_types_are_still_rejected(instance_type):
    allow_gpu_instance_types()

    with pytest.raises(ValidationError, match="instanceType"):
        _config(instance_type)
