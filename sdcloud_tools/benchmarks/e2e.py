"""The whole path on a GPU: REST API -> SageMaker async emulator -> inference container -> S3 -> SNS/SQS ->
notifier, on the local stack (`sdcloud local up`'s `LocalStack`, in this process), with full-size
random-weight SD 1.5 or SDXL models uploaded through the API.

    python -m sdcloud_tools.benchmarks.e2e --out DIR [--arch sd15|sdxl] [--device cuda] [--queued 20]
    python -m sdcloud_tools.benchmarks.e2e --out DIR [--arch sdxl] --smoke   # tiny models on the CPU

Phases: upload the checkpoint (SD 1.5: 2.1 GB, SDXL: 6.9 GB) and a ControlNet (0.7 GB, 2.5 GB) in the
WebUI layout, at 512 or 1024 pixels; one job of each kind
(txt2img, img2img, txt2img with two ControlNet units) while the container loads and builds its compiled
artifacts, then a wait for the builds; the same jobs again, one at a time, each timed from submit to
`succeeded` as the user sees it (polling the API) against the container's own time for it (its manifest's
`timings.total_s`, read from the async output in S3): the difference is the orchestration overhead; then
`--queued` txt2img jobs submitted at once: images per second through the system against the container's
own rate for the same jobs.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sdcloud_tools.benchmarks.harness import Marks
from sdcloud_tools.benchmarks.models import control_image, write_checkpoint, write_controlnet

ENDPOINT = "bench"


def png(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def payloads(names: dict[str, str], size: int, steps: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """kind -> (task, WebUI body)."""
    base = {
        "prompt": "a photograph of an astronaut riding a horse on the moon, highly detailed",
        "negative_prompt": "blurry, low quality",
        "sampler_name": "DPM++ 2M",
        "scheduler": "Karras",
        "steps": steps,
        "cfg_scale": 7,
        "width": size,
        "height": size,
        "seed": 1,
        "override_settings": {"sd_model_checkpoint": names["checkpoint"]},
    }
    init = png(control_image(size, size, seed=5))
    unit = {"enabled": True, "model": names["controlnet"], "processor_res": size}
    units = [
        {**unit, "module": "canny", "weight": 1.0, "image": png(control_image(size, size, seed=1))},
        {**unit, "module": "none", "weight": 0.8, "guidance_end": 0.6, "image": png(control_image(size, size, seed=2))},
    ]
    return {
        "txt2img": ("txt2img", base),
        "img2img": ("img2img", {**base, "init_images": [init], "denoising_strength": 0.6}),
        "cn2": ("txt2img", {**base, "alwayson_scripts": {"controlnet": {"args": units}}}),
        "hires": ("txt2img", {**base, "enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent",
                              "hr_second_pass_steps": max(1, steps // 2), "denoising_strength": 0.5}),
    }


class Jobs:
    """Submits jobs through the API and tells, per job, when the user saw it succeed and what the
    container's own time for it was."""

    def __init__(self, user: Any, s3: Any) -> None:
        self.user = user
        self.s3 = s3
        self.submitted: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}

    def submit(self, task: str, payload: dict[str, Any]) -> str:
        started = time.time()
        job = self.user.create_inference(ENDPOINT, task, payload)
        self.submitted[job["id"]] = started
        return str(job["id"])

    def wait(self, ids: list[str], timeout: float = 900.0) -> None:
        """Poll as a user would: one job's status every 20 ms, or the job list every 100 ms for many jobs
        (the client shares the stack's process here, so its polling is kept light)."""
        deadline = time.time() + timeout
        pending = set(ids)
        while pending and time.time() < deadline:
            if len(pending) == 1:
                seen = [self.user.get_inference(next(iter(pending)))]
            else:
                seen = self.user.list_inferences(limit=100)["inferences"]
            for job in seen:
                if job["id"] not in pending:
                    continue
                if job["status"] == "succeeded":
                    self.succeeded[job["id"]] = time.time()
                    pending.discard(job["id"])
                elif job["status"] == "failed":
                    raise RuntimeError(f"job {job['id']} failed: {job.get('error')}")
            time.sleep(0.02 if len(pending) <= 1 else 0.1)
        if pending:
            raise TimeoutError(f"jobs not done within {timeout} s: {sorted(pending)}")

    def container_times(self) -> dict[str, dict[str, float]]:
        """job id -> the container's `timings`, from the manifests the async emulator wrote to S3."""
        found: dict[str, dict[str, float]] = {}
        for bucket in self.s3.list_buckets()["Buckets"]:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".out") and not item["Key"].endswith("-error.out"):
                        body = json.loads(self.s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read())
                        if isinstance(body, dict) and "job_id" in body:
                            found[body["job_id"]] = body["timings"]
        return found


def wait_for_builds(artifacts: Path, timeout: float) -> float:
    """Until no artifact build is pending (each leaves a `.request` until it succeeds)."""
    started = time.time()
    while time.time() - started < timeout:
        time.sleep(min(2.0, timeout))
        if artifacts.is_dir() and not list(artifacts.glob("*.request")):
            break
    return time.time() - started


