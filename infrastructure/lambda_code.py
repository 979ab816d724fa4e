"""The Lambda code, built without Docker: one shared dependency layer and one source asset.

The layer holds the packages of pyproject's `lambdas` extra (boto3 excepted: the runtime ships it),
pinned to the versions installed in the venv the tests ran with, downloaded by pip as manylinux
aarch64 wheels for CPython 3.12. A built layer is cached under `build/` keyed by that pin list, so
repeated synths copy it instead of calling pip; after the first build, synth needs no network.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import jsii
import tomllib
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("api_schema", "lambdas")
# boto3/botocore come from the Lambda runtime: every API the handlers call is years old, and leaving
# them out keeps the layer small and cold starts short.
RUNTIME_PROVIDED = {"boto3", "botocore"}
LAYER_CACHE = REPO_ROOT / "build" / "lambda-layer"
PIP_PLATFORM = [
    "--platform", "manylinux2014_aarch64", "--only-binary=:all:",
    "--python-version", "3.12", "--implementation", "cp",
]  # fmt: skip
# Required by the BundlingOptions API; never pulled or run, because local bundling either builds or raises.
UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/sam/build-python3.12")


def layer_requirements() -> list[str]:
    """`name==version` for each package of the `lambdas` extra, at the version installed here."""
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = [re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0] for spec in extras["lambdas"]]
    return [f"{name}=={importlib.metadata.version(name)}" for name in names if name not in RUNTIME_PROVIDED]


def layer_key(requirements: list[str]) -> str:
    return hashlib.sha256(" ".join([*requirements, *PIP_PLATFORM]).encode()).hexdigest()


def build_layer(requirements: list[str]) -> Path:
    """The cached layer directory (with its `python/` folder), built by pip when not cached yet."""
    key = layer_key(requirements)[:16]
    cached = LAYER_CACHE / key
    if cached.is_dir():
        return cached
    building = LAYER_CACHE / f"{key}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *PIP_PLATFORM, "--target", str(building / "python"), *requirements,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    building.rename(cached)
    return cached


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


# jsii calls `try_bundle(output_dir, options)` positionally, unlike the keyword-only stub: hence the casts.
@jsii.implements(ILocalBundling)
class _LayerBundler:
    def try_bundle(self, output_dir: str, _options: BundlingOptions) -> bool:
        _copy_tree(build_layer(layer_requirements()), Path(output_dir))
        return True


@jsii.implements(ILocalBundling)
class _SourceBundler:
    def try_bundle(self, output_dir: str, _options: BundlingOptions) -> bool:
        for package in SOURCE_PACKAGES:
            _copy_tree(REPO_ROOT / package, Path(output_dir) / package)
        return True


class LambdaCode(Construct):
    """The dependency layer and the source code that every function of the stack shares."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        requirements = layer_requirements()
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "lambdas"),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=layer_key(requirements),
                bundling=BundlingOptions(image=UNUSED_IMAGE, local=cast(ILocalBundling, _LayerBundler())),
            ),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="sd-cloud Lambda dependencies: " + ", ".join(requirements),
        )
        # One Code object: CDK stages and uploads it once however many functions use it.
        self.source = lambda_.Code.from_asset(
            str(REPO_ROOT / "lambdas"),
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(image=UNUSED_IMAGE, local=cast(ILocalBundling, _SourceBundler())),
        )


if __name__ == "__main__":  # `make` builds the layer cache once, so that later synths need no network
    print(build_layer(layer_requirements()))
