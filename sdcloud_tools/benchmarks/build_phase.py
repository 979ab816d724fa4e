"""The build phase of `bench main`: every artifact the timed rows need, built before anything is timed, then
the plain `torch.compile` peer's compiles (its first call of each config)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from inference_image.fast import FastRunner
from sdcloud_tools.benchmarks.harness import Bench, checkpoint_pipeline, time_call, time_left
from sdcloud_tools.benchmarks.variants import PEER, Setup
from sdcloud_tools.benchmarks.watchdog import Watchdog


def build_artifacts(
    setup: Setup, bench: Bench, work: Path, plan: list[tuple[str, str, int]], checkpoint: bool, watchdog: Watchdog
) -> dict[str, Any]:
    """Queue every artifact the timed runs need (a 2-step call per (variant, config) on the graph tier
    starts the builds), the checkpoint pipeline's too; wait for them, then compile the peer (its first call of
    each config, timed): no build or compile overlaps a timed call."""
    started = time.perf_counter()
    runners = {v: FastRunner(setup.options(v, work)) for v in {v for v, _, _ in plan} if v.startswith("compiled")}
    calls = [(runners[v], bench.pipe_for(c, runners[v].options), c, b) for v, c, b in plan if v in runners]
    if checkpoint and "compiled" in runners:
        calls += [(runners["compiled"], checkpoint_pipeline(setup, work), "txt2img", 1)]
    failures = []
    for runner, pipe, config, batch in calls:
        watchdog.mark(f"build phase: 2-step call {config} b{batch} with {runner.options.build}")
        try:
            runner.run(pipe, **bench.kwargs(config, batch, 0, "pil", steps=2))
        except Exception as exc:  # a lever that fails here fails its timed rows too; keep the others
            print(f"{config} b{batch} with {runner.options.build}: {exc!r}", flush=True)
            failures.append(repr(exc))
    # the builds first, then the peer: run 14's second call had the peer's compile in this process hang (SD 1.5
    # and SDXL, minutes past its usual 71-100 s) while the build threads loaded artifacts beside it
    for variant, runner in runners.items():
        watchdog.mark(f"build phase: waiting for the builds of {variant}")
        runner.wait_for_compiles()
        runner.close()
        failures += [f for _, w in runner._wrappers.items() for f in w[1].stats.failures]
    peer_first: dict[str, float] = {}
    for _, config, batch in [p for p in plan if p[0] == PEER]:
        if time_left() < (150 if setup.xl else 75):  # a compile takes minutes (SDXL): leave time to the timed rows
            print(f"peer {config} b{batch}: skipped, {time_left():.0f} s left", flush=True)
            continue
        pipe, kwargs = bench.peer(config), bench.kwargs(config, batch, 1, "np")
        watchdog.mark(f"build phase: the peer's compile of {config} b{batch}")
        seconds, _ = time_call(lambda: pipe(**kwargs))  # noqa: B023 (called at once)
        peer_first[f"{config}:{batch}"] = seconds
        print(f"peer {config} b{batch}: first call (compile) {seconds:.1f} s", flush=True)
    return {"build_all_s": time.perf_counter() - started, "build_failures": failures, "peer_first_call_s": peer_first}
