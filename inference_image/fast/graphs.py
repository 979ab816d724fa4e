"""Replay a module's forward from static buffers: one CUDA graph per input signature.

A `GraphedForward` stands in for `module.forward`. The first call with a new signature (tensor shapes,
dtypes, devices and the values of every non-tensor argument) copies the inputs into static buffers,
warms the function up and captures it; later calls copy their inputs into those buffers and replay.
Outputs are cloned, so a caller may keep or modify them (MultiControlNet adds in place) and one
module may be called twice per step (two ControlNet units sharing one model).

How a call becomes a signature and the static buffers it is copied into: `signatures.py`. The same
machinery runs without CUDA through `EmulatedGraph`, which re-runs the function on the static buffers:
the CPU tests exercise the buffer, signature and output logic with it.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.utils._pytree as pytree

from inference_image.fast.signatures import Entry, fill, flatten_call, new_entry

log = logging.getLogger(__name__)

Fn = Callable[..., Any]


class Graph(Protocol):
    outputs: list[torch.Tensor]

    def replay(self) -> None: ...


class CudaGraph:
    """`fn(*static)` captured once into a CUDA graph, sharing the runner's memory pool."""

    def __init__(self, run: Callable[[], list[torch.Tensor]], pool: Any, warmup: int = 2) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                run()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: a background compile may allocate on its own stream during this capture.
        with torch.cuda.graph(self.graph, pool=pool, capture_error_mode="thread_local"):
            self.outputs = run()

    def replay(self) -> None:
        self.graph.replay()


class EmulatedGraph:
    """Same contract as `CudaGraph` without CUDA: replay re-runs `fn` and fills the static outputs.

    Like a CUDA graph's, the outputs hold nothing valid until the first replay (capture records
    kernels, it runs none): they are poisoned with NaN so that a missing replay shows in tests.
    """

    def __init__(self, run: Callable[[], list[torch.Tensor]], pool: Any = None, warmup: int = 0) -> None:
        self._run = run
        self.outputs = [torch.full_like(t, math.nan) if t.is_floating_point() else t.clone() for t in run()]

    def replay(self) -> None:
        for static, fresh in zip(self.outputs, self._run(), strict=True):
            static.copy_(fresh)


GraphFactory = Callable[[Callable[[], list[torch.Tensor]], Any], Graph]


def weak_call(fn: Fn, module: torch.nn.Module) -> Fn:
    """`fn(module, ...)` without keeping the module alive: the runner keys its graphs weakly, so a
    pipeline the model pool evicts frees its GPU memory (a bound method would pin the module)."""
    ref = weakref.ref(module)

    def call(*args: Any, **kwargs: Any) -> Any:
        target = ref()
        if target is None:
            raise RuntimeError("the module of this graphed forward is gone")
        return fn(target, *args, **kwargs)

    return call


class BuildStopped(Exception):
    """A build ended by its runner's close (the server shutting down), not a failed compile."""


class CompiledSource(Protocol):
    """Where a signature's compiled forward comes from (`aot.ArtifactSource`); `signature` is a stable string."""

    def ready(self, signature: str) -> Fn | None: ...

    def build(self, signature: str, inputs: list[Any], spec: pytree.TreeSpec) -> None: ...


@dataclass
class GraphStats:
    captures: int = 0
    replays: int = 0
    eager_calls: int = 0
    failures: list[str] = field(default_factory=list)


