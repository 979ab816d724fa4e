"""The CDK app (`cdk.json` runs `python -m infrastructure.app`): the stack, checked by cdk-nag AwsSolutions
(checkov reads its own acknowledgements from the template: infrastructure/checkov.py).

Context: `-c deletion_protection=false` lets `cdk destroy` remove the tables (the bucket is always kept).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infrastructure.checkov import acknowledge_checkov_findings
from infrastructure.lambda_code import REPO_ROOT
from infrastructure.nag import acknowledge_findings
from infrastructure.stack import SdCloudStack

STACK_NAME = "SdCloud"


def cdk_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so that in-process synths match `cdk synth`."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def build_app(outdir: Path | None = None, context: dict[str, Any] | None = None) -> App:
    app = App(outdir=str(outdir) if outdir else None, context=context)
    protect = str(app.node.try_get_context("deletion_protection") or "true").lower() != "false"
    stack = SdCloudStack(
        app, STACK_NAME, deletion_protection=protect, description="sd-cloud: Stable Diffusion on SageMaker"
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
    acknowledge_checkov_findings(stack)
    return app


if __name__ == "__main__":
    build_app().synth()
