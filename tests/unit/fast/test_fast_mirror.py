"""Compiled artifacts shared through S3 (moto): built on one instance, served by a fresh one."""

import threading
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import torch
from moto import mock_aws

from inference_image.fast import FastOptions, FastRunner
from inference_image.fast.aot import BuildOptions
from sdcloud_tools.benchmarks.models import build_pipeline

SIZE = 32
# the text encoder has a graph tier only (no artifact): see fast/runner.py
COMPILED = {"unet": ["compiled"], "vae_decoder": ["compiled"], "text_encoder": ["graph"]}
URI = "s3://shared/compiled"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="shared")
        yield client


def runner_at(artifacts: Path) -> FastRunner:
    options = FastOptions(
        backend="emulate", compile="background", artifact_dir=artifacts, build=BuildOptions(backend="eager"),
        mirror_uri=URI,
    )  # fmt: skip
    return FastRunner(options)


def call_kwargs(seed: int = 1) -> dict[str, Any]:
    return {
        "prompt": "a red cat",
        "height": SIZE,
        "width": SIZE,
        "num_inference_steps": 2,
        "output_type": "np",
        "generator": torch.Generator().manual_seed(seed),
    }


def built_here(artifacts: Path) -> list[str]:
    """Builds this directory ran itself: each leaves its log."""
    return sorted(p.name for p in artifacts.glob("*.log"))


def stored(s3: Any) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket="shared").get("Contents", []))


class GatedDownloads:
    """The S3 client with downloads held until `gate` opens: a pull still running when the first job comes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.gate = threading.Event()

    def download_file(self, *args: Any) -> None:
        assert self.gate.wait(60)
        self.client.download_file(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_fresh_instance_serves_artifacts_another_built_with_nothing_built(s3, tmp_path):
    # Given an instance that built its artifacts and pushed them
    builder = runner_at(tmp_path / "first")
    builder.sync_artifacts(s3)
    try:
        builder.warm_up(build_pipeline("tiny", seed=1), sizes=((SIZE, SIZE),), steps=1)
    finally:
        builder.close()
    keys = stored(s3)
    assert len(keys) == 2 and all(k.startswith("compiled/") for k in keys), keys  # the UNet's and the VAE decoder's
    assert {Path(k).name for k in keys} == {p.name for p in (tmp_path / "first").glob("*.pt")}

    # When a fresh instance (empty disk) starts and serves another checkpoint
    fresh = tmp_path / "fresh"
    runner = runner_at(fresh)
    runner.sync_artifacts(s3)
    assert runner._mirror is not None and runner._mirror.pulled.wait(60)
    other = build_pipeline("tiny", seed=2)
    out = runner.run(other, **call_kwargs()).images

    # Then its first call runs compiled, from the pulled artifacts, and it built nothing
    assert runner.last is not None and runner.last.tiers == COMPILED
    assert built_here(fresh) == []
    np.testing.assert_allclose(out, other(**call_kwargs()).images, atol=1e-4)
    runner.close()


def test_a_build_waits_for_the_pull_and_takes_the_pulled_artifact(s3, tmp_path):
    builder = runner_at(tmp_path / "first")
    builder.sync_artifacts(s3)
    builder.warm_up(build_pipeline("tiny", seed=1), sizes=((SIZE, SIZE),), steps=1)
    builder.close()

    # Given a fresh instance whose pull is still running when the first job comes
    fresh = tmp_path / "fresh"
    slow = GatedDownloads(s3)
    runner = runner_at(fresh)
    runner.sync_artifacts(slow)
    pipe = build_pipeline("tiny", seed=2)
    runner.run(pipe, **call_kwargs())
    assert runner.last is not None and runner.last.tiers["unet"] == ["graph"]  # the job did not wait

    # When the pull ends
    slow.gate.set()
    runner.wait_for_compiles(timeout=120)

    # Then the queued builds took the pulled artifacts instead of building, and the next call runs compiled
    assert built_here(fresh) == []
    runner.run(pipe, **call_kwargs())
    assert runner.last.tiers == COMPILED
    runner.close()


def test_a_failed_push_leaves_the_artifact_serving_this_instance(s3, tmp_path):
    class NoUploads(GatedDownloads):
        def upload_file(self, *args: Any) -> None:
            raise PermissionError("AccessDenied")

    client = NoUploads(s3)
    client.gate.set()
    runner = runner_at(tmp_path)
    runner.sync_artifacts(client)
    pipe = build_pipeline("tiny", seed=1)
    runner.run(pipe, **call_kwargs())
    runner.wait_for_compiles(timeout=120)
    runner.run(pipe, **call_kwargs())
    assert runner.last is not None and runner.last.tiers["unet"] == ["compiled"]
    assert stored(s3) == []
    runner.close()
