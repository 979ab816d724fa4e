"""Fixtures of the API tests: a gateway that runs the real authorizer and handler, users, models, an endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from gateway_events import Gateway, upload_parts


@pytest.fixture
def gateway(aws: Any) -> Gateway:
    return Gateway()


@pytest.fixture
def admin_key(aws: Any) -> str:
    """Given the first admin, created the way the local stack does."""
    from lambdas.bootstrap_admin import create_local_admin

    return create_local_admin()


@pytest.fixture
def user_key(gateway: Gateway, admin_key: str) -> str:
    """Given a plain user 'alice' created by the admin."""
    reply = gateway.post("/users", key=admin_key, json_body={"name": "alice", "role": "user"})
    assert reply.status == 201, reply.body
    return str(reply.body["api_key"])


@pytest.fixture
def other_key(gateway: Gateway, admin_key: str) -> str:
    """Given a second plain user 'bob'."""
    reply = gateway.post("/users", key=admin_key, json_body={"name": "bob"})
    assert reply.status == 201, reply.body
    return str(reply.body["api_key"])


@dataclass
class Call:
    operation: str  # e.g. 'DynamoDB.Query'
    params: dict[str, Any]


@pytest.fixture
def api_calls() -> Iterator[list[Call]]:
    """Every AWS API call made while the test runs, in order."""
    from botocore.client import BaseClient

    calls: list[Call] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)

    def record(self: Any, operation_name: str, api_params: Any) -> Any:
        calls.append(Call(f"{self.meta.service_model.service_id}.{operation_name}", dict(api_params)))
        return original(self, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", record)
        yield calls


@pytest.fixture
def ready_model(gateway: Gateway, admin_key: str) -> Any:
    """A factory: register, upload and complete a model through the API; returns the model."""

    def make(name: str, model_type: str, data: bytes = b"weights", filename: str | None = None) -> dict[str, Any]:
        body = {"name": name, "type": model_type, "filename": filename or f"{name}.safetensors",
                "size_bytes": len(data)}
        created = gateway.post("/models", key=admin_key, json_body=body)
        assert created.status == 201, created.body
        parts = upload_parts(created.body["upload"], data)
        done = gateway.post(f"/models/{created.body['model']['id']}/complete", key=admin_key,
                            json_body={"parts": parts})
        assert done.status == 200, done.body
        return dict(done.body["model"])

    return make


@pytest.fixture
def endpoint(gateway: Gateway, admin_key: str) -> str:
    """An endpoint 'sd' that the endpoint-events handler has seen reach InService."""
    from lambdas.data.endpoints import set_status
    from sdcloud.local.moto_patches import allow_gpu_instance_types

    allow_gpu_instance_types()
    reply = gateway.post("/endpoints", key=admin_key, json_body={"name": "sd", "instance_type": "ml.g5.xlarge"})
    assert reply.status == 202, reply.body
    assert set_status("sdcloud-sd", "InService")  # what the endpoint-events handler does
    return "sd"
