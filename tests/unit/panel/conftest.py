from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcloud_client import SdCloudClient
from sdcloud_panel.service import PanelService
from sdcloud_panel.settings import PanelSettings, SettingsStore
from tests.unit.client.fake_api import ADMIN_KEY, FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi(finish_after=0.1).start()
    server.add_endpoint("ep-ready", "InService")
    server.add_endpoint("ep-creating", "Creating")
    for name, type in [
        ("tiny-sd", "checkpoint"),
        ("tiny-vae", "vae"),
        ("tiny-lora", "lora"),
        ("tiny-canny", "controlnet"),
    ]:
        server.add_model(name, type)
    yield server
    server.stop()


@pytest.fixture
def user_key(api: FakeApi) -> str:
    return str(SdCloudClient(api.url, ADMIN_KEY).create_user("panel-user")["api_key"])


@pytest.fixture
def service(api: FakeApi, user_key: str, tmp_path: Path) -> PanelService:
    return PanelService(SettingsStore(tmp_path / "panel.json", PanelSettings(api.url, user_key)))


@pytest.fixture(autouse=True)
def upload_state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
