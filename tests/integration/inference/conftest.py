"""The inference server in-process behind real HTTP (uvicorn on a free port), S3 on moto, tiny models."""

from __future__ import annotations

import base64
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from PIL import Image, ImageDraw

from inference_image.predictor import Predictor
from inference_image.sample_models import write_sample_models
from inference_image.settings import InferenceSettings

BUCKET = "sdcloud-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn serving create_app() in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if requests.get(self.url + "/ping", timeout=5).status_code == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("the server never became ready")


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_models(tmp_path_factory.mktemp("sample-models"))


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["HF_HUB_OFFLINE"] = "1"
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture(scope="session")
def s3(aws: None) -> Any:
    return boto3.client("s3")


@pytest.fixture(scope="session")
def model_refs(s3: Any, sample_models: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every sample model uploaded as a registered model would be, as ModelRef dicts by kind."""
    types = {
        "checkpoint": "checkpoint",
        "controlnet": "controlnet",
        "vae": "vae",
        "lora": "lora",
        "embedding": "embedding",
        "openpose_body": "annotator",
        "openpose_hand": "annotator",
    }
    names = {"openpose_body": "body_pose_model", "openpose_hand": "hand_pose_model"}
    refs = {}
    for kind, path in sample_models.items():
        key = f"models/{types[kind]}/{kind}-id/{path.name}"
        s3.upload_file(str(path), BUCKET, key)
        refs[kind] = {
            "id": f"{kind}-id",
            "name": names.get(kind, f"tiny-{kind}"),
            "type": types[kind],
            "filename": path.name,
            "bucket": BUCKET,
            "key": key,
            "size_bytes": path.stat().st_size,
        }
    return refs


@pytest.fixture(scope="session")
def predictor(aws: None, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    settings = InferenceSettings(
        cache_dir=tmp_path_factory.mktemp("cache"),
        device="cpu",
        disk_budget_bytes=10**9,
        memory_budget_bytes=2 * 10**9,
    )
    return Predictor(settings, s3=s3)


@pytest.fixture(scope="session")
def server(predictor: Predictor) -> Iterator[Server]:
    from inference_image.server import create_app

    with Server(create_app(predictor=predictor)) as srv:
        srv.wait_ready()
        yield srv


def b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def scene(width: int = 64, height: int = 64) -> Image.Image:
    """A small picture with edges: a figure-like shape on a plain background."""
    image = Image.new("RGB", (width, height), (200, 220, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.4, height * 0.1, width * 0.6, height * 0.3), fill=(230, 180, 150))
    draw.rectangle((width * 0.35, height * 0.3, width * 0.65, height * 0.7), fill=(40, 60, 160))
    draw.line((width * 0.2, height * 0.35, width * 0.8, height * 0.35), fill=(230, 180, 150), width=3)
    return image


def job(
    refs: dict[str, dict[str, Any]],
    payload: dict[str, Any],
    task: str = "txt2img",
    job_id: str = "job-1",
    **models: Any,
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "task": task,
        "payload": payload,
        "output_bucket": BUCKET,
        "output_prefix": f"outputs/{job_id}/",
        "models": {"checkpoint": refs["checkpoint"], **models},
    }


def image_of(s3: Any, key: str) -> Image.Image:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    image = Image.open(io.BytesIO(body))
    image.load()
    return image
