"""Plain diffusers against the fast path, in one process on one GPU (issues 4, 8 and 18).

    python -m sdcloud_tools.benchmarks.bench main --arch sd15|sdxl --out DIR --work DIR/work
    python -m sdcloud_tools.benchmarks.bench warm --out DIR --work DIR/work

`main` builds SD 1.5- or SDXL-architecture pipelines with random weights (fp16, 512x512 or 1024x1024,
30 steps, CFG 7, DPM++ 2M Karras, end to end to PIL images), builds the compiled artifacts every variant
needs (child processes, all at once), then compiles the plain `torch.compile` peer in this process, before
anything is timed (`build_phase.py`), then times the plain pipeline (txt2img at batch 1 and 8, or 4 for SDXL, and
with one and two ControlNet units, one for SDXL), the peer (`torch-compile`: the UNet in channels_last
under `torch.compile(mode="reduce-overhead")`, what a user writes in three lines) and the fast path's
variants (`graphs`: CUDA graphs of the eager modules; `compiled`: of the compiled artifacts;
`compiled-<lever>`: the same with one lever changed, `LEVERS`), and compares each image with the plain
one of the same seed (PSNR). It also writes a 2 GB checkpoint in the WebUI layout and builds the artifacts of the
pipeline the container's loader makes of it. `warm` is a fresh process that loads that checkpoint and
reports how soon it serves at full speed from the persisted artifacts (`warm.py`). Both print a table and
write JSON under --out. What a run measures is in `variants.py`, the pipelines and timing in `harness.py`.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_image.fast import FastRunner
from sdcloud_tools.benchmarks.build_phase import build_artifacts
from sdcloud_tools.benchmarks.harness import START, Bench, Row, environment, print_table, psnr, time_left
from sdcloud_tools.benchmarks.models import write_checkpoint
from sdcloud_tools.benchmarks.variants import PEER, Setup, make_plan
from sdcloud_tools.benchmarks.warm import run_warm
from sdcloud_tools.benchmarks.watchdog import Watchdog


def run_main(setup: Setup, out: Path, work: Path, plan: list[tuple[str, str, int]]) -> list[Row]:
    """`plan`: (variant, config, batch) in order; "plain" rows first, each other row compared with its plain one."""
    units = max((int(c[-1]) for _, c, _ in plan if c.startswith("cn")), default=0)
    watchdog = Watchdog(out)
    watchdog.mark("the pipelines")
    bench = Bench(setup, units)
    bench.build()
    rows: list[Row] = []
    plain: dict[tuple[str, int], tuple[Row, np.ndarray]] = {}
    report: dict[str, Any] = {"env": environment(), "setup": {**asdict(setup), "dtype": str(setup.dtype)}, "rows": rows}

    def save() -> None:
        (out / "main.json").write_text(json.dumps({**report, "rows": [asdict(r) for r in rows]}, indent=1))

    # the warm phase's checkpoint (BENCH_NO_CHECKPOINT=1 when no warm phase follows)
    checkpoint = not os.environ.get("BENCH_NO_CHECKPOINT")
    watchdog.mark("the warm phase's checkpoint")
    if checkpoint and setup.arch in ("sd15", "sdxl"):
        write_checkpoint(work / "checkpoint.safetensors", setup.arch, setup.device)
    elif checkpoint:
        from sdcloud_tools.sample_models import write_sample_models, write_sdxl_sample_models

        samples = (write_sdxl_sample_models if setup.xl else write_sample_models)(work / "samples")
        samples["checkpoint"].replace(work / "checkpoint.safetensors")
    report.update(build_artifacts(setup, bench, work, plan, checkpoint, watchdog))
    print(f"artifacts built in {report['build_all_s']:.1f} s; failures: {report['build_failures']}", flush=True)
    save()

    runner: FastRunner | None = None
    for variant, config, batch in plan:
        peer_skipped = variant == PEER and f"{config}:{batch}" not in report["peer_first_call_s"]
        if peer_skipped or time_left() < 30:
            report.setdefault("skipped", []).append(f"{variant} {config} b{batch}")
            continue
        if variant not in ("plain", PEER) and (runner is None or runner.options != setup.options(variant, work)):
            if runner is not None:  # one fast variant at a time: free the last one's graphs first
                runner.close()
                runner = None
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            runner = FastRunner(setup.options(variant, work))
        watchdog.mark(f"row {variant} {config} b{batch}")
        try:
            row, images = bench.measure(config, batch, variant, call_of(bench, variant, runner))
        except Exception as exc:  # keep the other rows of this run
            print(f"{variant} {config} b{batch} failed: {exc!r}", flush=True)
            report.setdefault("errors", []).append(f"{variant} {config} b{batch}: {exc!r}")
            continue
        if variant == "plain":
            plain[(config, batch)] = (row, images)
        else:
            base_row, base_images = plain[(config, batch)]
            row.ratio = base_row.s_image / row.s_image
            row.psnr_db = psnr(images, base_images)
            if variant == PEER:
                row.first_call_s = report["peer_first_call_s"].get(f"{config}:{batch}", row.first_call_s)
            elif runner is not None and runner.last is not None:
                row.tiers = json.dumps(runner.last.tiers)
        rows.append(row)
        print(row, flush=True)
        save()
    if runner is not None:
        runner.close()
    peers = {(r.config, r.batch): r.s_image for r in rows if r.variant == PEER}
    for r in rows:
        r.peer_ratio = peers[(r.config, r.batch)] / r.s_image if (r.config, r.batch) in peers else 0.0
    save()
    (out / "main_table.md").write_text(print_table(rows))
    return rows


def call_of(bench: Bench, variant: str, runner: FastRunner | None) -> Callable[..., Any]:
    """`call(config, **kwargs)` for a variant: the plain pipeline, the peer's, or the fast runner."""
    if variant == "plain":
        return lambda config, **kw: bench.pipes[config](**kw)
    if variant == PEER:
        return lambda config, **kw: bench.peer(config)(**kw)
    assert runner is not None
    return lambda config, **kw: runner.run(bench.pipe_for(config, runner.options), **kw)


def main() -> None:
    process_start = START
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["main", "warm"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="checkpoint, configs and artifacts")
    parser.add_argument("--arch", choices=["sd15", "sdxl"], default="sd15")
    parser.add_argument("--variants", default=f"{PEER},graphs,compiled", help=f"{PEER}, graphs, compiled[-LEVER]")
    parser.add_argument("--configs", default="", help="e.g. txt2img:8,cn2:1 (default: the arch's CONFIGS)")
    parser.add_argument("--levers", default="", help="variants timed on the first config only, e.g. compiled-cudnn")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU: checks the script only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    setup = Setup.of(args.arch, args.smoke)
    if args.phase == "main":
        configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",") if c]
        variants, levers = ([v for v in arg.split(",") if v] for arg in (args.variants, args.levers))
        run_main(setup, args.out, args.work, make_plan(args.arch, variants, configs, levers))
    else:
        run_warm(setup, args.out, args.work, process_start)


if __name__ == "__main__":
    main()
