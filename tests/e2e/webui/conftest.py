"""The real AUTOMATIC1111 WebUI v1.10.1 with the extension installed as its README tells a user (a link in
`extensions/`, `install.py` run by the launcher), without and with sd-webui-controlnet v1.1.455.

`make webui-real` builds what this needs: the sources under build/webui and their venv .venv-webui-real
(tests/e2e/webui/build_real_webui.sh). Each setup starts once per test module, in a data directory of
its own (`--data-dir`: config.json, ui-config.json, outputs/, extensions/), against the local stack of
tests/e2e/panel/conftest.py (module-scoped as well, so one stack serves both setups).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.panel.conftest import CHROMIUM, _free_port, browser, stack  # noqa: F401 - fixtures used here

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "build" / "webui"
WEBUI = BUILD / "stable-diffusion-webui"
CONTROLNET = BUILD / "sd-webui-controlnet"
PYTHON = ROOT / ".venv-webui-real" / "bin" / "python"
DIST = "sd-cloud-webui"  # what webui_extension/install.py installs
FLAGS = [
    "--skip-torch-cuda-test",
    "--no-download-sd-model",
    "--use-cpu",
    "all",
    "--no-half",
    "--precision",
    "full",
    "--skip-version-check",
]
# The launcher's repositories, checked by commit (build_real_webui.sh made each a one-commit repository).
REPOSITORY_HASHES = {
    "STABLE_DIFFUSION_COMMIT_HASH": "stable-diffusion-stability-ai",
    "STABLE_DIFFUSION_XL_COMMIT_HASH": "generative-models",
    "K_DIFFUSION_COMMIT_HASH": "k-diffusion",
    "BLIP_COMMIT_HASH": "BLIP",
    "ASSETS_COMMIT_HASH": "stable-diffusion-webui-assets",
}
# sd-webui-controlnet's installer tries four wheels from a code host; offline each fails only after pip's
# retries. A path that does not exist fails at once, and that extension loads without them all the same.
CONTROLNET_WHEELS = ("HANDREFINER_WHEEL", "DEPTH_ANYTHING_WHEEL", "DEPTH_ANYTHING_V2_WHEEL", "DSINE_WHEEL")
START_TIMEOUT = 420


@dataclass
class WebUI:
    """One running WebUI: its URL, data directory and log; what pip held before and after its start."""

    controlnet: bool
    data: Path
    url: str = ""
    log: Path = Path()
    freeze_before: list[str] = field(default_factory=list)
    check_before: str = ""
    process: subprocess.Popen | None = None

    @property
    def setup(self) -> str:
        return "with-controlnet" if self.controlnet else "plain"

    def start(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.log = self.data / f"webui-{port}.log"
        env = {
            **os.environ,
            **{name: _head(WEBUI / "repositories" / repo) for name, repo in REPOSITORY_HASHES.items()},
            **{name: str(self.data / "no-such-wheel.whl") for name in CONTROLNET_WHEELS},
            "CLIP_PACKAGE": "openai-clip",
            "PIP_RETRIES": "0",
            "XDG_CONFIG_HOME": str(self.data / "user-config"),  # where the extension keeps its settings
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONPATH": "",
        }
        env.pop("VIRTUAL_ENV", None)
        command = [str(PYTHON), "launch.py", *FLAGS, "--port", str(port), "--data-dir", str(self.data)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, cwd=WEBUI, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_served()

    def _wait_until_served(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the WebUI exited: {self.log_text()[-4000:]}")
            if "Startup time:" in self.log_text():
                try:
                    if requests.get(self.url, timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(1)
        raise AssertionError(f"the WebUI did not start within {START_TIMEOUT}s: {self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _head(repository: Path) -> str:
    return subprocess.check_output(["git", "-C", str(repository), "rev-parse", "HEAD"], text=True).strip()


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PYTHON), "-m", "pip", *args], capture_output=True, text=True, check=False)


def freeze() -> list[str]:
    return sorted(pip("freeze", "--all").stdout.splitlines())


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "with-controlnet"])
def webui(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebUI]:
    """The real WebUI, started by its launcher with the extension linked into `extensions/` as a user
    would (and sd-webui-controlnet beside it in the second setup). The extension's package is removed
    from the venv first, so that each session sees install.py install it as on a user's first start."""
    if not PYTHON.exists() or not (WEBUI / "launch.py").exists():
        pytest.fail("the real WebUI is missing: `make webui-real` builds it (make test does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian chromium")
    webui = WebUI(controlnet=request.param, data=tmp_path_factory.mktemp(f"webui-{request.param}"))
    extensions = webui.data / "extensions"
    extensions.mkdir()
    (extensions / "sd-cloud").symlink_to(ROOT / "webui_extension")
    if webui.controlnet:
        (extensions / "sd-webui-controlnet").symlink_to(CONTROLNET)
    pip("uninstall", "-y", DIST)
    webui.freeze_before, webui.check_before = freeze(), pip("check").stdout
    webui.start()
    yield webui
    webui.stop()
