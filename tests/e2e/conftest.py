"""End-to-end fixtures: a real local stack per test module, reached over HTTP only.

The stack is module-scoped on purpose: it sets this process's AWS environment and runs poller threads
against moto's process-wide backends, so it must be gone before the in-process moto tests run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ENDPOINT, MODEL_TYPES, Api, poll, upload_over_http

from sdcloud.local.stack import LocalStack


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from sdcloud_tools.sample_models import write_sample_models

    return write_sample_models(tmp_path_factory.mktemp("sample-models"))


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, device="cpu", sweep_interval=5.0) as stack:
        yield stack


@pytest.fixture(scope="module")
def admin(local_stack: LocalStack) -> Api:
    return Api(local_stack.api_url, local_stack.api_key)


@pytest.fixture(scope="module")
def user(admin: Api) -> Api:
    created = admin.ok("POST", "/users", 201, json={"name": "alice", "role": "user"})
    return Api(admin.url, created["api_key"])


@pytest.fixture(scope="module")
def models(user: Api, sample_models: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Every sample model uploaded by the user, keyed by sample kind; `parts` says how many parts it took."""
    uploaded = {}
    for kind, path in sample_models.items():
        model, parts = upload_over_http(user, path, path.stem, MODEL_TYPES[kind])
        uploaded[kind] = {**model, "parts": parts}
    return uploaded


@pytest.fixture(scope="module")
def endpoint(admin: Api) -> str:
    created = admin.ok("POST", "/endpoints", 202, json={"name": ENDPOINT, "instance_type": "ml.g5.xlarge",
                                                         "min_instances": 0, "max_instances": 1})
    assert created["endpoint"]["status"] == "Creating"
    ready = poll(lambda: admin.ok("GET", f"/endpoints/{ENDPOINT}")["endpoint"],
                 lambda e: e["status"] != "Creating", timeout=300)
    assert ready["status"] == "InService", ready
    return ENDPOINT
