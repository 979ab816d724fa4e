"""The inference server in-process behind real HTTP (uvicorn on a free port), S3 on moto, tiny models.

The moto mock lives for one test module at a time, so that it never overlaps other folders' mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from inference_image.predictor import Predictor
from inference_image.settings import InferenceSettings
from sdcloud_tools.sample_models import REGISTRATION, write_sample_models
from tests.integration.inference.helpers import BUCKET, Server


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_models(tmp_path_factory.mktemp("sample-models"))


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.setenv(name, "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("HF_HUB_OFFLINE", "1")
        with mock_aws():
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            yield


@pytest.fixture(scope="module")
def s3(moto_s3: None) -> Any:
    return boto3.client("s3")


@pytest.fixture(scope="module")
def model_refs(s3: Any, sample_models: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every sample model uploaded as a registered model would be, as ModelRef dicts by kind."""
    refs = {}
    for kind, path in sample_models.items():
        model_type, name = REGISTRATION[kind]
        key = f"models/{model_type}/{kind}-id/{path.name}"
        s3.upload_file(str(path), BUCKET, key)
        refs[kind] = {
            "id": f"{kind}-id",
            "name": name,
            "type": model_type,
            "filename": path.name,
            "bucket": BUCKET,
            "key": key,
            "size_bytes": path.stat().st_size,
        }
    return refs


@pytest.fixture(scope="module")
def predictor(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    settings = InferenceSettings(
        cache_dir=tmp_path_factory.mktemp("cache"),
        device="cpu",
        disk_budget_bytes=10**9,
        memory_budget_bytes=2 * 10**9,
    )
    return Predictor(settings, s3=s3)


@pytest.fixture(scope="module")
def server(predictor: Predictor) -> Iterator[Server]:
    from inference_image.server import create_app

    with Server(create_app(predictor=predictor)) as srv:
        srv.wait_ready()
        yield srv
