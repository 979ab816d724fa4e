"""The container's settings: passed in by whoever builds the server, or read from the env by `serve`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api_schema import container_env as env

_ENV = {
    "cache_dir": env.MODEL_CACHE_DIR,
    "device": env.DEVICE,
    "disk_budget_bytes": env.DISK_BUDGET_BYTES,
    "memory_budget_bytes": env.MEMORY_BUDGET_BYTES,
    "annotator_dir": env.ANNOTATOR_DIR,
    "allow_pickle": env.ALLOW_PICKLE,
    "s3_endpoint_url": env.S3_ENDPOINT_URL,
    "transfer_concurrency": env.TRANSFER_CONCURRENCY,
    "fast_path": env.FAST_PATH,
    "compiled_dir": env.COMPILED_DIR,
    "compiled_s3_uri": env.COMPILED_S3_URI,
    "fast_precision": env.FAST_PRECISION,
    "preview_interval_s": env.PREVIEW_INTERVAL_S,
}


class InferenceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cache_dir: Path = Path("/opt/ml/model-cache")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    disk_budget_bytes: int = Field(100 * 1024**3, gt=0, description="model files kept on local disk")
    memory_budget_bytes: int = Field(
        16 * 1024**3, gt=0, description="loaded pipelines and ControlNets kept on the device"
    )
    annotator_dir: Path | None = Field(None, description="preprocessor weights baked into the image")
    allow_pickle: bool = Field(False, description="load pickled .ckpt/.pt/.bin model files (unsafe)")
    s3_endpoint_url: str | None = None
    transfer_concurrency: int = Field(8, ge=1, le=64)
    fast_path: Literal["off", "graphs", "compiled"] = Field(
        "compiled",
        description="off: the plain diffusers pipeline; graphs: CUDA-graph replay, no compile; compiled: graphs "
        "of ahead-of-time compiled artifacts, loaded from compiled_dir, built in the background where missing",
    )
    compiled_dir: Path | None = Field(
        None, description="compiled artifacts (fast.aot), kept across restarts; default: <cache_dir>/compiled"
    )
    compiled_s3_uri: str | None = Field(
        None,
        pattern=r"^s3://[^/]+(/.*)?$",
        description="s3://bucket/prefix where instances share compiled artifacts: pulled at start, pushed when built",
    )
    fast_precision: Literal["default", "fp8"] = Field(
        "default",
        description="fp8: the UNet's large linear layers in float8 (per-tensor scales, torch._scaled_mm) on the "
        "compiled fast path of a GPU with float8 tensor cores (Hopper, Ada; elsewhere, such as ml.g5's A10G, the "
        "default precision, with a warning in the log); changes the images slightly, and a job with a LoRA is "
        "refused (the float8 weights take none)",
    )
    part_size_bytes: int = Field(64 * 1024**2, ge=5 * 1024**2)
    preview_interval_s: float = Field(
        0.0, ge=0, description="seconds between live previews of a running job (a small JPEG); 0: none"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InferenceSettings:
        env = os.environ if environ is None else environ
        values = {field: env[var] for field, var in _ENV.items() if env.get(var)}
        return cls.model_validate(values)

    @property
    def artifact_dir(self) -> Path:
        return self.compiled_dir or self.cache_dir / "compiled"

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
