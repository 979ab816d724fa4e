"""The float8 linear layer against half precision, one layer at a time at SDXL's shapes (run 18: the UNet with
`precision=fp8` was no faster than without, 1.074 s against 1.070 s an image). Each variant is compiled by Inductor,
as the container's artifacts are, replayed from a CUDA graph as the container runs them (run 19 timed them call by
call: the launches, 45-120 us a call, hid the kernels) and timed with CUDA events, side by side in one process:

    python -m sdcloud_tools.benchmarks.fp8_layers [--out DIR]     # on the GPU
    python -m sdcloud_tools.benchmarks.fp8_layers --smoke         # tiny shapes on the CPU: checks the script only

Variants: `half` (`torch.nn.Linear` in fp16), `fp8` (`Float8Linear` as the container builds it), `fp8-fast-accum`
(the same with the GEMM's fast accumulation), `quantize` (the activation's scale and cast alone) and
`gemm` (`torch._scaled_mm` on an activation already in float8, the bias added by the GEMM): where `fp8` loses
its GEMM's gain shows there.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from inference_image.fast.fp8 import Float8Linear

# (rows, in, out) of SDXL's UNet at 1024x1024 under CFG (batch 2): the 64x64 level (640 channels, 2 x 4096
# tokens) and the 32x32 level (1280 channels, 2 x 1024 tokens): attention projections, the GEGLU's input
# projection and the feed-forward's output
SDXL_SHAPES = [
    (8192, 640, 640), (8192, 640, 5120), (8192, 2560, 640),
    (2048, 1280, 1280), (2048, 1280, 10240), (2048, 5120, 1280),
]
SMOKE_SHAPES = [(64, 32, 48)]
VARIANTS = ("half", "fp8", "fp8-fast-accum", "quantize", "gemm")
CALLS_PER_GRAPH = 20


def layer_calls(linear: torch.nn.Linear, x: torch.Tensor) -> dict[str, Callable[[], Any]]:
    fp8, fast = Float8Linear(linear), Float8Linear(linear, fast_accum=True)
    quantized = fp8.quantize_input(x)
    compiled: dict[str, Callable[..., Any]] = {
        "half": torch.compile(linear), "fp8": torch.compile(fp8), "fp8-fast-accum": torch.compile(fast),
        "quantize": torch.compile(fp8.quantize_input), "gemm": torch.compile(fp8.gemm),
    }
    arguments: dict[str, tuple[object, ...]] = {"gemm": (*quantized, x.dtype)}

    def bound(name: str) -> Callable[[], Any]:
        return functools.partial(compiled[name], *arguments.get(name, (x,)))

    return {name: bound(name) for name in compiled}


def time_ms(call: Callable[[], Any], iterations: int, device: torch.device) -> float:
    """Milliseconds per call. On CUDA the calls are replayed from a CUDA graph, as the container runs its
    modules: timed call by call, a layer of a few microseconds of GPU work measures its launch instead."""
    for _ in range(3):
        call()
    if device.type != "cuda":
        started = time.perf_counter()
        for _ in range(iterations):
            call()
        return (time.perf_counter() - started) * 1000 / iterations
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # capture wants its allocations warmed up on a stream of its own
        call()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(CALLS_PER_GRAPH):
            call()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph.replay()
    torch.cuda.synchronize()
    start.record()
    for _ in range(iterations):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / (iterations * CALLS_PER_GRAPH)


def run(smoke: bool) -> list[dict[str, float]]:
    device = torch.device("cpu" if smoke else "cuda")
    dtype = torch.float32 if smoke else torch.float16
    rows_out = []
    for rows, features, out in SMOKE_SHAPES if smoke else SDXL_SHAPES:
        torch.manual_seed(0)
        torch._dynamo.reset()  # each shape compiles afresh: the variants of all shapes exceed dynamo's recompile limit
        linear = torch.nn.Linear(features, out, device=device, dtype=dtype)
        x = torch.randn(rows, features, device=device, dtype=dtype)
        with torch.no_grad():
            calls = layer_calls(linear, x)
            reference = calls["half"]().float()
            row: dict[str, float] = {"rows": rows, "in": features, "out": out}
            for name in VARIANTS:
                row[f"{name}_ms"] = time_ms(calls[name], 3 if smoke else 50, device)
            for name in ("fp8", "fp8-fast-accum"):
                error = (calls[name]().float() - reference).norm() / reference.norm()
                row[f"{name}_relative_error"] = float(error)
        rows_out.append(row)
    return rows_out


def table(rows: list[dict[str, float]]) -> str:
    head = " | ".join(f"{v} ms" for v in VARIANTS)
    lines = [f"| rows x in -> out | {head} | half / fp8 | half / fp8-fast-accum |", "|---" * (len(VARIANTS) + 3) + "|"]
    for r in rows:
        times = " | ".join(f"{r[f'{v}_ms']:.4f}" for v in VARIANTS)
        lines.append(f"| {r['rows']} x {r['in']} -> {r['out']} | {times} | {r['half_ms'] / r['fp8_ms']:.2f} | "
                     f"{r['half_ms'] / r['fp8-fast-accum_ms']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: checks the script only")
    args = parser.parse_args()
    rows = run(args.smoke)
    text = table(rows)
    print(text, flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fp8_layers.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
