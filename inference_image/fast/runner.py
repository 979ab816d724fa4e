"""The fast path: run a loaded diffusers pipeline with its heavy modules replayed from CUDA graphs.

`FastRunner.run(pipe, **call_kwargs)` calls the pipeline exactly as `pipe(**call_kwargs)` would, with
the UNet, every ControlNet, the VAE decoder and the text encoders swapped for `GraphedForward`s for the
duration of the call (`fast_modules(pipe)` does the same around any block, e.g. prompt encoding). The
denoising loop, scheduler and CFG stay diffusers' own, so every sampler and pipeline option keeps
working; what goes is the per-kernel launch cost (the eager pipeline is launch-bound at 512x512) and,
with compile on, the unfused kernels. Text encoders have no compiled tier (transformers models are not
rebuilt from a config by `aot.Recipe`): their graphs alone take a CLIP encode from ~4.6 to ~0.8 ms.

Tiers per (module, input signature): "graph" (the eager forward captured, ready after one warm-up
call, no compile) and "compiled" (an ahead-of-time compiled artifact, `aot.py`, captured). Artifacts
live in `FastOptions.artifact_dir`, keyed by architecture and signature, not by weights: a signature
whose artifact is on disk is compiled from its first call, in any process. With `compile="background"`
a missing one is built by a child process while jobs run on the graph tier; `compile="sync"` waits
for the build (benchmarks, image build); `compile="off"` never compiles.

The plain pipeline is one option away (`FastOptions(enabled=False)`), and the runner falls back to it
by itself where it cannot help: no CUDA, a module with accelerate offload hooks, or LoRA adapters
active but not fused (fuse them: `pipe.fuse_lora()` changes weights in place, which the graphs and the
artifacts see).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch

from inference_image.fast import levers
from inference_image.fast.aot import ArtifactSource, Builds, Recipe
from inference_image.fast.graphs import CudaGraph, EmulatedGraph, GraphedForward, GraphFactory, weak_call
from inference_image.fast.mirror import ArtifactMirror
from inference_image.fast.options import FastOptions, RunInfo, fast_device_reason
from inference_image.fast.pipeline_modules import (
    forwards_replaced,
    has_unfused_lora,
    heavy_parts,
    weights_fingerprint,
)
from inference_image.fast.vae import HalfVae, upcasts

log = logging.getLogger(__name__)


class FastRunner:
    """One per process (per GPU); serves any number of pipelines, keeping graphs per module instance."""

    def __init__(self, options: FastOptions | None = None) -> None:
        self.options = options or FastOptions()
        self._wrappers: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, GraphedForward]] = (
            weakref.WeakKeyDictionary()
        )
        self._prepared: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()
        self._vaes: weakref.WeakKeyDictionary[torch.nn.Module, HalfVae] = weakref.WeakKeyDictionary()
        self._pool: Any = None
        self._call_lock = threading.Lock()
        self._compiler: ThreadPoolExecutor | None = None
        self._jobs: list[Future[None]] = []
        self._builds = Builds()
        self._mirror: ArtifactMirror | None = None
        self.last: RunInfo | None = None

    # -- public --------------------------------------------------------------------------------
    def run(self, pipe: Any, **call_kwargs: Any) -> Any:
        """`pipe(**call_kwargs)`, fast where possible; `self.last` tells which path ran and why."""
        with self.fast_modules(pipe):
            return pipe(**call_kwargs)

    @contextlib.contextmanager
    def fast_modules(self, pipe: Any) -> Iterator[None]:
        """Within the block `pipe`'s heavy modules replay graphs, whoever calls them: the pipeline, or the
        container encoding its prompts before the call. `self.last` tells which path ran and why."""
        with self._call_lock:
            reason = self._plain_reason(pipe)
            if reason:
                unet = getattr(pipe, "unet", None)
                if unet is not None:  # fused projections would skip adapters on to_q/to_k/to_v
                    levers.unfuse_qkv(unet)
                self.last = RunInfo(path="plain", reason=reason)
                yield
                return
            parts = heavy_parts(pipe)
            wrappers = {name: self._wrapper(*part) for name, part in parts.items()}
            replacements: dict[torch.nn.Module, Any] = {parts[name][0]: w for name, w in wrappers.items()}
            with contextlib.ExitStack() as stack:
                vae = getattr(pipe, "vae", None)
                if "vae_decoder" in wrappers and upcasts(vae):
                    stack.enter_context(self._half_vae(vae, wrappers, replacements))
                stack.enter_context(forwards_replaced(replacements))
                yield
            self.last = RunInfo(
                path="fast",
                tiers={name: [w.entry_tier(k) for k in w.signatures()] for name, w in wrappers.items()},
            )
        if self.options.compile == "background":
            self._schedule_compiles(list(wrappers.values()))

    def sync_artifacts(self, s3_client: Any) -> None:
        """Start pulling the artifacts other instances built (`options.mirror_uri`), and push each one
        built here; builds wait for the pull. The container calls this once its setup is done."""
        options = self.options
        if options.mirror_uri is None or options.artifact_dir is None or options.compile == "off":
            return
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._mirror = ArtifactMirror(s3_client, options.mirror_uri, device)
        self._mirror.start_pull(options.artifact_dir)

    def fuses_lora(self, pipe: Any) -> bool:
        """Whether LoRAs should be fused into the UNet for `pipe`: graphs replay fused weights, not adapters."""
        return fast_device_reason(self.options, pipe) == ""

    def takes_lora(self, pipe: Any) -> bool:
        """A UNet in float8 (`BuildOptions.precision`) has no half-precision weights to fuse a LoRA into."""
        unet = getattr(pipe, "unet", None)
        if unet is None or not self.fuses_lora(pipe):
            return True
        return levers.effective(self.options.build, unet).precision != "fp8"

    def __call__(self, pipe: Any, kwargs: dict[str, Any]) -> list[Any]:
        """The container's `Runner` hook: `Predictor(settings, runner=FastRunner())`."""
        return list(self.run(pipe, **kwargs).images)

    def warm_up(
        self,
        pipe: Any,
        sizes: tuple[tuple[int, int], ...] = ((512, 512),),
        batches: tuple[int, ...] = (1,),
        steps: int = 2,
    ) -> None:
        """Capture (and compile, per the policy) every (width, height, batch) with a short generation,
        then wait for the builds: at image build, or to fill the artifact directory ahead of the jobs.
        ControlNet pipelines get one blank image per unit."""
        from PIL import Image

        units = len(getattr(pipe.controlnet, "nets", [None])) if getattr(pipe, "controlnet", None) else 0
        for width, height in sizes:
            for batch in batches:
                kwargs: dict[str, Any] = {
                    "prompt": "",
                    "width": width,
                    "height": height,
                    "num_inference_steps": steps,
                    "num_images_per_prompt": batch,
                    "output_type": "np",
                }
                if units:
                    blank = Image.new("RGB", (width, height))
                    kwargs["image"] = [blank] * units if units > 1 else blank
                self.run(pipe, **kwargs)
                if self.options.compile == "background":
                    self.wait_for_compiles()
                    self.run(pipe, **kwargs)  # captures the compiled graphs

    def wait_for_compiles(self, timeout: float | None = None) -> None:
        """Block until queued background compiles finish (image build, benchmarks, tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in list(self._jobs):
            job.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._jobs = [j for j in self._jobs if not j.done()]

    def close(self) -> None:
        """End the artifact builds still running or queued; jobs after this run on the graph tier."""
        self._builds.stop()
        if self._compiler is not None:
            self._compiler.shutdown(wait=True, cancel_futures=True)
            self._compiler = None

    # -- choosing the path ---------------------------------------------------------------------
    def _plain_reason(self, pipe: Any) -> str:
        reason = fast_device_reason(self.options, pipe)
        if reason:
            return reason
        for module, _owner, _attr in heavy_parts(pipe).values():
            if "forward" in vars(module) or hasattr(module, "_hf_hook"):
                return "a module's forward is hooked (offload or another wrapper)"
        unet = getattr(pipe, "unet", None)
        if unet is not None and has_unfused_lora(unet):
            return "LoRA adapters active but not fused"
        return ""

    # -- wrappers ------------------------------------------------------------------------------
    def _wrapper(self, module: torch.nn.Module, owner: Any, attr: str) -> GraphedForward:
        self._prepare(module)
        fingerprint = weights_fingerprint(module)
        known = self._wrappers.get(module)
        if known is not None and known[0] == fingerprint:
            return known[1]
        # new module, or its weights were re-allocated (graphs and artifacts hold their addresses): start over
        device = next(module.parameters()).device
        wrapper = GraphedForward(
            weak_call(type(module).forward, module),
            device=device,
            make_graph=self._graph_factory(),
            pool=self._graph_pool(),
            source=self._source(module, owner, attr),
            scalar_kwargs=("conditioning_scale",),
            max_signatures=self.options.max_signatures,
            compile_inline=self.options.compile == "sync",
        )
        self._wrappers[module] = (fingerprint, wrapper)
        return wrapper

    def _source(self, module: torch.nn.Module, owner: Any, attr: str) -> ArtifactSource | None:
        if self.options.compile == "off" or self.options.artifact_dir is None:
            return None
        recipe = Recipe.of(owner, attr, self.options.channels_last)
        if recipe is None:
            return None
        build = levers.effective(self.options.build, module)
        return ArtifactSource(module, recipe, build, self.options.artifact_dir, self._builds, self._mirror)

    @contextlib.contextmanager
    def _half_vae(
        self, vae: Any, wrappers: dict[str, GraphedForward], replacements: dict[torch.nn.Module, Any]
    ) -> Iterator[None]:
        """The VAE stays in half precision (its graphs hold its weights), with a float32 fallback (`vae.py`)."""
        state = self._vaes.get(vae)
        if state is None:
            state = self._vaes[vae] = HalfVae(always_full=self.options.vae_decode == "float32")

        def full_decoder() -> GraphedForward:
            full = state.full(vae)
            wrappers["vae_decoder_fp32"] = self._wrapper(full.decoder, full, "decoder")
            return wrappers["vae_decoder_fp32"]

        replacements[vae.decoder] = state.guarded(wrappers["vae_decoder"], full_decoder, "decoder")
        half_encoder = weak_call(type(vae.encoder).forward, vae.encoder)
        replacements[vae.encoder] = state.guarded(half_encoder, lambda: state.full(vae).encoder, "encoder")
        with state.no_upcast(vae):
            yield

    def _prepare(self, module: torch.nn.Module) -> None:
        if module not in self._prepared and self.options.channels_last:
            module.to(memory_format=torch.channels_last)
        # the UNet's levers; each call, since fused projections re-fuse where a LoRA merge broke their views
        levers.apply(module, self.options.build)
        self._prepared.add(module)

    def _graph_factory(self) -> GraphFactory:
        if self.options.backend == "emulate":
            return EmulatedGraph
        return CudaGraph

    def _graph_pool(self) -> Any:
        if self.options.backend == "emulate":
            return None
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        return self._pool

    # -- compiling -----------------------------------------------------------------------------
    def _schedule_compiles(self, wrappers: list[GraphedForward]) -> None:
        if self._compiler is None:
            self._compiler = ThreadPoolExecutor(self.options.build_workers, thread_name_prefix="fast-build")
        for wrapper in wrappers:
            for key in wrapper.pending_compiles():
                self._jobs.append(self._compiler.submit(wrapper.compile_signature, key))
