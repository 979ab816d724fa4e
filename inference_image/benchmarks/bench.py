"""Plain diffusers against the fast path, in one process on one GPU (issue 4's GPU check, issue 8).

    python -m inference_image.benchmarks.bench main --out DIR --work DIR/work
    python -m inference_image.benchmarks.bench warm --out DIR --work DIR/work

`main` builds SD 1.5-architecture pipelines with random weights (fp16, 512x512, 30 steps, CFG 7,
DPM++ 2M Karras, end to end to PIL images), builds the compiled artifacts every variant needs (child
processes, all at once, before anything is timed), then times the plain pipeline for txt2img at batch
1 and 8 and with one and two ControlNet units, and the fast path's tiers (CUDA graphs of the eager
modules; CUDA graphs of the compiled artifacts), and compares each fast image with the plain one of the
same seed (PSNR). It also writes a 2 GB checkpoint in the WebUI layout and builds the artifacts of the
pipeline the container's loader makes of it. `warm` is a fresh process that loads that checkpoint and
reports how soon it serves at full speed from the persisted artifacts. Both print a table and write
JSON under --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
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

from inference_image.benchmarks.models import build_pipeline, control_image, scheduler, write_sd15_checkpoint
from inference_image.fast import FastOptions, FastRunner
from inference_image.fast.aot import BuildOptions

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

    def options(self, variant: str, work: Path) -> FastOptions:
        """graphs: CUDA graphs of the eager modules; compiled: of the ahead-of-time compiled artifacts."""
        if variant == "graphs":
            return FastOptions(backend=self.backend, compile="off")  # type: ignore[arg-type]
        build = BuildOptions(backend=self.compile_backend)
        return FastOptions(
            backend=self.backend,  # type: ignore[arg-type]
            compile="background",
            artifact_dir=work / "artifacts",
            build=build,
            build_workers=int(os.environ.get("BENCH_BUILD_WORKERS", "8")),
        )


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


def checkpoint_pipeline(setup: Setup, work: Path) -> Any:
    """The txt2img pipeline the container's own loader makes of the checkpoint on local disk (2 GB for sd15)."""
    from inference_image.checkpoints import ConfigFolders, load_checkpoint

    pipe = load_checkpoint(work / "checkpoint.safetensors", ConfigFolders(work / "configs"), setup.dtype, False)
    pipe.to(setup.device)
    pipe.scheduler = scheduler()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_artifacts(
    setup: Setup, bench: Bench, work: Path, variants: list[str], configs: list[tuple[str, int]]
) -> dict[str, Any]:
    """Queue every artifact the timed runs need (a 2-step call per config on the graph tier starts the
    builds), the checkpoint pipeline's too, and wait for all: no build overlaps a timed call."""
    started = time.perf_counter()
    runners = {v: FastRunner(setup.options(v, work)) for v in variants if v != "graphs"}
    calls = [(runner, bench.pipes[c], c, b) for v, runner in runners.items() for c, b in configs]
    if "compiled" in runners:
        checkpoint = checkpoint_pipeline(setup, work)
        calls += [(runners["compiled"], checkpoint, "txt2img", 1)]
    for runner, pipe, config, batch in calls:
        runner.run(pipe, **bench.kwargs(config, batch, 0, "pil", steps=2))
    failures = []
    for runner in runners.values():
        runner.wait_for_compiles()
        runner.close()
        failures += [f for _, w in runner._wrappers.items() for f in w[1].stats.failures]
    return {"build_all_s": time.perf_counter() - started, "build_failures": failures}


