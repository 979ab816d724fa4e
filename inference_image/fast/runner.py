"""The fast path: run a loaded diffusers pipeline with its heavy modules replayed from CUDA graphs.

`FastRunner.run(pipe, **call_kwargs)` calls the pipeline exactly as `pipe(**call_kwargs)` would, with
the UNet, every ControlNet and the VAE decoder swapped for `GraphedForward`s for the duration of the
call. The denoising loop, scheduler and CFG stay diffusers' own, so every sampler and pipeline
option keeps working; what goes is the per-kernel launch cost (the eager pipeline is launch-bound
at 512x512) and, with compile on, the unfused kernels.

Tiers per (module, input signature): "graph" (the eager forward captured, ready after one warm-up
call, no compile) and "compiled" (torch.compile'd forward captured). With `compile="background"` a
new signature runs as "graph" at once while a worker thread compiles it; the next call after that
uses the compiled graph. With `compile="sync"` the first call compiles inline (benchmarks, image
build). Compiled artifacts persist with `save_cache` / `load_cache` (PyTorch's cache artifacts), so a
fresh process skips inductor's work.

The plain pipeline is one option away (`FastOptions(enabled=False)`), and the runner falls back to it
by itself where it cannot help: no CUDA, a module with accelerate offload hooks, or LoRA adapters
active but not fused (fuse them: `pipe.fuse_lora()` changes weights in place, which the graphs see).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from inference_image.fast.graphs import CudaGraph, EmulatedGraph, GraphedForward, GraphFactory

log = logging.getLogger(__name__)

CompilePolicy = Literal["off", "sync", "background"]
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
    compile_backend: str = "inductor"  # tests use "eager" to exercise the tiers without inductor
    # inductor settings for the compiled tier (the diffusers guide's choices for UNets)
    conv_1x1_as_mm: bool = True
    coordinate_descent_tuning: bool = False
    max_autotune: bool = False


@dataclass
class RunInfo:
    path: Literal["fast", "plain"]
    reason: str = ""
    tiers: dict[str, list[str]] = field(default_factory=dict)


def _fast_device_reason(options: FastOptions, pipe: Any) -> str:
    """Why the options or the pipeline's device rule the fast path out; empty when they don't."""
    if not options.enabled:
        return "fast path disabled"
    device = torch.device(getattr(pipe, "device", "cpu"))
    if options.backend != "emulate" and device.type != "cuda":
        return f"pipeline on {device.type}, CUDA graphs need CUDA"
    return ""


class FastRunner:
    """One per process (per GPU); serves any number of pipelines, keeping graphs per module instance."""

    def __init__(self, options: FastOptions | None = None) -> None:
        self.options = options or FastOptions()
        self._wrappers: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, GraphedForward]] = (
            weakref.WeakKeyDictionary()
        )
        self._prepared: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()
        self._pool: Any = None
        self._call_lock = threading.Lock()
        self._compiler: ThreadPoolExecutor | None = None
        self._compile_stream: torch.cuda.Stream | None = None
        self._jobs: list[Future[None]] = []
        self.last: RunInfo | None = None
        if self.options.compile != "off":
            self._configure_compile()

    # -- public --------------------------------------------------------------------------------
    def run(self, pipe: Any, **call_kwargs: Any) -> Any:
        """`pipe(**call_kwargs)`, fast where possible; `self.last` tells which path ran and why."""
        with self._call_lock:
            reason = self._plain_reason(pipe)
            if reason:
                self.last = RunInfo(path="plain", reason=reason)
                return pipe(**call_kwargs)
            modules = self._heavy_modules(pipe)
            wrappers = {name: self._wrapper(module) for name, module in modules.items()}
            with _forwards_replaced({modules[name]: w for name, w in wrappers.items()}):
                out = pipe(**call_kwargs)
            self.last = RunInfo(
                path="fast",
                tiers={name: [w.entry_tier(k) for k in w.signatures()] for name, w in wrappers.items()},
            )
        if self.options.compile == "background":
            self._schedule_compiles(list(wrappers.values()))
        return out

    def fuses_lora(self, pipe: Any) -> bool:
        """Whether LoRAs should be fused into the UNet for `pipe`: graphs replay fused weights, not adapters."""
        return _fast_device_reason(self.options, pipe) == ""

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
        then wait for the compiles: at image build (then `save_cache`) or before an instance reports
        ready. ControlNet pipelines get one blank image per unit."""
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

    @staticmethod
    def load_cache(path: str | Path) -> bool:
        """Pre-fill PyTorch's compile caches from artifacts saved by `save_cache`; False if absent."""
        path = Path(path)
        if not path.is_file():
            return False
        torch.compiler.load_cache_artifacts(path.read_bytes())
        return True

    @staticmethod
    def save_cache(path: str | Path) -> int:
        """Write every artifact compiled in this process to `path`; returns its size in bytes."""
        saved = torch.compiler.save_cache_artifacts()
        if saved is None:
            return 0
        data, _info = saved
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return len(data)

    def close(self) -> None:
        if self._compiler is not None:
            self._compiler.shutdown(wait=True)
            self._compiler = None

    # -- choosing the path ---------------------------------------------------------------------
    def _plain_reason(self, pipe: Any) -> str:
        reason = _fast_device_reason(self.options, pipe)
        if reason:
            return reason
        for module in self._heavy_modules(pipe).values():
            if "forward" in vars(module) or hasattr(module, "_hf_hook"):
                return "a module's forward is hooked (offload or another wrapper)"
        unet = getattr(pipe, "unet", None)
        if unet is not None and _has_unfused_lora(unet):
            return "LoRA adapters active but not fused"
        return ""

    @staticmethod
    def _heavy_modules(pipe: Any) -> dict[str, torch.nn.Module]:
        modules: dict[str, torch.nn.Module] = {}
        unet = getattr(pipe, "unet", None)
        if unet is not None:
            modules["unet"] = unet
        controlnet = getattr(pipe, "controlnet", None)
        if controlnet is not None:
            nets = getattr(controlnet, "nets", [controlnet])
            for net in nets:
                # two units may share one model: wrap it once
                if all(net is not m for m in modules.values()):
                    modules[f"controlnet_{len(modules) - 1}"] = net
        vae = getattr(pipe, "vae", None)
        if vae is not None and hasattr(vae, "decoder"):
            modules["vae_decoder"] = vae.decoder
        return modules

    # -- wrappers ------------------------------------------------------------------------------
    def _wrapper(self, module: torch.nn.Module) -> GraphedForward:
        self._prepare(module)
        fingerprint = _weights_fingerprint(module)
        known = self._wrappers.get(module)
        if known is not None and known[0] == fingerprint:
            return known[1]
        # new module, or its weights were re-allocated (graphs hold their addresses): start over
        device = next(module.parameters()).device
        forward = type(module).forward
        eager = _weak_call(forward, module)
        compiled = None
        if self.options.compile != "off":
            compiled = _weak_call(
                torch.compile(forward, backend=self.options.compile_backend, dynamic=False), module
            )
        wrapper = GraphedForward(
            eager,
            device=device,
            make_graph=self._graph_factory(),
            pool=self._graph_pool(),
            compiled=compiled,
            scalar_kwargs=("conditioning_scale",),
            max_signatures=self.options.max_signatures,
            compile_inline=self.options.compile == "sync",
        )
        self._wrappers[module] = (fingerprint, wrapper)
        return wrapper

    def _prepare(self, module: torch.nn.Module) -> None:
        if module in self._prepared:
            return
        if self.options.channels_last:
            module.to(memory_format=torch.channels_last)
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
    def _configure_compile(self) -> None:
        import torch._dynamo.config as dynamo_config
        import torch._inductor.config as inductor_config

        # one compiled entry per (module instance, shape): allow many before dynamo gives up
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo_config, name):
                setattr(dynamo_config, name, 64)
        inductor_config.conv_1x1_as_mm = self.options.conv_1x1_as_mm
        inductor_config.coordinate_descent_tuning = self.options.coordinate_descent_tuning
        inductor_config.max_autotune = self.options.max_autotune

    def _schedule_compiles(self, wrappers: list[GraphedForward]) -> None:
        if self._compiler is None:
            self._compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fast-compile")
        for wrapper in wrappers:
            for key in wrapper.pending_compiles():
                self._jobs.append(self._compiler.submit(self._compile, wrapper, key))

    def _compile(self, wrapper: GraphedForward, key: Any) -> None:
        stream = None
        if wrapper.device.type == "cuda":
            if self._compile_stream is None:
                self._compile_stream = torch.cuda.Stream(device=wrapper.device)
            stream = self._compile_stream
        wrapper.compile_signature(key, stream=stream)


