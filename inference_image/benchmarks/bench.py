"""Plain diffusers against the fast path, in one process on one GPU (issue 4's GPU check, issue 8).

    python -m inference_image.benchmarks.bench main --out DIR --cache DIR/compile-cache.bin
    python -m inference_image.benchmarks.bench warm --out DIR --cache DIR/compile-cache.bin

`main` builds SD 1.5-architecture pipelines with random weights (fp16, 512x512, 30 steps, CFG 7,
DPM++ 2M Karras, end to end to PIL images), times the plain pipeline for txt2img at batch 1 and 8 and
with one and two ControlNet units, then the fast path's two tiers (CUDA graphs of the eager modules;
CUDA graphs of the compiled modules), compares each fast image with the plain one of the same seed
(PSNR), and saves the compile cache artifacts. `warm` is a fresh process that loads those artifacts
and reports how soon it serves at each tier. Both print a table and write JSON under --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_image.benchmarks.models import build_pipeline, control_image
from inference_image.fast import FastOptions, FastRunner

CFG = 7.0
PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"
NEGATIVE = "blurry, low quality"


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
    def smoke() -> Setup:
        return Setup("tiny", "cpu", torch.float32, 32, 3, 1, "emulate", "eager")

    def options(self, **kw: Any) -> FastOptions:
        return FastOptions(backend=self.backend, compile_backend=self.compile_backend, **kw)  # type: ignore[arg-type]


@dataclass
class Row:
    config: str
    variant: str
    batch: int
    it_s: float
    s_image: float
    first_call_s: float
    ratio: float = 1.0
    psnr_db: float = math.inf
    nan: bool = False
    tiers: str = ""


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    _sync()
    start = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - start, out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(images, nan=0.0), 0, 1) * 255).round().astype(np.uint8)


class Bench:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.pipes: dict[str, Any] = {}
        self.controls = [control_image(setup.size, setup.size, seed=i) for i in range(2)]

    def build(self, seed: int = 0) -> None:
        from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline
        from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

        full = build_pipeline(
            self.setup.arch, controlnets=2, device=self.setup.device, dtype=self.setup.dtype, seed=seed  # type: ignore[arg-type]
        )
        nets = list(full.controlnet.nets)
        parts = {k: v for k, v in full.components.items() if k != "controlnet"}
        self.pipes["txt2img"] = StableDiffusionPipeline(**parts)
        self.pipes["cn1"] = StableDiffusionControlNetPipeline(controlnet=nets[0], **parts)
        self.pipes["cn2"] = StableDiffusionControlNetPipeline(controlnet=MultiControlNetModel(nets), **parts)
        for pipe in self.pipes.values():
            pipe.set_progress_bar_config(disable=True)

    def kwargs(self, config: str, batch: int, seed: int, output_type: str) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "height": self.setup.size,
            "width": self.setup.size,
            "num_inference_steps": self.setup.steps,
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

    def measure(
        self, config: str, batch: int, variant: str, call: Callable[..., Any]
    ) -> tuple[Row, np.ndarray]:
        reps = max(1, self.setup.reps if batch == 1 else self.setup.reps // 2)
        pipe = self.pipes[config]
        first_s, out = _timed(lambda: call(pipe, **self.kwargs(config, batch, 1, "np")))
        images = out.images
        times = []
        for i in range(reps):
            t, _ = _timed(lambda i=i: call(pipe, **self.kwargs(config, batch, 100 + i, "pil")))  # type: ignore[misc]
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


CONFIGS = [("txt2img", 1), ("txt2img", 8), ("cn1", 1), ("cn2", 1)]


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
    head = "| config | batch | variant | it/s | s/image | images/s | x plain | PSNR dB | NaN | first call s |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.config} | {r.batch} | {r.variant} | {r.it_s:.1f} | {r.s_image:.3f} "
            f"| {1 / r.s_image:.2f} | {r.ratio:.2f} | {r.psnr_db:.1f} | {r.nan} | {r.first_call_s:.1f} |"
        )
    table = "\n".join(lines)
    print(table, flush=True)
    return table


def run_main(
    setup: Setup, out: Path, cache: Path, variants: list[str], configs: list[tuple[str, int]] = CONFIGS
) -> list[Row]:
    bench = Bench(setup)
    bench.build()
    rows: list[Row] = []
    plain: dict[tuple[str, int], tuple[Row, np.ndarray]] = {}
    report: dict[str, Any] = {"env": environment(), "rows": rows}

    def save() -> None:
        (out / "main.json").write_text(json.dumps({**report, "rows": [asdict(r) for r in rows]}, indent=1))

    for config, batch in configs:
        row, images = bench.measure(config, batch, "plain", lambda p, **kw: p(**kw))
        plain[(config, batch)] = (row, images)
        rows.append(row)
        print(row, flush=True)
        save()

    for variant in variants:
        compile_policy = "off" if variant == "graphs" else "sync"
        options = setup.options(compile=compile_policy, coordinate_descent_tuning=variant == "compiled-cdt")
        runner = FastRunner(options)
        for config, batch in configs:
            try:
                row, images = bench.measure(config, batch, variant, runner.run)
            except Exception as exc:  # keep the other rows of this run
                print(f"{variant} {config} b{batch} failed: {exc!r}", flush=True)
                report.setdefault("errors", []).append(f"{variant} {config} b{batch}: {exc!r}")
                continue
            base_row, base_images = plain[(config, batch)]
            row.ratio = base_row.s_image / row.s_image
            row.psnr_db = psnr(images, base_images)
            row.tiers = json.dumps(runner.last.tiers if runner.last else {})
            rows.append(row)
            print(row, flush=True)
            save()
        if compile_policy == "sync":
            start = time.perf_counter()
            report["cache_bytes"] = FastRunner.save_cache(cache)
            report["cache_save_s"] = time.perf_counter() - start
        del runner
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    save()
    (out / "main_table.md").write_text(print_table(rows))
    return rows


def run_warm(setup: Setup, out: Path, cache: Path, process_start: float) -> dict[str, float]:
    """A fresh process: how soon is it fast, at each tier, with the persisted cache."""
    marks: dict[str, float] = {"imports_done": time.time() - process_start}
    bench = Bench(setup)
    bench.build()
    _sync()
    marks["pipeline_on_gpu"] = time.time() - process_start
    start = time.perf_counter()
    marks["cache_loaded"] = float(FastRunner.load_cache(cache))
    marks["cache_load_s"] = time.perf_counter() - start
    runner = FastRunner(setup.options(compile="background"))
    pipe = bench.pipes["txt2img"]
    kw = bench.kwargs
    t, _ = _timed(lambda: runner.run(pipe, **kw("txt2img", 1, 1, "pil")))
    marks["first_image_graph_tier_s"] = t
    marks["first_image_done"] = time.time() - process_start
    t, _ = _timed(lambda: runner.run(pipe, **kw("txt2img", 1, 2, "pil")))
    marks["second_image_while_compiling_s"] = t
    runner.wait_for_compiles()
    marks["compiled_ready"] = time.time() - process_start
    t, _ = _timed(lambda: runner.run(pipe, **kw("txt2img", 1, 3, "pil")))
    marks["first_compiled_call_s"] = t  # includes the compiled graph's capture
    times = [_timed(lambda: runner.run(pipe, **kw("txt2img", 1, 4, "pil")))[0] for _ in range(3)]
    marks["steady_s_image"] = float(np.median(times))
    marks["full_speed_at"] = time.time() - process_start
    marks["tiers"] = json.dumps(runner.last.tiers if runner.last else {})  # type: ignore[assignment]

    # checkpoint switch: a second pipeline (other weights) already in GPU memory
    other = Bench(setup)
    other.build(seed=1)
    pipe_b = other.pipes["txt2img"]
    t, _ = _timed(lambda: runner.run(pipe_b, **kw("txt2img", 1, 1, "pil")))
    marks["switch_first_call_s"] = t
    start = time.perf_counter()
    runner.wait_for_compiles()
    marks["switch_compile_s"] = time.perf_counter() - start
    runner.run(pipe_b, **kw("txt2img", 1, 1, "pil"))
    times = [_timed(lambda: runner.run(pipe_b, **kw("txt2img", 1, 4, "pil")))[0] for _ in range(3)]
    marks["switch_steady_s_image"] = float(np.median(times))
    (out / "warm.json").write_text(json.dumps({"env": environment(), "marks": marks}, indent=1))
    for name, value in marks.items():
        print(f"{name}: {value}", flush=True)
    runner.close()
    return marks


def main() -> None:
    process_start = float(os.environ.get("BENCH_PROCESS_START", time.time()))
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["main", "warm"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--variants", default="graphs,compiled")
    parser.add_argument("--configs", default="", help="e.g. txt2img:8,cn2:1 (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU: checks the script only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    setup = Setup.smoke() if args.smoke else Setup()
    if args.phase == "main":
        configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",") if c] or CONFIGS
        run_main(setup, args.out, args.cache, [v for v in args.variants.split(",") if v], configs)
    else:
        run_warm(setup, args.out, args.cache, process_start)


if __name__ == "__main__":
    main()