def run_main(
    setup: Setup, out: Path, work: Path, variants: list[str], configs: list[tuple[str, int]] = CONFIGS
) -> list[Row]:
    bench = Bench(setup)
    bench.build()
    rows: list[Row] = []
    plain: dict[tuple[str, int], tuple[Row, np.ndarray]] = {}
    report: dict[str, Any] = {"env": environment(), "rows": rows}

    def save() -> None:
        (out / "main.json").write_text(json.dumps({**report, "rows": [asdict(r) for r in rows]}, indent=1))

    if setup.arch == "sd15":
        write_sd15_checkpoint(work / "checkpoint.safetensors", setup.device)
    else:
        from inference_image.sample_models import write_sample_models

        write_sample_models(work / "samples")["checkpoint"].replace(work / "checkpoint.safetensors")
    report.update(build_artifacts(setup, bench, work, variants, configs))
    print(f"artifacts built in {report['build_all_s']:.1f} s; failures: {report['build_failures']}", flush=True)
    save()

    for config, batch in configs:
        row, images = bench.measure(config, batch, "plain", lambda p, **kw: p(**kw))
        plain[(config, batch)] = (row, images)
        rows.append(row)
        print(row, flush=True)
        save()

    for variant in variants:
        runner = FastRunner(setup.options(variant, work))
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
        runner.close()
        del runner
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    save()
    (out / "main_table.md").write_text(print_table(rows))
    return rows


def run_warm(setup: Setup, out: Path, work: Path, process_start: float) -> dict[str, Any]:
    """A fresh process with the checkpoint on local disk and the artifacts persisted by `main`: the
    container's steps after its health check turns ready (libraries, checkpoint, first job)."""
    from inference_image.predictor import import_libraries

    marks: dict[str, Any] = {"bench_imports_done": time.time() - process_start}
    import_libraries()
    marks["libraries_loaded"] = time.time() - process_start
    bench = Bench(setup)  # only for its call arguments
    pipe = checkpoint_pipeline(setup, work)
    _sync()
    marks["checkpoint_on_gpu"] = time.time() - process_start
    runner = FastRunner(setup.options("compiled", work))
    kw = bench.kwargs

    def timed(target: Any, seed: int, **extra: Any) -> float:
        return _timed(lambda: runner.run(target, **kw("txt2img", 1, seed, "pil", **extra)))[0]

    def steady(target: Any, seed: int, **extra: Any) -> float:
        """The median of three calls, after the one that picked up or captured the graphs."""
        return float(np.median([timed(target, seed + i, **extra) for i in range(3)]))

    def tiers() -> dict[str, list[str]]:
        return runner.last.tiers if runner.last else {}

    marks["first_image_s"] = timed(pipe, 1)  # picks up the artifacts, captures their graphs
    marks["first_image_done"] = time.time() - process_start
    marks["first_image_tiers"] = tiers()
    marks["steady_s_image"] = steady(pipe, 2)
    marks["full_speed_at"] = time.time() - process_start

    # a LoRA fused into the UNet in place: same artifacts, same graphs, nothing built
    from peft import LoraConfig

    pipe.unet.add_adapter(LoraConfig(r=8, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    for module in pipe.unet.modules():
        if hasattr(module, "merge") and hasattr(module, "active_adapters"):
            module.merge()
    marks["lora_fused_first_s"] = timed(pipe, 5)
    marks["lora_fused_tiers"] = tiers()
    marks["lora_fused_steady_s"] = steady(pipe, 6)

    # checkpoint switch: a second pipeline of the architecture already on the GPU
    other = checkpoint_pipeline(setup, work)
    marks["switch_first_call_s"] = timed(other, 1)
    marks["switch_tiers"] = tiers()
    marks["switch_steady_s_image"] = steady(other, 4)

    # a shape with no artifact: served at once on the graph tier while a child process builds it
    shape = {"size": (768, 512)}
    marks["new_shape_first_s"] = timed(pipe, 1, **shape)
    marks["new_shape_while_building_s"] = steady(pipe, 2, **shape)
    start = time.perf_counter()
    runner.wait_for_compiles()
    marks["new_shape_build_wait_s"] = time.perf_counter() - start
    timed(pipe, 1, **shape)
    marks["new_shape_compiled_s"] = steady(pipe, 2, **shape)
    marks["new_shape_tiers"] = tiers()
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
    parser.add_argument("--work", type=Path, required=True, help="checkpoint, configs and artifacts")
    parser.add_argument("--variants", default="graphs,compiled")
    parser.add_argument("--configs", default="", help="e.g. txt2img:8,cn2:1 (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU: checks the script only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    setup = Setup.smoke() if args.smoke else Setup()
    if args.phase == "main":
        configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",") if c] or CONFIGS
        run_main(setup, args.out, args.work, [v for v in args.variants.split(",") if v], configs)
    else:
        run_warm(setup, args.out, args.work, process_start)


if __name__ == "__main__":
    main()
