"""S3 model files -> a local disk cache: parallel ranged downloads, size check, reuse, LRU eviction."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from api_schema.jobs import ModelRef
from inference_image.errors import JobError, ModelLoadError


class ModelStore:
    def __init__(
        self, s3: Any, root: Path, budget_bytes: int, concurrency: int = 8, part_size: int = 64 * 1024**2
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        self.s3 = s3
        self.root = root / "models"
        self.root.mkdir(parents=True, exist_ok=True)
        self.budget = budget_bytes
        self.transfer = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=concurrency,
            use_threads=True,
        )
        self._lock = threading.Lock()
        self._hashes: dict[tuple[Path, bool], str] = {}
        self.downloads = 0  # files fetched from S3 since start (observability and tests)

    def _path(self, ref: ModelRef) -> Path:
        """cache/models/{id}/{filename}: the user's file name keeps loader messages recognisable."""

        def safe(text: str) -> str:
            return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).lstrip(".") or "model"

        return self.root / safe(ref.id) / safe(ref.filename)

    def fetch(self, ref: ModelRef, pinned: set[Path] | None = None) -> Path:
        """The local path of a model file, downloaded first unless a complete copy is cached."""
        path = self._path(ref)
        with self._lock:
            if path.is_file() and path.stat().st_size == ref.size_bytes:
                os.utime(path)  # the access time drives LRU eviction
                return path
            if ref.size_bytes > self.budget:
                raise ModelLoadError(f"model '{ref.name}' ({ref.size_bytes} bytes) exceeds the disk cache budget")
            self._make_room(ref.size_bytes, (pinned or set()) | {path})
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            try:
                self.s3.download_file(ref.bucket, ref.key, str(tmp), Config=self.transfer)
            except Exception as exc:
                tmp.unlink(missing_ok=True)
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code in ("404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied"):
                    raise ModelLoadError(
                        f"model '{ref.name}' is not readable at s3://{ref.bucket}/{ref.key} ({code})"
                    ) from exc
                raise JobError(f"downloading model '{ref.name}' failed: {exc}") from exc
            size = tmp.stat().st_size
            if size != ref.size_bytes:
                tmp.unlink(missing_ok=True)
                raise ModelLoadError(
                    f"model '{ref.name}' is {size} bytes, registered as {ref.size_bytes}: upload it again"
                )
            tmp.replace(path)
            self._forget(path)
            self.downloads += 1
            return path

    def _cached(self) -> list[Path]:
        return [p for p in self.root.glob("*/*") if p.is_file() and not p.name.endswith(".part")]

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._cached())

    def _make_room(self, size: int, keep: set[Path]) -> None:
        files = sorted(self._cached(), key=lambda p: p.stat().st_mtime)
        used = sum(p.stat().st_size for p in files)
        for victim in files:
            if used + size <= self.budget:
                break
            if victim in keep:
                continue
            used -= victim.stat().st_size
            victim.unlink(missing_ok=True)
            self._forget(victim)
            with contextlib.suppress(OSError):
                victim.parent.rmdir()
        if used + size > self.budget:
            raise ModelLoadError("the models of this job do not fit the disk cache budget together")

    def _forget(self, path: Path) -> None:
        for skip in (False, True):
            self._hashes.pop((path, skip), None)

    def sha256(self, path: Path, skip_header: bool = False) -> str:
        """The file's SHA-256 (the WebUI's model hashes are prefixes of it), computed once per file.

        `skip_header` hashes a .safetensors file's tensor data only: the WebUI's "addnet" hash of LoRAs.
        """
        cache_key = (path, skip_header)
        if cache_key not in self._hashes:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                if skip_header and path.suffix.lower() == ".safetensors":
                    handle.seek(8 + int.from_bytes(handle.read(8), "little"))
                for block in iter(lambda: handle.read(8 * 1024**2), b""):
                    digest.update(block)
            self._hashes[cache_key] = digest.hexdigest()
        return self._hashes[cache_key]
