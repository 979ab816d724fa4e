"""The disk cache of model files: ranged parallel download, size check, reuse, LRU eviction."""

from __future__ import annotations

import os
from typing import Any

import pytest

from api_schema.jobs import ModelRef
from inference_image.errors import ModelLoadError
from inference_image.model_store import ModelStore
from tests.integration.inference.helpers import BUCKET

MB = 1024**2


def put(s3: Any, name: str, size: int) -> ModelRef:
    key = f"models/lora/{name}/{name}.safetensors"
    s3.put_object(Bucket=BUCKET, Key=key, Body=os.urandom(size))
    return ModelRef(
        id=name, name=name, type="lora", filename=f"{name}.safetensors", bucket=BUCKET, key=key, size_bytes=size
    )


def test_large_files_are_fetched_with_parallel_ranged_reads(s3, tmp_path):
    ranges: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params.get("Range"))
    )
    store = ModelStore(s3, tmp_path, budget_bytes=100 * MB, concurrency=4, part_size=5 * MB)
    ref = put(s3, "big", 12 * MB)
    path = store.fetch(ref)
    assert path.stat().st_size == 12 * MB
    assert len([r for r in ranges if r and r.startswith("bytes=")]) == 3


def test_cached_files_are_reused(s3, tmp_path):
    store = ModelStore(s3, tmp_path, budget_bytes=10 * MB)
    ref = put(s3, "reused", MB)
    assert store.fetch(ref) == store.fetch(ref)
    assert store.downloads == 1


def test_least_recently_used_files_are_evicted_at_the_budget(s3, tmp_path):
    store = ModelStore(s3, tmp_path, budget_bytes=3 * MB)
    a, b, c = (put(s3, name, MB + MB // 2) for name in ("a", "b", "c"))
    path_a = store.fetch(a)
    path_b = store.fetch(b)
    os.utime(path_a, (1, 1))  # a is the oldest
    os.utime(path_b, (2, 2))
    store.fetch(b)  # touching b makes it recent again
    path_c = store.fetch(c)
    assert not path_a.exists()
    assert path_b.exists() and path_c.exists()
    assert store.used_bytes() <= 3 * MB


def test_files_of_the_running_job_are_not_evicted(s3, tmp_path):
    store = ModelStore(s3, tmp_path, budget_bytes=3 * MB)
    a, b = put(s3, "pin-a", 2 * MB), put(s3, "pin-b", 2 * MB)
    pinned = {store.fetch(a)}
    with pytest.raises(ModelLoadError, match="do not fit the disk cache budget together"):
        store.fetch(b, pinned=pinned)


def test_a_file_over_the_budget_is_refused(s3, tmp_path):
    store = ModelStore(s3, tmp_path, budget_bytes=MB)
    with pytest.raises(ModelLoadError, match="exceeds the disk cache budget"):
        store.fetch(put(s3, "huge", 2 * MB))
