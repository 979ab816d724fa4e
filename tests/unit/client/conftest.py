from collections.abc import Iterator

import pytest

from sdcloud_client import SdCloudClient
from tests.unit.client.fake_api import ADMIN_KEY, FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi(finish_after=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def admin(api: FakeApi) -> SdCloudClient:
    return SdCloudClient(api.url, ADMIN_KEY, timeout=5)
