"""A model's download from the local stack's S3 (moto's server) by the container's own `ModelStore` (64 MiB
ranged GETs, 8 at a time), with moto as it is and with
`moto_patches.s3_ranged_gets_read_their_range` (what `LocalStack` applies), each in a fresh process, side by side:

    python -m sdcloud_tools.benchmarks.local_s3_ranges --gb 1 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PART = 64 * 1024**2  # the file is made of whole parts of this size
MODES = ("moto", "patched")


def download_s(size: int, patched: bool) -> float:
    """Seconds for the container's `ModelStore` to fetch a checkpoint of `size` bytes (whole parts) from a fresh
    moto server."""
    import boto3
    from moto.server import ThreadedMotoServer

    from api_schema.jobs import ModelRef
    from inference_image.model_store import ModelStore
    from sdcloud.local.moto_patches import s3_ranged_gets_read_their_range

    if patched:
        s3_ranged_gets_read_their_range()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
        s3.create_bucket(Bucket="ranges")
        with tempfile.TemporaryDirectory() as folder:
            store = ModelStore(s3, Path(folder, "cache"), budget_bytes=2 * size + PART)
            source = Path(folder, "model.safetensors")
            source.write_bytes(os.urandom(PART) * max(1, size // PART))
            s3.upload_file(str(source), "ranges", "model", Config=store.transfer)
            ref = ModelRef(id="m", name="model", type="checkpoint", filename=source.name, bucket="ranges",
                           key="model", size_bytes=source.stat().st_size)
            started = time.perf_counter()
            fetched = store.fetch(ref)
            elapsed = time.perf_counter() - started
            if fetched.read_bytes() != source.read_bytes():
                raise RuntimeError("the download differs from the upload")
        return elapsed
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, nargs="+", default=[1.0])
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)  # a child process: one mode, one size
    args = parser.parse_args()
    if args.one:
        print(download_s(int(args.gb[0] * 1024**3), args.one == "patched"))
        return
    print("| object | moto as it is, s | with the patch, s |\n|---|---|---|")
    for gb in args.gb:
        seconds = [
            float(subprocess.run([sys.executable, "-m", __spec__.name, "--gb", str(gb), "--one", mode],
                                 check=True, capture_output=True, text=True).stdout.split()[-1])
            for mode in MODES
        ]
        print(f"| {gb:g} GB | {seconds[0]:.1f} | {seconds[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
