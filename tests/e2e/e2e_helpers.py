"""Plain-HTTP helpers of the end-to-end tests (imported by the tests and by conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.integration.api.gateway_events import upload_parts

ENDPOINT = "e2e"
MODEL_TYPES = {"checkpoint": "checkpoint", "controlnet": "controlnet", "vae": "vae", "lora": "lora",
               "embedding": "embedding", "openpose_body": "annotator", "openpose_hand": "annotator",
               "upscaler": "upscaler"}


@dataclass
class Api:
    """Plain HTTP against the stack's API with one user's key."""

    url: str
    key: str

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, headers={"x-api-key": self.key}, timeout=60, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def upload_over_http(api: Api, path: Path, name: str, type: str) -> tuple[dict[str, Any], int]:
    """Register a model, PUT each part to its presigned S3 URL, complete; return the model and the part count."""
    created = api.ok("POST", "/models", 201, json={"name": name, "type": type, "filename": path.name,
                                                    "size_bytes": path.stat().st_size})
    parts = upload_parts(created["upload"], path.read_bytes())
    model = api.ok("POST", f"/models/{created['model']['id']}/complete", json={"parts": parts})["model"]
    return model, len(parts)


def tiny_payload(models: dict[str, dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """The cheapest job the tiny checkpoint runs: 64x64, 2 steps."""
    return {"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64, "seed": 7, "sampler_name": "Euler",
            "override_settings": {"sd_model_checkpoint": models["checkpoint"]["name"]}, **overrides}


def wait_job(api: Api, job_id: str, timeout: float = 300) -> dict[str, Any]:
    return poll(lambda: api.ok("GET", f"/inferences/{job_id}")["inference"],
                lambda j: j["status"] in ("succeeded", "failed", "cancelled"), timeout=timeout)
