"""Loaded pipelines, ControlNets and annotators kept on the device within a memory budget (LRU)."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import torch


def module_bytes(obj: Any) -> int:
    """Parameter + buffer bytes of a torch module or a diffusers pipeline (its modules summed)."""
    modules: list[torch.nn.Module] = []
    if isinstance(obj, torch.nn.Module):
        modules = [obj]
    elif hasattr(obj, "components"):
        modules = [m for m in obj.components.values() if isinstance(m, torch.nn.Module)]
    else:
        modules = [m for m in vars(obj).values() if isinstance(m, torch.nn.Module)]
    return sum(t.numel() * t.element_size() for m in modules for t in (*m.parameters(), *m.buffers()))


class ModelPool:
    """get(key, load) returns the cached object or loads it, evicting the least recently used first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.loads = 0  # objects loaded since start (observability and tests)

    def get(
        self, key: Hashable, load: Callable[[], Any], estimate: int = 0, pinned: set[Hashable] | None = None
    ) -> Any:
        """`estimate` (e.g. the file size) makes room before loading, so that the peak stays in budget."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key][0]
        keep = (pinned or set()) | {key}
        self._evict(estimate, keep)
        obj = load()
        size = module_bytes(obj)
        self._evict(size, keep)
        self._items[key] = (obj, size)
        self.loads += 1
        return obj

    def _evict(self, incoming: int, keep: set[Hashable]) -> None:
        used = sum(size for _, size in self._items.values())
        for key in list(self._items):
            if used + incoming <= self.budget:
                break
            if key in keep:
                continue
            used -= self._items.pop(key)[1]
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def keys(self) -> list[Hashable]:
        return list(self._items)

    def used_bytes(self) -> int:
        return sum(size for _, size in self._items.values())
