"""The names shared across wings import with the standard library alone: the panel runs them in the WebUI's
Python (pydantic 1), the CDK app and the local stack read them without loading any handler."""

import subprocess
import sys

import pytest

STDLIB_ONLY = [
    "api_schema.samplers", "api_schema.controlnet_modes", "api_schema.preprocessors", "api_schema.model_types",
    "api_schema.prompt_tags", "api_schema.upscalers", "api_schema.webui_fields", "api_schema.support",
    "api_schema.images", "api_schema.s3_layout", "api_schema.container_env", "lambdas.functions",
]
THIRD_PARTY = ["pydantic", "boto3", "botocore", "aws_lambda_powertools", "torch", "aws_cdk", "requests"]


@pytest.mark.parametrize("module", STDLIB_ONLY)
def test_a_shared_names_module_needs_no_third_party_package(module):
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in THIRD_PARTY)  # importing them now fails

    subprocess.run([sys.executable, "-c", f"import sys; {blocked}; import {module}"], check=True)
