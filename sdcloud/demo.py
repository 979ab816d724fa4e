"""`sdcloud demo`: the whole journey on the local stack, in about a minute on two CPU cores.

An admin creates a user and an endpoint; the user uploads the sample models through the REST API
(presigned multipart), runs one txt2img with a LoRA, a VAE and two ControlNet units (canny and
openpose), and the PNGs land in `out/`.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import Any

from sdcloud.commands.common import console
from sdcloud.commands.jobs import finish, print_jobs
from sdcloud.commands.resources import upload_with_progress, wait_endpoint
from sdcloud_client import SdCloudClient

ENDPOINT = "demo"
SIZE = 64


def model_type_of(kind: str) -> str:
    """The model type of a `write_sample_models` key (openpose_body -> annotator)."""
    if kind in ("checkpoint", "lora", "vae", "controlnet", "embedding", "upscaler"):
        return kind
    return "annotator"


def upload_sample_models(client: SdCloudClient, paths: dict[str, Path]) -> dict[str, str]:
    """Upload every sample model under its file name without suffix; return kind -> registered name."""
    names = {}
    for kind, path in paths.items():
        model = upload_with_progress(client, path, path.stem, model_type_of(kind))
        names[kind] = str(model["name"])
    return names


def control_images(size: int = SIZE) -> dict[str, str]:
    """Base64 PNGs for the two ControlNet units: shapes with clear edges (canny) and a stick figure (openpose)."""
    from PIL import Image, ImageDraw

    def png(image: Image.Image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    shapes = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(shapes)
    draw.rectangle((size // 8, size // 2, size // 2, size - size // 8), outline="black", width=2)
    draw.ellipse((size // 2, size // 8, size - size // 8, size // 2), outline="black", width=2)

    figure = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(figure)
    c = size // 2
    draw.ellipse((c - size // 10, size // 10, c + size // 10, size // 10 + size // 5), outline="black", width=2)
    draw.line((c, size // 3, c, 2 * size // 3), fill="black", width=2)  # body
    draw.line((c - size // 4, size // 2.4, c + size // 4, size // 2.4), fill="black", width=2)  # arms
    draw.line((c, 2 * size // 3, c - size // 5, size - size // 10), fill="black", width=2)  # legs
    draw.line((c, 2 * size // 3, c + size // 5, size - size // 10), fill="black", width=2)
    return {"canny": png(shapes), "openpose": png(figure)}


def demo_payload(names: dict[str, str], size: int = SIZE) -> dict[str, Any]:
    images = control_images(size)
    return {
        "prompt": f"a lighthouse on a cliff at dusk <lora:{names['lora']}:0.8>",
        "negative_prompt": "blurry, low quality",
        "sampler_name": "Euler a",
        "steps": 4,
        "cfg_scale": 7,
        "width": size,
        "height": size,
        "seed": 1234,
        "override_settings": {"sd_model_checkpoint": names["checkpoint"], "sd_vae": names["vae"]},
        "alwayson_scripts": {"controlnet": {"args": [
            {"enabled": True, "module": "canny", "model": names["controlnet"], "weight": 0.8,
             "image": images["canny"], "processor_res": size},
            {"enabled": True, "module": "openpose", "model": names["controlnet"], "weight": 0.6,
             "image": images["openpose"], "processor_res": size},
        ]}},
    }


def run_demo(out: Path, device: str = "cpu") -> None:
    from sdcloud.local.stack import LocalStack
    from sdcloud_tools.sample_models import write_sample_models

    with console.status("starting the local stack (moto, API, SageMaker async emulator)"):
        stack = LocalStack(port=0, device=device).start()
    try:
        console.print(f"local stack up: API_URL={stack.api_url}")
        admin = SdCloudClient(stack.api_url, stack.api_key)
        created = admin.create_user("demo", "user")
        console.print("admin created user [bold]demo[/bold]")
        user = SdCloudClient(stack.api_url, created["api_key"])

        with tempfile.TemporaryDirectory(prefix="sdcloud-sample-models-") as directory:
            with console.status("writing tiny random-weight sample models"):
                paths = write_sample_models(Path(directory))
            names = upload_sample_models(user, paths)

        admin.create_endpoint(ENDPOINT, "ml.g5.xlarge", 0, 1)
        console.print(f"admin created endpoint [bold]{ENDPOINT}[/bold] (ml.g5.xlarge, scale to zero)")
        wait_endpoint(user, ENDPOINT, timeout=600, interval=0.5)

        job = user.create_inference(ENDPOINT, "txt2img", demo_payload(names))
        console.print(f"txt2img job [bold]{job['id']}[/bold] submitted: LoRA {names['lora']}, VAE {names['vae']}, "
                      f"ControlNet canny + openpose ({names['controlnet']})")
        finish(user, job["id"], out, timeout=600, interval=0.5)
        print_jobs(user.list_inferences(limit=10)["inferences"])
    finally:
        with console.status("stopping the local stack"):
            stack.stop()
