"""Compiled artifacts shared through S3, so that a fresh instance starts with what any instance of its
kind has built: it pulls them at start, and each build pushes its artifact when done.

Layout: `<uri>/<torch version>/<GPU name>/<artifact>.pt`. An artifact carries its compiled kernels, so
the file is all there is to share.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from inference_image.fast.aot import device_name

log = logging.getLogger(__name__)


class ArtifactMirror:
    """The S3 prefix of one (torch version, GPU) and the transfers to and from an artifact directory."""

    def __init__(self, client: Any, uri: str, device: torch.device, workers: int = 4) -> None:
        match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri)
        if match is None:
            raise ValueError(f"not an s3:// URI: {uri!r}")
        self.client = client
        self.bucket, self._base = match.group(1), match.group(2).rstrip("/")
        self.device = device
        self.workers = workers
        self.pulled = threading.Event()

    @functools.cached_property
    def prefix(self) -> str:
        # computed at first use, in a transfer thread: naming the GPU initialises CUDA
        facts = "/".join(re.sub(r"[^A-Za-z0-9.+_-]+", "-", f) for f in (torch.__version__, device_name(self.device)))
        return f"{self._base}/{facts}/".lstrip("/")

    def start_pull(self, directory: Path) -> None:
        """Pull in a thread; `pulled` is set when it ends, whatever the outcome (builds wait on it)."""

        def run() -> None:
            try:
                self.pull(directory)
            except Exception:
                log.exception("pulling compiled artifacts from s3://%s/%s failed", self.bucket, self.prefix)
            finally:
                self.pulled.set()

        threading.Thread(target=run, name="artifact-pull", daemon=True).start()

    def pull(self, directory: Path) -> list[Path]:
        """Every artifact under the prefix that `directory` lacks."""
        started = time.perf_counter()
        names = [
            item["Key"][len(self.prefix) :]
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for item in page.get("Contents", [])
        ]
        wanted = [directory / name for name in sorted(names) if name.endswith(".pt") and "/" not in name]
        wanted = [path for path in wanted if not path.is_file()]
        directory.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(self.workers) as pool:
            pulled = list(pool.map(self._download, wanted))
        log.info("pulled %d compiled artifacts in %.1f s", len(pulled), time.perf_counter() - started)
        return pulled

    def _download(self, path: Path) -> Path:
        staged = path.with_name(f".{path.name}.partial")
        self.client.download_file(self.bucket, self.prefix + path.name, str(staged))
        staged.replace(path)
        return path

    def push(self, artifact: Path) -> None:
        self.client.upload_file(str(artifact), self.bucket, self.prefix + artifact.name)
