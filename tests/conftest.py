"""Shared fixtures: a fresh moto account with the stack's resources, and settings pointing at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sdcloud.local.resources import LocalResources

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sdcloud-tests")


def _botocore_reads_each_model_once() -> None:
    """botocore's loader keeps what it read per session, and the code under test makes a session per client
    (as a Lambda does once per cold start): each test read the service models again, a third of an API test's
    time. They do not change, so the test process reads each once."""
    try:
        from botocore.loaders import Loader
    except ImportError:  # the WebUI's venv runs the client and panel tests without botocore
        return
    read: dict[tuple[Any, ...], Any] = {}

    def once(name: str) -> Any:
        original = getattr(Loader, name)

        def shared(self: Any, *args: Any, **kwargs: Any) -> Any:
            key = (name, tuple(self.search_paths), args, tuple(sorted(kwargs.items())))
            if key not in read:
                read[key] = original(self, *args, **kwargs)
            return read[key]

        return shared

    for name in ("load_service_model", "load_data_with_path", "list_available_services", "determine_latest_version"):
        setattr(Loader, name, once(name))


_botocore_reads_each_model_once()


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
