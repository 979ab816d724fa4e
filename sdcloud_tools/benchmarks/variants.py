"""What a benchmark run measures: the setup (model, size, steps, device), the fast path's variants and
levers as `FastOptions`, and the plan of rows (variant, config, batch) in the order they are timed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from inference_image.fast import FastOptions
from inference_image.fast.aot import ATTENTION, BuildOptions
from sdcloud_tools.benchmarks.models import XL_ARCHS


@dataclass(frozen=True)
class Setup:
    """The measured setup; `smoke()` is a CPU-sized one that runs every code path in seconds."""

    arch: str = "sd15"
    device: str = "cuda"
    dtype: torch.dtype = torch.float16
    size: int = 512
    steps: int = 30
    reps: int = 5
    backend: str = "auto"
    compile_backend: str = "inductor"

    @staticmethod
    def of(arch: str, smoke: bool = False) -> Setup:
        xl = arch in XL_ARCHS
        if smoke:
            return Setup("tiny-xl" if xl else "tiny", "cpu", torch.float32, 32, 3, 1, "emulate", "eager")
        return Setup("sdxl" if xl else "sd15", size=1024 if xl else 512)

    @property
    def xl(self) -> bool:
        return self.arch in XL_ARCHS

    def options(self, variant: str, work: Path) -> FastOptions:
        """graphs: CUDA graphs of the eager modules; compiled[-lever]: of the ahead-of-time compiled artifacts."""
        if variant == "graphs":
            return FastOptions(backend=self.backend, compile="off")  # type: ignore[arg-type]
        chosen = [lever for lever in variant.partition("-")[2].split("+") if lever]
        if variant.partition("-")[0] != "compiled" or any(lever not in LEVERS for lever in chosen):
            raise ValueError(f"unknown variant {variant!r}")
        attention = [lever for lever in chosen if lever in ATTENTION]
        build = BuildOptions(
            backend=self.compile_backend,
            attention=attention[0] if attention else "default",
            fuse_qkv="qkv" in chosen,
            precision="fp8" if "fp8" in chosen else "default",
            tuning=next((LEVERS[lever] for lever in chosen if lever in ("cdt", "autotune")), "default"),
        )
        return FastOptions(
            backend=self.backend,  # type: ignore[arg-type]
            compile="background",
            artifact_dir=work / "artifacts",
            build=build,
            build_workers=int(os.environ.get("BENCH_BUILD_WORKERS", "8")),
            vae_decode="float32" if "vae32" in chosen else "auto",
        )


# compiled-<lever>[+<lever>...]: nothing (the container's choices), an SDPA backend fixed in the artifacts,
# "vae32" (an upcast VAE decodes in float32, as diffusers does, instead of half precision with the float32
# fallback), "qkv" (fused QKV projections), "fp8" (the UNet's large linear layers in float8, `fast/fp8.py`),
# "cdt" / "autotune" (Inductor's coordinate-descent tuning / max-autotune)
LEVERS = {**{name: name for name in ATTENTION}, "vae32": "", "qkv": "", "fp8": ""}
LEVERS |= {"cdt": "cdt", "autotune": "max-autotune"}  # the Inductor tuning each names
PEER = "torch-compile"


CONFIGS = {
    "sd15": [("txt2img", 1), ("txt2img", 8), ("cn1", 1), ("cn2", 1)],
    "sdxl": [("txt2img", 1), ("txt2img", 4), ("cn1", 1)],
}


def make_plan(
    arch: str, variants: list[str], configs: list[tuple[str, int]], levers: list[str]
) -> list[tuple[str, str, int]]:
    """Plain rows, then each variant over `configs`, then each lever variant on the first config only."""
    configs = configs or CONFIGS["sdxl" if arch in XL_ARCHS else "sd15"]
    plan = [("plain", c, b) for c, b in configs]
    plan += [(v, c, b) for v in variants for c, b in configs]
    plan += [(v, *configs[0]) for v in levers]
    return plan
