"""Orchestration overhead of the local stack: what the system adds around the container's own work.

For each job, submitted one at a time with the tiny sample checkpoint:

    overhead = (completed_at - submitted) - container total_s

`submitted` is the client's clock just before `POST /inferences`; `completed_at` is written by the result
notifier when it marks the job succeeded; `total_s` is what the container reports for the request (model
load, inference, PNG upload). What remains is the API handler, the input in S3, InvokeEndpointAsync, the
async queue, the output object, SNS -> SQS, the SQS poll and the notifier. A warm-up job (first pipeline
load) is not counted.

    python -m sdcloud_tools.benchmarks.orchestration_overhead --jobs 50
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()

    from lambdas.data.jobs import get_job
    from sdcloud.local.stack import LocalStack
    from sdcloud_client import SdCloudClient
    from sdcloud_tools.sample_models import write_sample_models

    with LocalStack(port=0, device=args.device) as stack, tempfile.TemporaryDirectory() as directory:
        client = SdCloudClient(stack.api_url, stack.api_key)
        checkpoint = write_sample_models(Path(directory))["checkpoint"]
        client.upload_model(checkpoint, "bench-sd", "checkpoint", state_dir=Path(directory) / "state")
        client.create_endpoint("bench", "ml.g5.xlarge")
        client.wait_endpoint("bench", poll_interval=0.2, timeout=600)
        payload = {"prompt": "a lighthouse", "steps": args.steps, "width": args.size, "height": args.size,
                   "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "bench-sd"}}

        def run_one(seed: int) -> tuple[float, float, float]:
            submitted = time.time()
            job = client.create_inference("bench", "txt2img", {**payload, "seed": seed})
            done = client.wait_inference(job["id"], poll_interval=0.02, timeout=600)
            assert done["status"] == "succeeded", done.get("error")
            record = get_job(job["id"])
            assert record is not None and record.completed_at and record.timings
            completed = datetime.fromisoformat(record.completed_at.replace("Z", "+00:00")).timestamp()
            return completed - submitted, record.timings.total_s, record.timings.inference_s

        run_one(0)  # warm-up: the first job loads the pipeline
        results = [run_one(seed) for seed in range(1, args.jobs + 1)]

    end_to_end = [r[0] * 1000 for r in results]
    container = [r[1] * 1000 for r in results]
    inference = [r[2] * 1000 for r in results]
    overhead = [(r[0] - r[1]) * 1000 for r in results]
    print(f"{args.jobs} jobs, {args.size}x{args.size}, {args.steps} step(s), device {args.device}")
    for name, values in (("submit -> succeeded", end_to_end), ("container total_s", container),
                         ("container inference_s", inference), ("orchestration overhead", overhead)):
        print(f"{name:>24}: median {statistics.median(values):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms")


if __name__ == "__main__":
    main()
