"""12 MB of ControlNet images through the CLI and the panel's submit code: over the 6 MB a Lambda invocation
takes, refused inline by the local gateway as on AWS, and sent by the client core through payload_upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from e2e_helpers import Api, tiny_payload
from PIL import Image
from typer.testing import CliRunner

from sdcloud.cli import app
from sdcloud_client.transport import LAMBDA_EVENT_LIMIT

IMAGES = 3  # 1024 px noise: about 3 MB of PNG each, 4 MB in base64


@pytest.fixture(scope="module")
def noise_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    rng = np.random.default_rng(15)
    folder = tmp_path_factory.mktemp("noise")
    paths = []
    for index in range(IMAGES):
        path = folder / f"noise-{index}.png"
        Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    assert sum(p.stat().st_size for p in paths) * 4 / 3 > 12 * 1024 * 1024
    return paths


def test_the_same_request_inline_is_413_in_the_error_shape(user: Api, models: dict[str, Any], endpoint: str,
                                                           noise_images: list[Path]) -> None:
    import base64

    units = [{"enabled": True, "module": "none", "model": models["controlnet"]["name"],
              "image": base64.b64encode(p.read_bytes()).decode()} for p in noise_images]
    body = {"endpoint_name": endpoint, "task": "txt2img",
            "payload": tiny_payload(models, alwayson_scripts={"controlnet": {"args": units}})}

    response = user.call("POST", "/inferences", json=body)

    assert response.status_code == 413 and response.json()["field"] is None
    assert "payload_upload" in response.json()["message"]
    assert len(requests.Request("POST", "http://x", json=body).prepare().body or b"") > 2 * LAMBDA_EVENT_LIMIT


def test_the_cli_sends_12_mb_of_controlnet_images_and_the_job_succeeds(
        user: Api, models: dict[str, Any], endpoint: str, noise_images: list[Path], tmp_path: Path) -> None:
    units = [arg for path in noise_images
             for arg in ("--controlnet", f"module=none,model={models['controlnet']['name']},image={path},weight=0.5")]

    result = CliRunner().invoke(app, [
        "--api-url", user.url, "--api-key", user.key, "txt2img", "-e", endpoint, "-p", "noise", "--steps", "1",
        "--width", "64", "--height", "64", "--seed", "3", "--sampler", "Euler",
        "--checkpoint", models["checkpoint"]["name"], *units, "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    pngs = list(tmp_path.glob("*.png"))
    assert len(pngs) == 1 + IMAGES  # the image, then each unit's detected map, as the extension returns them
    job = user.ok("GET", f"/inferences/{pngs[0].name.split('-')[0]}")["inference"]
    assert len(job["parameters"]["alwayson_scripts"]["controlnet"]["args"]) == IMAGES


def test_the_panel_submits_12_mb_of_controlnet_images_and_the_job_succeeds(
        user: Api, models: dict[str, Any], endpoint: str, noise_images: list[Path], tmp_path: Path) -> None:
    from sdcloud_panel.service import PanelService
    from sdcloud_panel.settings import SettingsStore

    service = PanelService(SettingsStore(tmp_path / "panel.json", api_url=user.url, api_key=user.key))
    values = {"prompt": "noise", "negative_prompt": "", "sampler_name": "Euler", "steps": 1, "cfg_scale": 7,
              "width": 64, "height": 64, "seed": 4, "batch_size": 1, "n_iter": 1,
              "checkpoint": models["checkpoint"]["name"]}
    units = [{"enabled": True, "module": "none", "model": models["controlnet"]["name"], "weight": 0.5,
              "image": Image.open(path), "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced"}
             for path in noise_images]

    label = service.submit("txt2img", f"{endpoint} (InService)", values, units)
    output = service.wait(label, timeout=300)

    assert output.job["status"] == "succeeded" and len(output.images) == 1 + IMAGES  # + the detected maps
    assert output.images[0].size == (64, 64)
