"""Helpers of the inference server tests: the server over real HTTP, jobs, images."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from typing import Any

import requests
from PIL import Image, ImageDraw

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
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
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


BASE = {
    "prompt": "a (red:1.2) cube, [blurry]",
    "negative_prompt": "ugly",
    "steps": 3,
    "width": 64,
    "height": 64,
    "cfg_scale": 7,
    "seed": 42,
    "sampler_name": "Euler a",
}


def invoke(server: Server, body: dict[str, Any]) -> requests.Response:
    return requests.post(server.url + "/invocations", json=body, timeout=300)