@contextlib.contextmanager
def _forwards_replaced(replacements: dict[torch.nn.Module, GraphedForward]) -> Iterator[None]:
    for module, wrapper in replacements.items():
        module.forward = wrapper
    try:
        yield
    finally:
        for module in replacements:
            vars(module).pop("forward", None)


def _weak_call(forward: Any, module: torch.nn.Module) -> Any:
    """`forward(module, ...)` without keeping the module alive: the runner keys its graphs weakly, so a
    pipeline the model pool evicts frees its GPU memory (a bound method would pin the module)."""
    ref = weakref.ref(module)

    def call(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        if target is None:
            raise RuntimeError("the module of this graphed forward is gone")
        return forward(target, *args, **kwargs)

    return call


def _weights_fingerprint(module: torch.nn.Module) -> int:
    """The base weights' addresses, which the graphs hold. LoRA adapter weights are left out: a fused
    LoRA is added into the base weights in place, so the graphs stay valid (no recapture, no compile),
    and unfused ones send the call to the plain path."""
    return hash(tuple(p.data_ptr() for name, p in module.named_parameters() if "lora_" not in name))


def _has_unfused_lora(module: torch.nn.Module) -> bool:
    for sub in module.modules():
        # peft's BaseTunerLayer, without importing peft
        if not (hasattr(sub, "merged") and hasattr(sub, "active_adapters")):
            continue
        if sub.active_adapters and not sub.merged and not getattr(sub, "disable_adapters", False):
            return True
    return False
