"""A call's signature and the static buffers its graph reads (`graphs.GraphedForward`).

The signature of a call is its pytree structure with, per leaf, a tensor's shape, dtype, device and
`requires_grad` or a plain value itself; float keyword arguments named as scalars are fed to the graph as
0-dim tensors instead, so that changing them needs no new graph. One `Entry` per signature holds the
static input buffers the graph was captured on; each call copies its inputs into them (`fill`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.utils._pytree as pytree

if TYPE_CHECKING:
    from inference_image.fast.graphs import Fn, Graph


@dataclass(frozen=True)
class Scalar:
    value: float


def leaf_key(leaf: Any) -> Hashable:
    if isinstance(leaf, torch.Tensor):
        return ("tensor", tuple(leaf.shape), leaf.dtype, leaf.device, leaf.requires_grad)
    if leaf is None or isinstance(leaf, (bool, int, float, str)):
        return ("value", type(leaf), leaf)
    raise TypeError(f"cannot key a graph on an argument of type {type(leaf).__name__}")


def flatten_call(
    args: tuple, kwargs: dict, scalar_kwargs: tuple[str, ...]
) -> tuple[list[Any], pytree.TreeSpec, Hashable, set[int]]:
    """The call's leaves, their structure, its signature and which leaves are scalars fed as tensors."""
    kwargs = {
        name: Scalar(float(value))
        if name in scalar_kwargs and isinstance(value, (int, float)) and not isinstance(value, bool)
        else value
        for name, value in kwargs.items()
    }
    flat, spec = pytree.tree_flatten((args, kwargs))
    scalar_slots = {i for i, leaf in enumerate(flat) if isinstance(leaf, Scalar)}
    key = (spec, tuple(("scalar",) if i in scalar_slots else leaf_key(x) for i, x in enumerate(flat)))
    return flat, spec, key, scalar_slots


@dataclass
class Entry:
    """One signature: its static input buffers, the graph (None until captured) and its tier."""

    signature: str
    static_inputs: list[Any]
    tensor_slots: list[int]
    scalar_slots: list[int]
    spec: pytree.TreeSpec
    out_spec: pytree.TreeSpec | None = None
    graph: Graph | None = None
    compiled: bool = False
    compiled_fn: Fn | None = None
    compile_state: str = "none"  # none | running | ready | failed
    # the inputs a build traces with, copied to the host here: a build thread must not touch the GPU
    example: list[Any] | None = None
    calls: int = 0
    error: str | None = None


def new_entry(
    signature: str, flat: list[Any], spec: pytree.TreeSpec, scalar_slots: set[int], device: torch.device
) -> Entry:
    """An entry whose static buffers have the shapes of `flat` (their contents are filled per call)."""
    static: list[Any] = []
    tensor_slots: list[int] = []
    for i, leaf in enumerate(flat):
        if i in scalar_slots:
            static.append(torch.zeros((), dtype=torch.float32, device=device))
        elif isinstance(leaf, torch.Tensor):
            static.append(torch.empty_like(leaf))
            tensor_slots.append(i)
        else:
            static.append(leaf)
    return Entry(signature, static, tensor_slots, sorted(scalar_slots), spec)


def fill(entry: Entry, flat: list[Any]) -> None:
    """Copy a call's inputs into the entry's static buffers."""
    for i in entry.tensor_slots:
        entry.static_inputs[i].copy_(flat[i])
    for i in entry.scalar_slots:
        entry.static_inputs[i].fill_(flat[i].value)
