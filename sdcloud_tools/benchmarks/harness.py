"""The benchmark's harness: the pipelines under test (plain, the plain `torch.compile` peer's, copies for the
levers that change the UNet in place), their call arguments, one row timed and its images compared (PSNR), the
clock against the device's command limit, and the report's table."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_image.fast import FastOptions
from sdcloud_tools.benchmarks.models import assemble, build_pipeline, control_image, scheduler
from sdcloud_tools.benchmarks.variants import Setup

CFG = 7.0
# seconds from process start after which no compile or timed row starts (the device's command limit)
DEADLINE_S = float(os.environ.get("BENCH_DEADLINE_S", "inf"))
START = float(os.environ.get("BENCH_PROCESS_START", time.time()))


class Marks(dict[str, Any]):
    """A report whose entries are printed as they are taken: a phase stopped by its timeout keeps what it measured."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        print(f"{name}: {value}", flush=True)


def time_left() -> float:
    return DEADLINE_S - (time.time() - START)


PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"
NEGATIVE = "blurry, low quality"


@dataclass
class Row:
    config: str
    variant: str
    batch: int
    it_s: float
    s_image: float
    first_call_s: float
    ratio: float = 1.0
    peer_ratio: float = 0.0  # the peer's s/image over this row's (0: no peer row)
    psnr_db: float = math.inf
    nan: bool = False
    tiers: str = ""


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(images, nan=0.0), 0, 1) * 255).round().astype(np.uint8)


class Bench:
    def __init__(self, setup: Setup, units: int = 2) -> None:
        self.setup = setup
        self.units = units
        self.pipes: dict[str, Any] = {}
        self.peer_pipes: dict[str, Any] = {}
        self.lever_pipes: dict[tuple[str, bool, str], Any] = {}
        self.lever_unets: dict[tuple[bool, str], Any] = {}
        self.controls = [control_image(setup.size, setup.size, seed=i) for i in range(units)]

    def build(self, seed: int = 0) -> None:
        from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

        full = build_pipeline(
            self.setup.arch,  # type: ignore[arg-type]
            controlnets=self.units,
            device=self.setup.device,
            dtype=self.setup.dtype,
            seed=seed,
        )
        nets = list(getattr(full.controlnet, "nets", [full.controlnet])) if self.units else []
        parts = {k: v for k, v in full.components.items() if k != "controlnet"}
        self.pipes["txt2img"] = assemble(parts)
        if nets:
            self.pipes["cn1"] = assemble(parts, nets[0])
        if len(nets) > 1:
            self.pipes["cn2"] = assemble(parts, MultiControlNetModel(nets))

    def pipe_for(self, config: str, options: FastOptions | None = None) -> Any:
        """The pipeline of `config` for a variant; where its levers change the UNet in place (fused QKV, fp8),
        with a copy of the UNet made for those levers, so that every other row keeps the original."""
        build = options.build if options is not None else None
        if build is None or (not build.fuse_qkv and build.precision == "default"):
            return self.pipes[config]
        key = (config, build.fuse_qkv, build.precision)
        if key not in self.lever_pipes:
            import copy

            unet_key = key[1:]
            if unet_key not in self.lever_unets:
                self.lever_unets[unet_key] = copy.deepcopy(self.pipes["txt2img"].unet)
            pipe = self.pipes[config]
            parts = {k: v for k, v in pipe.components.items() if k != "controlnet"}
            parts["unet"] = self.lever_unets[unet_key]
            self.lever_pipes[key] = assemble(parts, getattr(pipe, "controlnet", None))
        return self.lever_pipes[key]

    def peer(self, config: str) -> Any:
        """The pipeline of `config` with the plain `torch.compile` peer's UNet: a copy in channels_last under
        `torch.compile(mode="reduce-overhead")` (the eager backend in the CPU smoke run)."""
        if config not in self.peer_pipes:
            if not self.peer_pipes:
                import copy

                unet = copy.deepcopy(self.pipes["txt2img"].unet).to(memory_format=torch.channels_last)
                options: dict[str, Any] = (
                    {"mode": "reduce-overhead"} if self.setup.compile_backend == "inductor" else {"backend": "eager"}
                )
                self._peer_unet = torch.compile(unet, **options)
            pipe = self.pipes[config]
            parts = {k: v for k, v in pipe.components.items() if k != "controlnet"}
            self.peer_pipes[config] = assemble({**parts, "unet": self._peer_unet}, getattr(pipe, "controlnet", None))
        return self.peer_pipes[config]

    def kwargs(
        self, config: str, batch: int, seed: int, output_type: str, steps: int = 0, size: tuple[int, int] = (0, 0)
    ) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "height": size[1] or self.setup.size,
            "width": size[0] or self.setup.size,
            "num_inference_steps": steps or self.setup.steps,
            "guidance_scale": CFG,
            "num_images_per_prompt": batch,
            "generator": torch.Generator(self.setup.device).manual_seed(seed),
            "output_type": output_type,
        }
        if config == "cn1":
            kw["image"] = self.controls[0]
        elif config == "cn2":
            kw["image"] = self.controls
            kw["controlnet_conditioning_scale"] = [1.0, 0.8]
            kw["control_guidance_end"] = [1.0, 0.6]  # the second unit stops at 60%: scale switches to 0
        return kw

    def measure(self, config: str, batch: int, variant: str, call: Callable[..., Any]) -> tuple[Row, np.ndarray]:
        """`call(config, **kwargs)` timed: one untimed first call (seed 1, whose images are compared), then
        the median of `reps` calls (half as many at batch > 1)."""
        reps = max(1, self.setup.reps if batch == 1 else self.setup.reps // 2)
        first_s, out = time_call(lambda: call(config, **self.kwargs(config, batch, 1, "np")))
        images = out.images
        times = []
        for i in range(reps):
            t, _ = time_call(lambda i=i: call(config, **self.kwargs(config, batch, 100 + i, "pil")))  # type: ignore[misc]
            times.append(t)
        per_call = float(np.median(times))
        row = Row(
            config=config,
            variant=variant,
            batch=batch,
            it_s=self.setup.steps / per_call,
            s_image=per_call / batch,
            first_call_s=first_s,
            nan=bool(np.isnan(images).any()),
        )
        return row, to_uint8(images)


def environment() -> dict[str, str]:
    import diffusers

    return {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
    }


def print_table(rows: list[Row]) -> str:
    head = "| config | batch | variant | it/s | s/image | images/s | x plain | x peer | PSNR dB | NaN | first call s |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        peer = f"{r.peer_ratio:.2f}" if r.peer_ratio else ""
        lines.append(
            f"| {r.config} | {r.batch} | {r.variant} | {r.it_s:.1f} | {r.s_image:.3f} "
            f"| {1 / r.s_image:.2f} | {r.ratio:.2f} | {peer} | {r.psnr_db:.1f} | {r.nan} | {r.first_call_s:.1f} |"
        )
    table = "\n".join(lines)
    print(table, flush=True)
    return table


def checkpoint_pipeline(setup: Setup, work: Path) -> Any:
    """The txt2img pipeline the container's own loader makes of the checkpoint on local disk (2 GB for sd15)."""
    from inference_image.checkpoints import ConfigFolders, load_checkpoint

    pipe = load_checkpoint(work / "checkpoint.safetensors", ConfigFolders(work / "configs"), setup.dtype, False)
    pipe.to(setup.device)
    pipe.scheduler = scheduler()
    pipe.set_progress_bar_config(disable=True)
    return pipe