def model_files(arch: str, models: Path, device: str, smoke: bool) -> dict[str, Path]:
    """The checkpoint and ControlNet to upload: full-size random ones, or the tiny samples for `smoke`."""
    if smoke:
        from sdcloud_tools.sample_models import write_sample_models, write_sdxl_sample_models

        paths = (write_sdxl_sample_models if arch == "sdxl" else write_sample_models)(models)
        return {"checkpoint": paths["checkpoint"], "controlnet": paths["controlnet"]}
    return {
        "checkpoint": write_checkpoint(models / f"random-{arch}.safetensors", arch, device),
        "controlnet": write_controlnet(models / f"random-{arch}-controlnet.safetensors", arch, device),
    }


def run(
    out: Path,
    arch: str,
    device: str,
    size: int,
    steps: int,
    queued: int,
    smoke: bool,
    builds_wait: float = 150.0,
) -> dict[str, Any]:
    import boto3

    from sdcloud.local.stack import LocalStack
    from sdcloud_client import SdCloudClient

    report = Marks(arch=arch, device=torch.cuda.get_device_name(0) if device == "cuda" else device)
    process_start = time.time()
    stack = LocalStack(port=0, device=device).start()
    report["stack_up_s"] = time.time() - process_start
    try:
        admin = SdCloudClient(stack.api_url, stack.api_key)
        user = SdCloudClient(stack.api_url, admin.create_user("bench", "user")["api_key"])
        files = model_files(arch, stack.workdir / "bench-models", device, smoke)
        report["models_written_s"] = time.time() - process_start
        names, started = {}, time.time()
        for kind, path in files.items():
            names[kind] = str(user.upload_model(path, path.stem, kind)["name"])
        report["upload_s"] = time.time() - started
        report["upload_bytes"] = sum(p.stat().st_size for p in files.values())

        admin.create_endpoint(ENDPOINT, "ml.g5.xlarge", 0, 1)
        started = time.time()
        user.wait_endpoint(ENDPOINT, poll_interval=0.5, timeout=600)
        report["endpoint_in_service_s"] = time.time() - started

        jobs = Jobs(user, boto3.client("s3", endpoint_url=stack.moto_url, region_name="us-east-1"))
        bodies = payloads(names, size, steps)
        first: dict[str, str] = {}
        for kind, (task, body) in bodies.items():  # loads the models, captures graphs, starts the builds
            first[kind] = jobs.submit(task, body)
            jobs.wait([first[kind]])
            seen = jobs.succeeded[first[kind]] - jobs.submitted[first[kind]]
            report[f"first_{kind}"] = {"submit_to_succeeded_s": seen, **jobs.container_times()[first[kind]]}
        report["builds_wait_s"] = wait_for_builds(stack.workdir / "model-cache" / "compiled", builds_wait)

        timed: dict[str, list[str]] = {kind: [] for kind in bodies}
        for _ in range(3):
            for kind, (task, body) in bodies.items():
                timed[kind].append(jobs.submit(task, body))
                jobs.wait([timed[kind][-1]])
        report["timed_jobs_done_s"] = time.time() - process_start

        batch = [jobs.submit(*bodies["txt2img"]) for _ in range(queued)]
        jobs.wait(batch, timeout=1800)

        container = jobs.container_times()

        def row(job_id: str) -> dict[str, float]:
            seen = jobs.succeeded[job_id] - jobs.submitted[job_id]
            own = container[job_id]["total_s"]
            return {"submit_to_succeeded_s": seen, "container_s": own, "overhead_s": seen - own}

        report["jobs"] = {kind: [row(j) for j in ids] for kind, ids in timed.items()}
        report["overhead_median_s"] = {
            kind: statistics.median(r["overhead_s"] for r in rows) for kind, rows in report["jobs"].items()
        }
        span = max(jobs.succeeded[j] for j in batch) - min(jobs.submitted[j] for j in batch)
        own = sum(container[j]["total_s"] for j in batch)
        report["queued"] = {
            "jobs": queued,
            "wall_s": span,
            "images_per_s": queued / span,
            "container_images_per_s": queued / own,
            "container_inference_s_median": statistics.median(container[j]["inference_s"] for j in batch),
        }
    finally:
        stack.stop()
        (out / "e2e.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arch", choices=["sd15", "sdxl"], default="sd15")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, help="image width and height (default: SD 1.5 512, SDXL 1024)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--queued", type=int, default=20)
    parser.add_argument("--builds-wait", type=float, default=150.0, help="at most this long for the artifact builds")
    parser.add_argument("--smoke", action="store_true", help="tiny sample models on the CPU: checks the script only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # a `timeout` still leaves the phases measured so far in e2e.json, and no stack running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    args.out.mkdir(parents=True, exist_ok=True)
    size = args.size or (1024 if args.arch == "sdxl" else 512)
    if args.smoke:
        # no artifact builds on the CPU (the eager backend): nothing to wait for
        args.device, size, args.steps, args.queued, args.builds_wait = "cpu", 64, 2, 3, 0.0
    run(args.out, args.arch, args.device, size, args.steps, args.queued, args.smoke, args.builds_wait)


if __name__ == "__main__":
    main()
