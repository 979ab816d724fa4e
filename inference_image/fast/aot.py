"""Ahead-of-time compiled forwards: one AOTInductor package per (architecture, input signature).

A package holds kernels, not weights (`package_constants_in_so=False`). A loaded package is bound to a
module's own tensors (`load_constants(..., user_managed=True)`), so one package serves every checkpoint
of an architecture, a LoRA fused into the weights in place is seen at once (no recompile), and a fresh
process is at full speed after loading a package (about a second), with nothing to trace or compile.

Packages are built by a child process (`python -m inference_image.fast.aot REQUEST`) that rebuilds the
module's architecture from its config, so a build never holds the serving process's interpreter lock;
jobs keep running on the graph tier meanwhile. The package directory is the persisted cache: keep it
with the model cache, or bake it into the image.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.utils._pytree as pytree

log = logging.getLogger(__name__)

Attention = Literal["default", "cudnn"]


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
        # "_name_or_path" and the like name a file, not the architecture: packages are shared across files
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


@dataclass(frozen=True)
class BuildOptions:
    """Compile choices; part of every package's key."""

    attention: Attention = "default"
    max_autotune: bool = False


def package_name(recipe: Recipe, signature: str, options: BuildOptions, device: torch.device) -> str:
    target = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    facts = [asdict(recipe), signature, asdict(options), torch.__version__, target]
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]
    kind = recipe.cls.rpartition(".")[2] + (f"-{recipe.attr}" if recipe.attr else "")
    return f"{kind}-{digest}.pt2"


def weights_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's tensors by the names a package knows them under: LoRA adapters (peft) left out,
    peft's `base_layer` wrapper names unwrapped (a fused LoRA lives in the base weights)."""
    return {
        name.replace(".base_layer.", "."): tensor
        for name, tensor in module.state_dict(keep_vars=True).items()
        if "lora_" not in name
    }


def load(path: Path, module: torch.nn.Module) -> Any:
    """The package at `path` as a callable like `module.forward`, computing with `module`'s own tensors."""
    from torch._inductor import aoti_load_package

    compiled = aoti_load_package(str(path), run_single_threaded=True)
    weights = weights_of(module)
    needed = set(compiled.get_constant_fqns())
    # a weight the package does not ask for was baked into it: with another checkpoint it would be wrong
    if needed != set(weights):
        raise ValueError(f"{path.name} does not take this module's weights: {sorted(needed ^ set(weights))[:5]}")
    compiled.load_constants(
        {name: weights[name].detach() for name in needed}, check_full_update=True, user_managed=True
    )
    return compiled


class PackageSource:
    """One module's compiled forwards (see `graphs.CompiledSource`): packages in `directory`, looked up by
    the module's architecture and the call's signature, built by child processes when missing."""

    _building: dict[Path, threading.Lock] = {}
    _building_lock = threading.Lock()

    def __init__(self, module: torch.nn.Module, recipe: Recipe, options: BuildOptions, directory: Path) -> None:
        self._module = weakref.ref(module)
        self.recipe = recipe
        self.options = options
        self.directory = directory
        self.device = next(module.parameters()).device

    def path(self, signature: str) -> Path:
        return self.directory / package_name(self.recipe, signature, self.options, self.device)

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
        with lock:  # two modules of one architecture share the package: build it once
            if path.is_file():
                return
            rc = request_build(self.recipe, inputs, spec, self.options, path, self.device).wait()
            if rc != 0:
                raise RuntimeError(f"the package build exited with {rc}; see {path.with_suffix('.log')}")
            path.with_suffix(".request").unlink(missing_ok=True)


def request_build(
    recipe: Recipe, inputs: list[Any], spec: pytree.TreeSpec, options: BuildOptions, path: Path, device: torch.device
) -> subprocess.Popen[bytes]:
    """Start a child process that writes the package for `inputs` (flat, per `spec`) on `device` to `path`."""
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
    """The child's side: rebuild, export and compile; the package appears at its path only when whole."""
    from torch._inductor import aoti_compile_and_package

    request = torch.load(request_path, weights_only=False)
    recipe = Recipe(**request["recipe"])
    options = BuildOptions(**request["options"])
    device = torch.device(request["device"])
    inputs = [t.to(device) if isinstance(t, torch.Tensor) else t for t in request["inputs"]]
    args, kwargs = pytree.tree_unflatten(inputs, pytree.treespec_loads(request["spec"]))
    module = recipe.build(device)
    started = time.perf_counter()
    with torch.no_grad(), _attention(options.attention):
        program = torch.export.export(module, tuple(args), kwargs, strict=False)
    exported = time.perf_counter()
    path = Path(request["path"])
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        staged = Path(tmp) / path.name
        aoti_compile_and_package(
            program,
            package_path=str(staged),
            inductor_configs={
                "aot_inductor.package_constants_in_so": False,
                # small weights would otherwise be inlined into the kernels: the package must take them all
                "always_keep_tensor_constants": True,
                "conv_1x1_as_mm": True,
                "max_autotune": options.max_autotune,
            },
        )
        staged.replace(path)
    print(f"export {exported - started:.1f} s, compile {time.perf_counter() - exported:.1f} s: {path}", flush=True)
    return path


def _attention(choice: Attention) -> Any:
    """The SDPA kernels export may pick: cuDNN's first (Hopper), else PyTorch's own order."""
    import contextlib

    if choice == "default":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    return sdpa_kernel(order, set_priority=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build(Path(sys.argv[1]))