class GraphedForward:
    """Callable that replaces `module.forward`; see the module docstring.

    `eager` is the module's own forward. `source` (optional) supplies a compiled forward per signature:
    one already built is picked up when the signature is first seen, so its first call replays the
    compiled graph; otherwise `compile_signature` (inline, or from the runner's build thread) builds it
    and the next call captures it. `scalar_kwargs` name float keyword arguments that are fed to the
    graph as 0-dim tensors instead of being part of the signature (ControlNet's `conditioning_scale`,
    which the pipeline switches between the unit's weight and 0 at guidance_start/end).
    """

    def __init__(
        self,
        eager: Fn,
        device: torch.device,
        make_graph: GraphFactory,
        pool: Any,
        source: CompiledSource | None = None,
        scalar_kwargs: tuple[str, ...] = (),
        max_signatures: int = 8,
        compile_inline: bool = False,
    ) -> None:
        self.eager = eager
        self.source = source
        self.device = device
        self._make_graph = make_graph
        self._pool = pool
        self._scalar_kwargs = scalar_kwargs
        self._max_signatures = max_signatures
        self._compile_inline = compile_inline
        self._entries: dict[Hashable, Entry] = {}
        self._lock = threading.Lock()
        self.stats = GraphStats()

    # -- signature ---------------------------------------------------------------------------
    def signatures(self) -> list[Hashable]:
        return list(self._entries)

    def entry_tier(self, key: Hashable) -> str:
        entry = self._entries.get(key)
        if entry is None or entry.graph is None:
            return "eager"
        return "compiled" if entry.compiled else "graph"

    # -- call --------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flat, spec, key, scalar_slots = flatten_call(args, kwargs, self._scalar_kwargs)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self._max_signatures:
                self.stats.eager_calls += 1
                return self.eager(*args, **kwargs)
            entry = self._new_entry(repr(key), flat, spec, scalar_slots)
            self._entries[key] = entry
        if entry.error is not None:
            self.stats.eager_calls += 1
            return self.eager(*args, **kwargs)
        fill(entry, flat)
        if self._compile_inline and entry.compile_state == "none":
            self.compile_signature(key)
        want_compiled = entry.compiled_fn is not None
        if entry.graph is None or (want_compiled and not entry.compiled):
            self._capture(entry, compiled=want_compiled)
            if entry.graph is None:
                self.stats.eager_calls += 1
                return self.eager(*args, **kwargs)
        entry.graph.replay()
        self.stats.replays += 1
        entry.calls += 1
        assert entry.out_spec is not None and entry.graph is not None
        return pytree.tree_unflatten([t.clone() for t in entry.graph.outputs], entry.out_spec)

    def _new_entry(self, signature: str, flat: list[Any], spec: pytree.TreeSpec, scalar_slots: set[int]) -> Entry:
        entry = new_entry(signature, flat, spec, scalar_slots, self.device)
        self._pick_up(entry)
        return entry

    def _pick_up(self, entry: Entry) -> None:
        """Use a compiled forward that is already built for this signature (a persisted artifact)."""
        if self.source is None:
            return
        try:
            entry.compiled_fn = self.source.ready(entry.signature)
        except Exception as exc:
            log.warning("a built forward could not be loaded; building anew: %s", exc)
            self.stats.failures.append(repr(exc))
        if entry.compiled_fn is not None:
            entry.compile_state = "ready"
        else:
            entry.example = [t.cpu() if isinstance(t, torch.Tensor) else t for t in entry.static_inputs]

    def _runner(self, entry: Entry, fn: Fn) -> Callable[[], list[torch.Tensor]]:
        def run() -> list[torch.Tensor]:
            args, kwargs = pytree.tree_unflatten(entry.static_inputs, entry.spec)
            out = fn(*args, **kwargs)
            leaves, entry.out_spec = pytree.tree_flatten(out)
            if not all(isinstance(t, torch.Tensor) for t in leaves):
                raise TypeError("graphed forward must return only tensors")
            return leaves

        return run

    def _capture(self, entry: Entry, compiled: bool) -> None:
        fn = entry.compiled_fn if compiled and entry.compiled_fn is not None else self.eager
        try:
            with self._lock:
                entry.graph = self._make_graph(self._runner(entry, fn), self._pool)
            entry.compiled = compiled
            self.stats.captures += 1
        except Exception as exc:  # a forward that cannot be captured runs eagerly from now on
            tier = "compiled" if compiled else "eager"
            log.warning("graph capture failed (%s); running eagerly: %s", tier, exc)
            self.stats.failures.append(repr(exc))
            if compiled:
                entry.compile_state, entry.compiled_fn = "failed", None
                self._capture(entry, compiled=False)
            else:
                entry.graph, entry.error = None, repr(exc)

    # -- compile -----------------------------------------------------------------------------
    def compile_signature(self, key: Hashable) -> None:
        """Build the compiled forward of signature `key` (blocking: inline in sync mode, else from the
        runner's build thread, which only waits on a child process). The next call captures it."""
        entry = self._entries[key]
        if self.source is None or entry.compile_state in ("ready", "running"):
            return
        entry.compile_state = "running"
        try:
            assert entry.example is not None
            self.source.build(entry.signature, entry.example, entry.spec)
            fn = self.source.ready(entry.signature)
            if fn is None:
                raise RuntimeError("the build left no compiled forward")
            entry.compiled_fn, entry.compile_state = fn, "ready"
        except BuildStopped as exc:
            log.info("%s", exc)
            entry.compile_state = "none"
        except Exception as exc:
            log.warning("compile failed; this signature keeps the eager graph: %s", exc)
            self.stats.failures.append(repr(exc))
            entry.compile_state = "failed"

    def pending_compiles(self) -> list[Hashable]:
        if self.source is None:
            return []
        return [k for k, e in self._entries.items() if e.compile_state == "none" and e.error is None]
