"""Compiled artifacts shared through S3, so that a fresh instance starts with what any instance of its
kind has built: it pulls them at start, and each build pushes its artifact when done.

Layout: `<uri>/<torch version>/<GPU name>/<artifact>.pt` and `<artifact>.kernels.tar` (Inductor's kernel
cache of that one build, see `aot.build`). On push the kernels go first and on pull they are unpacked
first, so a process that finds an artifact finds its kernels too.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

KERNELS_SUFFIX = ".kernels.tar"


def kernels_of(artifact: Path) -> Path:
    return artifact.with_name(artifact.stem + KERNELS_SUFFIX)


def unpack_kernels(archive: Path, cache_dir: Path) -> None:
    """Merge a build's kernel cache into `cache_dir`, one file at a time and atomically (processes may be
    reading the cache); files already there are kept, since their names are content hashes."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            target = cache_dir / member.name
            if not target.resolve().is_relative_to(cache_dir.resolve()):
                raise ValueError(f"{archive.name}: {member.name} lies outside the cache")
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
            source = tar.extractfile(member)
            assert source is not None
            with source, staged.open("wb") as out:
                shutil.copyfileobj(source, out)
            staged.replace(target)


def pack_kernels(cache_dir: Path, archive: Path) -> None:
    staged = archive.with_name(f".{archive.name}.partial")
    with tarfile.open(staged, "w") as tar:
        for path in sorted(p for p in cache_dir.rglob("*") if p.is_file()):
            tar.add(path, arcname=str(path.relative_to(cache_dir)))
    staged.replace(archive)


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
        target = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        facts = "/".join(re.sub(r"[^A-Za-z0-9.+_-]+", "-", fact) for fact in (torch.__version__, target))
        return f"{self._base}/{facts}/".lstrip("/")

    def start_pull(self, directory: Path, cache_dir: Path) -> threading.Thread:
        """Pull in a thread; `pulled` is set when it ends, whatever the outcome (builds wait on it)."""

        def run() -> None:
            try:
                self.pull(directory, cache_dir)
            except Exception:
                log.exception("pulling compiled artifacts from s3://%s/%s failed", self.bucket, self.prefix)
            finally:
                self.pulled.set()

        thread = threading.Thread(target=run, name="artifact-pull", daemon=True)
        thread.start()
        return thread

    def pull(self, directory: Path, cache_dir: Path) -> list[Path]:
        """Every artifact under the prefix that `directory` lacks, kernels unpacked into `cache_dir`."""
        started = time.perf_counter()
        keys = {
            item["Key"][len(self.prefix) :]
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for item in page.get("Contents", [])
        }
        wanted = [directory / name for name in sorted(keys) if name.endswith(".pt") and "/" not in name]
        wanted = [p for p in wanted if not p.is_file() and kernels_of(p).name in keys]
        directory.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(self.workers) as pool:
            pulled = list(pool.map(lambda artifact: self._pull_one(artifact, cache_dir), wanted))
        log.info("pulled %d compiled artifacts in %.1f s", len(pulled), time.perf_counter() - started)
        return pulled

    def _pull_one(self, artifact: Path, cache_dir: Path) -> Path:
        kernels = kernels_of(artifact)
        self._download(kernels)
        unpack_kernels(kernels, cache_dir)
        self._download(artifact)
        return artifact

    def _download(self, path: Path) -> None:
        staged = path.with_name(f".{path.name}.partial")
        self.client.download_file(self.bucket, self.prefix + path.name, str(staged))
        staged.replace(path)

    def push(self, artifact: Path) -> None:
        for path in (kernels_of(artifact), artifact):
            self.client.upload_file(str(path), self.bucket, self.prefix + path.name)
