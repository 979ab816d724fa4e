"""cdk-nag AwsSolutions and cfn-lint on the synthesized stack, and the Lambda assets' contents."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import cast

import pytest
from aws_cdk import Stack
from aws_cdk import aws_sqs as sqs
from synthesized_stack import Synthesized

from infrastructure.nag import NO_RESOURCE_LEVEL, REASONS, WILDCARD_REASONS

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + layers, the Lambda quota
FORBIDDEN_IN_LAMBDA = ("torch", "diffusers", "transformers", "boto3", "botocore")


def test_cdk_nag_leaves_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    (report,) = json.loads((synthesized.outdir / "validation-report.json").read_text())["pluginReports"]
    assert report["pluginName"] == "AwsSolutions"
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    known_reasons = {*REASONS.values(), *WILDCARD_REASONS.values()}
    for finding in report["suppressedViolations"]:
        reason = finding["reason"]
        assert reason in known_reasons or reason.startswith("No resource-level permissions: "), finding
    print("\ncdk-nag acknowledgements:")
    for finding in report["suppressedViolations"]:
        paths = ", ".join(c["constructPath"] for c in finding["violatingConstructs"])
        print(f"  {finding['ruleName']} at {paths}: {finding['reason']}")


def test_cdk_nag_fails_the_synth_on_a_new_finding(tmp_path: Path) -> None:
    from infrastructure.app import STACK_NAME, build_app, cdk_context

    # Given the app plus a resource that breaks AwsSolutions rules (a queue without TLS policy or DLQ)
    app = build_app(tmp_path, cdk_context())
    sqs.Queue(cast(Stack, app.node.find_child(STACK_NAME)), "Careless", encryption=sqs.QueueEncryption.UNENCRYPTED)
    # When it is synthesized, Then synthesis stops and the report names the rules
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    (report,) = json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= {v["ruleName"] for v in report["violations"]}


def test_cfn_lint_finds_no_error(synthesized: Synthesized) -> None:
    template = synthesized.outdir / "SdCloud.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    # cfn-lint's exit code is 0, or bit flags: 2 errors, 4 warnings, 8 informational (1: it failed to run).
    assert result.returncode & ~(4 | 8) == 0, result.stdout + result.stderr
    # listed in pytest's warnings summary (a built-in category: pytest-xdist's workers send warnings by class name)
    for line in result.stdout.strip().splitlines():
        warnings.warn(f"cfn-lint: {line.replace(str(template), 'template')}", UserWarning, stacklevel=1)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_lambda_assets_are_small_and_hold_no_ml_or_sdk_packages(synthesized: Synthesized) -> None:
    code_assets = {
        resource["Metadata"]["aws:asset:path"]
        for resource in synthesized.resources.values()
        if resource["Type"] in {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion"}
        and "aws:asset:path" in resource.get("Metadata", {})
    }
    sizes = {asset: _size(synthesized.outdir / asset) for asset in code_assets}
    print("\nLambda assets (unzipped):")
    for asset, size in sorted(sizes.items(), key=lambda item: -item[1]):
        top = sorted(p.name for p in (synthesized.outdir / asset).iterdir())
        print(f"  {size / 1e6:7.2f} MB  {asset}: {', '.join(top)[:100]}")
    for asset in code_assets:
        names = {p.name for p in (synthesized.outdir / asset).rglob("*") if p.is_dir()}
        assert not names & set(FORBIDDEN_IN_LAMBDA), (asset, names & set(FORBIDDEN_IN_LAMBDA))
    assert sum(sizes.values()) < LAMBDA_UNZIPPED_LIMIT
    source = [a for a in code_assets if (synthesized.outdir / a / "lambdas").is_dir()]
    assert len(source) == 1 and (synthesized.outdir / source[0] / "api_schema").is_dir()
    layer = [a for a in code_assets if (synthesized.outdir / a / "python" / "pydantic").is_dir()]
    assert len(layer) == 1 and (synthesized.outdir / layer[0] / "python" / "aws_lambda_powertools").is_dir()


def test_inference_image_is_staged_from_the_repo_without_local_clutter(synthesized: Synthesized) -> None:
    manifest = json.loads((synthesized.outdir / "SdCloud.assets.json").read_text())
    (image,) = manifest["dockerImages"].values()
    assert image["source"]["dockerFile"] == "inference_image/Dockerfile"
    context = synthesized.outdir / image["source"]["directory"]
    assert (context / "inference_image" / "Dockerfile").is_file()
    assert (context / "api_schema").is_dir()
    for clutter in (".git", ".venv", "node_modules", "cdk.out", "build"):
        assert not (context / clutter).exists(), clutter


def test_no_resource_level_actions_are_only_those_without_resource_scoping() -> None:
    # Guards the allow-list the policy tests rely on: nothing here may carry a data-plane action.
    assert all(action.split(":")[0] in {"xray", "ecr", "application-autoscaling"} for action in NO_RESOURCE_LEVEL)
    assert all(":Describe" in a or a.startswith(("xray:", "ecr:GetAuth")) for a in NO_RESOURCE_LEVEL)


def _runtime_imports(tree: ast.AST) -> list[str]:
    """Modules a module imports when it runs (what sits under `if TYPE_CHECKING:` does not count)."""
    if isinstance(tree, ast.If) and "TYPE_CHECKING" in ast.unparse(tree.test):
        return [name for node in tree.orelse for name in _runtime_imports(node)]
    if isinstance(tree, ast.Import):
        return [alias.name for alias in tree.names]
    if isinstance(tree, ast.ImportFrom):
        return [tree.module] if tree.level == 0 and tree.module else []
    return [name for child in ast.iter_child_nodes(tree) for name in _runtime_imports(child)]


def _imported_top_level_modules(package_dirs: list[Path]) -> dict[str, str]:
    """Top-level module name -> a file importing it, over every module of the given packages."""
    found: dict[str, str] = {}
    for package in package_dirs:
        for source in package.rglob("*.py"):
            for name in _runtime_imports(ast.parse(source.read_text())):
                found.setdefault(name.split(".")[0], str(source.relative_to(package.parent)))
    return found


def test_everything_the_lambda_code_imports_is_in_the_layer_the_runtime_or_the_source(
    synthesized: Synthesized,
) -> None:
    assets = {
        resource["Type"]: synthesized.outdir / resource["Metadata"]["aws:asset:path"]
        for resource in synthesized.resources.values()
        if resource["Properties"].get("Handler", "").startswith("lambdas.")
        or resource["Type"] == "AWS::Lambda::LayerVersion"
    }
    source, layer = assets["AWS::Lambda::Function"], assets["AWS::Lambda::LayerVersion"] / "python"
    available = {p.name.removesuffix(".py") for p in [*layer.iterdir(), *source.iterdir()]}
    available |= set(sys.stdlib_module_names) | {"boto3", "botocore"}  # the Python 3.12 Lambda runtime
    imported = _imported_top_level_modules([source / "lambdas", source / "api_schema"])
    missing = {name: where for name, where in imported.items() if name not in available}
    assert not missing, f"imported but not deployed: {missing}"
