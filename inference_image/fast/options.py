"""What the fast path is asked to do (`FastOptions`), what it did on the last call (`RunInfo`), and when a
pipeline's device rules it out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from inference_image.fast.aot import BuildOptions

CompilePolicy = Literal["off", "sync", "background"]
VaeDecode = Literal["auto", "float32"]
Backend = Literal["auto", "cuda", "emulate"]


@dataclass(frozen=True)
class FastOptions:
    enabled: bool = True
    compile: CompilePolicy = "background"
    channels_last: bool = True
    # "auto": CUDA graphs where the pipeline is on CUDA, else the plain pipeline. "emulate" runs the
    # static-buffer machinery without CUDA graphs (tests).
    backend: Backend = "auto"
    max_signatures: int = 8
    artifact_dir: Path | None = None  # compiled artifacts; None: graph tier only
    build: BuildOptions = field(default_factory=BuildOptions)
    build_workers: int = 2  # artifact builds at once (child processes)
    mirror_uri: str | None = None  # s3://bucket/prefix shared by all instances (`mirror.py`); None: local only
    # a half-precision VAE that diffusers upcasts (SDXL's): "auto" decodes in half precision and falls back
    # to float32 where that gives NaN/inf, as the WebUI does (`vae.py`); "float32" always decodes in float32
    vae_decode: VaeDecode = "auto"


@dataclass
class RunInfo:
    path: Literal["fast", "plain"]
    reason: str = ""
    tiers: dict[str, list[str]] = field(default_factory=dict)


def fast_device_reason(options: FastOptions, pipe: Any) -> str:
    """Why the options or the pipeline's device rule the fast path out; empty when they don't."""
    if not options.enabled:
        return "fast path disabled"
    device = torch.device(getattr(pipe, "device", "cpu"))
    if options.backend != "emulate" and device.type != "cuda":
        return f"pipeline on {device.type}, CUDA graphs need CUDA"
    return ""
