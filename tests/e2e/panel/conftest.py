"""The browser journey's fixtures: the local stack with models, endpoint and an older job; the standalone
panel served by a given Python (the shared venv's current gradio, or `.venv-webui` with the WebUI's
pins) pointed at it; and Debian chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sdcloud_client import SdCloudClient

ROOT = Path(__file__).resolve().parents[3]
WEBUI_PYTHON = ROOT / ".venv-webui" / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"
EXPECT_TIMEOUT_MS = 30_000  # what expect() waits for unless told
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class Stack:
    api_url: str
    api_key: str
    user: SdCloudClient
    endpoint: str
    names: dict[str, str]  # sample kind -> registered model name
    older_job_id: str

    def job_count(self) -> int:
        return len(self.user.list_inferences(limit=100)["inferences"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def stack(local_stack: Any, user: Any, models: dict[str, dict[str, Any]], endpoint: str) -> Stack:
    """The local stack (tests/e2e/conftest.py) with the sample models uploaded by a user, an InService
    endpoint, and one finished older job of that user."""
    client = SdCloudClient(local_stack.api_url, user.key)
    names = {kind: str(model["name"]) for kind, model in models.items()}
    older = client.create_inference(
        endpoint,
        "txt2img",
        {
            "prompt": "an older lighthouse",
            "seed": 3,
            "steps": 2,
            "width": 64,
            "height": 64,
            "override_settings": {"sd_model_checkpoint": names["checkpoint"]},
        },
    )
    done = client.wait_inference(older["id"], poll_interval=0.3, timeout=300)
    assert done["status"] == "succeeded", done
    return Stack(local_stack.api_url, user.key, client, endpoint, names, older["id"])


@dataclass
class Served:
    url: str
    flavor: str


@pytest.fixture(scope="module", params=["current-gradio", "webui-gradio-3.41.2"])
def panel(request: pytest.FixtureRequest, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`sdcloud_panel.standalone.launch` served by the shared venv (current gradio) or `.venv-webui`."""
    python = sys.executable if request.param == "current-gradio" else str(WEBUI_PYTHON)
    if not Path(python).exists():
        pytest.fail(f"{python} is missing: `make .venv-webui` builds it (make test does)")
    port = _free_port()
    settings = tmp_path_factory.mktemp("panel") / "panel.json"
    code = (
        "from pathlib import Path; from sdcloud_panel.standalone import launch; "
        f"launch(port={port}, api_url={stack.api_url!r}, api_key={stack.api_key!r}, "
        f"settings_file=Path({str(settings)!r}))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "XDG_CACHE_HOME": str(settings.parent / "cache"),
    }
    log = open(settings.parent / "panel.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([python, "-c", code], cwd=settings.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_served(url, process, settings.parent / "panel.log")
        yield Served(url, request.param)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_served(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the panel exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the panel did not answer within 90s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    # Page updates wait on the local stack, which shares two cores with the whole suite: 5 s is too short there
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
