"""Ahead-of-time compiled forwards: one artifact per (architecture, input signature).

An artifact is `torch.compile(module, fullgraph=True).forward.aot_compile(...)` saved to disk: the
traced graph and its Inductor code, with the module as an argument. Loading one takes seconds and
traces nothing; the loaded function computes with whatever module it is given, so one artifact serves
every checkpoint of an architecture, and a LoRA fused into the weights in place is seen at once
(no recompile). Guards are dropped when compiling: the artifact's key (the module's architecture, the
call's signature, the torch version and the GPU) says where it applies.

Artifacts are built by a child process (`python -m inference_image.fast.aot REQUEST`) that rebuilds the
module's architecture from its config, so a build never holds the serving process's interpreter lock;
jobs keep running on the graph tier meanwhile. An artifact carries its compiled kernels: a process with
an empty Inductor cache loads it as fast (RESULTS.md, run 9). The artifact directory is the persisted
cache: keep it on the instance's disk, bake it into the image, or share it through S3 (`mirror.py`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.utils._pytree as pytree

from inference_image.fast import levers
from inference_image.fast.graphs import BuildStopped, weak_call

if TYPE_CHECKING:
    from inference_image.fast.mirror import ArtifactMirror

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """How a child process rebuilds a module's architecture: `cls(**config)`, then `.attr` if set."""

    cls: str
    config: dict[str, Any]
    attr: str = ""
    dtype: str = "float16"
    channels_last: bool = True

    @staticmethod
    def of(owner: Any, attr: str = "", channels_last: bool = True) -> Recipe | None:
        config = getattr(owner, "config", None)
        if config is None or not hasattr(type(owner), "from_config"):
            return None
        module = getattr(owner, attr) if attr else owner
        dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
        # "_name_or_path" and the like name a file, not the architecture: artifacts are shared across files
        arch = {k: v for k, v in dict(config).items() if not k.startswith("_")}
        return Recipe(f"{type(owner).__module__}.{type(owner).__qualname__}", arch, attr, dtype, channels_last)

    def build(self, device: torch.device) -> torch.nn.Module:
        module_name, _, cls_name = self.cls.rpartition(".")
        cls = getattr(importlib.import_module(module_name), cls_name)
        with torch.device(device):
            owner = cls.from_config(self.config)
        module = getattr(owner, self.attr) if self.attr else owner
        module = module.to(dtype=getattr(torch, self.dtype)).eval().requires_grad_(False)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module


ATTENTION = {"cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION"}


@dataclass(frozen=True)
class BuildOptions:
    """Compile choices; part of every artifact's key. Tests use backend "eager" (no Inductor).
    `attention`: "default" (PyTorch's choice) or one SDPA backend of `ATTENTION`, fixed in the artifact;
    `fuse_qkv`, `precision` ("default" or "fp8"): the UNet's levers (`levers.py`), applied to the serving
    module too; `tuning`: Inductor's ("default", "cdt", "max-autotune"; `levers.configure_inductor`)."""

    backend: str = "inductor"
    attention: str = "default"
    fuse_qkv: bool = False
    precision: str = "default"
    tuning: str = "default"

    def key(self) -> dict[str, Any]:
        """What names an artifact: fields at their defaults are left out, so that adding a lever keeps the
        names of the artifacts already built."""
        values, defaults = asdict(self), asdict(BuildOptions())
        return {k: v for k, v in values.items() if k in ("backend", "attention") or v != defaults[k]}


