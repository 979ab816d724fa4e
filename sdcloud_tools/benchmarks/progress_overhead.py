"""What the progress callback costs a denoising loop on the GPU (`inference_image.progress.JobMonitor`).

A stand-in loop of the UNet's shape of work (a chain of large half-precision matmuls per step, launched
asynchronously as diffusers does, a host-side scheduler update between steps) runs the same steps with no
callback, with `JobMonitor.on_step` (progress and cancel), and with it making live previews every 0.1 s
(a product and a pinned copy queued on the device per preview). The S3 client is an in-memory recorder:
what is measured is the loop, the writes run on the watcher thread anyway.

    python -m sdcloud_tools.benchmarks.progress_overhead --steps 300
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Any

import torch

from api_schema import s3_layout
from inference_image.progress import JobMonitor


class RecordingS3:
    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str = "") -> None:
        self.bodies[Key] = Body

    def list_objects_v2(self, **_: Any) -> dict[str, Any]:
        return {}


def loop(steps: int, weights: torch.Tensor, callback: Any) -> float:
    latents = torch.randn(1, 4, 128, 128, device="cuda", dtype=torch.float16)
    x = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
    pipe = SimpleNamespace(num_timesteps=steps, text_encoder_2=None)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(steps):
        for _ in range(8):
            x = torch.tanh(x @ weights)
        latents = latents * 0.99 + x[:4].reshape(1, 4, 64, 64).repeat(1, 1, 2, 2) * 0.01
        if callback is not None:
            callback(pipe, i, None, {"latents": latents})
    torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    weights = torch.randn(4096, 4096, device="cuda", dtype=torch.float16) / 64
    loop(20, weights, None)  # warm-up

    def monitored(preview_interval_s: float) -> float:
        monitor = JobMonitor(RecordingS3(), "bucket", "job", preview_interval_s=preview_interval_s)
        monitor.start([("sampling", args.steps)])
        try:
            return loop(args.steps, weights, monitor.on_step)
        finally:
            monitor.stop()

    runs: dict[str, list[float]] = {"no callback": [], "progress and cancel": [], "with previews": []}
    for _ in range(args.repeats):
        runs["no callback"].append(loop(args.steps, weights, None))
        runs["progress and cancel"].append(monitored(0.0))
        runs["with previews"].append(monitored(0.1))
    base = statistics.median(runs["no callback"])
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:22s} median {median * 1000 / args.steps:7.3f} ms/step  ({(median / base - 1) * 100:+.2f} %)")
    s3 = RecordingS3()
    monitor = JobMonitor(s3, "bucket", "job", interval_s=0.01, preview_interval_s=0.001)
    monitor.start([("sampling", 100)])
    loop(100, weights, monitor.on_step)
    monitor.stop()
    preview = s3.bodies.get(s3_layout.preview_key("job"), b"")
    assert preview.startswith(b"\xff\xd8"), "no JPEG preview was written"
    print(f"a preview from CUDA latents: {len(preview)} bytes of JPEG; the last report: "
          f"{s3.bodies[s3_layout.progress_key('job')].decode()}")


if __name__ == "__main__":
    main()
