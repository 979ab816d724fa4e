"""Shared fixtures: a fresh moto account with the stack's resources, and settings pointing at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sdcloud.local.resources import LocalResources

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sdcloud-tests")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    """Given a fresh moto account holding the bucket, tables, topics and queue, with settings in the env."""
    from moto import mock_aws

    from lambdas.data.aws import reset_clients
    from sdcloud.local.resources import provision

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        resources = provision()
        for name, value in resources.settings.to_env().items():
            monkeypatch.setenv(name, value)
        reset_clients()
        yield resources
        reset_clients()