def device_name(device: torch.device) -> str:
    """What an artifact is compiled for besides torch's version: the GPU's model, or "cpu"."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def artifact_name(recipe: Recipe, signature: str, options: BuildOptions, device: torch.device) -> str:
    facts = [asdict(recipe), signature, options.key(), torch.__version__, device_name(device)]
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]
    kind = recipe.cls.rpartition(".")[2] + (f"-{recipe.attr}" if recipe.attr else "")
    return f"{kind}-{digest}.pt"


_read: dict[Path, Any] = {}
_read_lock = threading.Lock()


def load(path: Path, module: torch.nn.Module) -> Any:
    """The artifact at `path` as a callable like `module.forward`, computing with `module`'s own tensors
    (held weakly). An artifact is read once per process: it serves every module of its architecture."""
    with _read_lock:
        if path not in _read:
            started = time.perf_counter()
            with path.open("rb") as file:
                _read[path] = torch.compiler.load_compiled_function(file)
            log.info("loaded %s in %.2f s", path.name, time.perf_counter() - started)
        compiled = _read[path]
    return weak_call(lambda target, *args, **kwargs: compiled(without_adapters(target), *args, **kwargs), module)


def without_adapters(module: torch.nn.Module) -> torch.nn.Module:
    """`module` with peft's LoRA wrappers swapped for their base layers, in shallow copies (the tensors
    are shared): the artifact reads weights by the architecture's own paths, and only LoRAs fused into
    the base weights reach the fast path."""
    base = getattr(module, "base_layer", None)
    if isinstance(base, torch.nn.Module) and hasattr(module, "active_adapters"):
        return without_adapters(base)
    children = {name: without_adapters(child) for name, child in module._modules.items() if child is not None}
    if all(module._modules[name] is child for name, child in children.items()):
        return module
    clone = copy.copy(module)
    clone._modules = {**module._modules, **children}
    return clone


class ArtifactSource:
    """One module's compiled forwards (see `graphs.CompiledSource`): artifacts in `directory`, looked up by
    the module's architecture and the call's signature, built by child processes when missing."""

    _building: dict[Path, threading.Lock] = {}
    _building_lock = threading.Lock()

    def __init__(
        self,
        module: torch.nn.Module,
        recipe: Recipe,
        options: BuildOptions,
        directory: Path,
        builds: Builds,
        mirror: ArtifactMirror | None = None,
    ) -> None:
        self._module = weakref.ref(module)
        self.recipe = recipe
        self.options = options
        self.directory = directory
        self.builds = builds
        self.mirror = mirror
        self.device = next(module.parameters()).device

    def path(self, signature: str) -> Path:
        return self.directory / artifact_name(self.recipe, signature, self.options, self.device)

    def ready(self, signature: str) -> Any:
        path = self.path(signature)
        module = self._module()
        if module is None or not path.is_file():
            return None
        return load(path, module)

    def build(self, signature: str, inputs: list[Any], spec: pytree.TreeSpec) -> None:
        path = self.path(signature)
        with self._building_lock:
            lock = self._building.setdefault(path, threading.Lock())
        with lock:  # two modules of one architecture share the artifact: build it once
            if self.mirror is not None:
                self.mirror.pulled.wait()  # another instance may have built it already
            if path.is_file():
                return
            self.builds.run(self.recipe, inputs, spec, self.options, path, self.device)
            path.with_suffix(".request").unlink(missing_ok=True)
        if self.mirror is not None:
            try:
                self.mirror.push(path)
            except Exception as exc:  # the artifact serves this instance all the same
                log.warning("could not push %s to s3://%s: %s", path.name, self.mirror.bucket, exc)


class Builds:
    """The artifact builds (child processes) of one runner. `stop` ends them when the server shuts down: a build
    outliving its server keeps its GPU memory for minutes and writes into a cache that may be gone by then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopped = False

    def run(
        self, recipe: Recipe, inputs: list[Any], spec: pytree.TreeSpec, options: BuildOptions, path: Path,
        device: torch.device,
    ) -> None:
        """Build the artifact at `path` in a child process and wait for it."""
        with self._lock:
            if self._stopped:
                raise BuildStopped(f"not built, the runner is closed: {path.name}")
            child = request_build(recipe, inputs, spec, options, path, device)
            self._running.add(child)
        rc = child.wait()
        with self._lock:
            self._running.discard(child)
            stopped = self._stopped
        if rc != 0 and stopped:
            raise BuildStopped(f"build stopped with its runner: {path.name}")
        if rc != 0:
            raise RuntimeError(f"the artifact build exited with {rc}; see {path.with_suffix('.log')}")

    def stop(self, timeout: float = 10.0) -> None:
        """End the running builds and refuse new ones."""
        with self._lock:
            self._stopped = True
            children = list(self._running)
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def request_build(
    recipe: Recipe, inputs: list[Any], spec: pytree.TreeSpec, options: BuildOptions, path: Path, device: torch.device
) -> subprocess.Popen[bytes]:
    """Start a child process that writes the artifact for `inputs` (flat, per `spec`) on `device` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    request = path.with_suffix(".request")
    torch.save(
        {
            "recipe": asdict(recipe),
            "inputs": [t.detach().cpu() if isinstance(t, torch.Tensor) else t for t in inputs],
            "device": str(device),
            "spec": pytree.treespec_dumps(spec),
            "options": asdict(options),
            "path": str(path),
        },
        request,
    )
    with path.with_suffix(".log").open("wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "inference_image.fast.aot", str(request)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )


def build(request_path: Path) -> Path:
    """The child's side: rebuild and compile; the artifact appears at its path only when whole."""
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    if hasattr(dynamo_config, "enable_aot_compile"):  # torch < 2.13 keeps aot_compile behind this flag
        dynamo_config.enable_aot_compile = True

    request = torch.load(request_path, weights_only=False)
    recipe = Recipe(**request["recipe"])
    options = BuildOptions(**request["options"])
    device = torch.device(request["device"])
    inputs = [t.to(device) if isinstance(t, torch.Tensor) else t for t in request["inputs"]]
    args, kwargs = pytree.tree_unflatten(inputs, pytree.treespec_loads(request["spec"]))
    module = recipe.build(device)
    levers.apply(module, options)
    inductor_config.conv_1x1_as_mm = True  # the diffusers guide's choice for UNets
    levers.configure_inductor(options.tuning)
    started = time.perf_counter()
    compiler: Any = torch.compile(
        module,
        fullgraph=True,
        backend=options.backend,
        options={"guard_filter_fn": _no_guards},
    )
    with torch.no_grad(), _attention(options.attention):
        compiled = compiler.forward.aot_compile((tuple(args), kwargs))
    path = Path(request["path"])
    staged = path.with_suffix(".partial")
    compiled.save_compiled_function(str(staged))
    staged.replace(path)
    print(f"compile {time.perf_counter() - started:.1f} s: {path}", flush=True)
    return path


def _attention(name: str) -> Any:
    """Where a backend is named, tracing picks that SDPA kernel (the choice is made when tracing)."""
    if name == "default":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([getattr(SDPBackend, ATTENTION[name])])


def _no_guards(guards: list[Any]) -> list[bool]:
    return [False for _ in guards]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build(Path(sys.argv[1]))
