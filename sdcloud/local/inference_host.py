"""The real inference server (the container's FastAPI app), served over HTTP in this process.

SageMaker starts the container, waits for `GET /ping` to answer 200 and then POSTs each request to
`/invocations`; the host does the same on a loopback port. One host per device, loaded once and shared
by every local endpoint; requests to it are serialized as on one GPU instance.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvocationResult:
    status: int
    content_type: str
    body: bytes


class InferenceHost:
    def __init__(self, device: str, cache_dir: Path, s3_endpoint_url: str) -> None:
        self.device = device
        self.cache_dir = cache_dir
        self.s3_endpoint_url = s3_endpoint_url
        self.url = ""
        self.failure: str | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_lock = threading.Lock()
        self._invoke_lock = threading.Lock()
        self._http = requests.Session()

    def ensure_started(self) -> None:
        """Start the server in the background (once); `wait_ready` tells when it answers /ping."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=f"sdcloud-inference-{self.device}",
                                                daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        import uvicorn

        try:
            app = self._build_app()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
            self._server = uvicorn.Server(config)
            self._ready.set()
            self._server.run(sockets=[sock])
        except Exception as exc:
            log.exception("the inference server did not start")
            self.failure = f"the inference server did not start: {type(exc).__name__}: {exc}"
            self._ready.set()

    def _build_app(self) -> Any:
        create_app, InferenceSettings = _import_server()
        settings = InferenceSettings.model_validate(
            {"cache_dir": self.cache_dir, "device": self.device, "s3_endpoint_url": self.s3_endpoint_url})
        return create_app(settings)

    def wait_ready(self, timeout: float, stop: threading.Event | None = None) -> str | None:
        """Wait until /ping answers 200; return None when ready, else why not."""
        self.ensure_started()
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if self.failure:
                return self.failure
            if self.url:
                try:
                    ping = self._http.get(f"{self.url}/ping", timeout=5)
                except requests.RequestException:
                    ping = None
                if ping is not None and ping.status_code == 200:
                    return None
                if ping is not None and _json(ping).get("status") == "failed":
                    return f"the inference server failed to start: {_json(ping).get('error')}"
            time.sleep(0.2)
        return self.failure or f"the inference server did not answer /ping within {timeout:.0f}s"

    def invoke(self, body: bytes, content_type: str, accept: str, timeout: float) -> InvocationResult:
        with self._invoke_lock:
            response = self._http.post(f"{self.url}/invocations", data=body, timeout=timeout,
                                       headers={"Content-Type": content_type, "Accept": accept})
        return InvocationResult(response.status_code, response.headers.get("Content-Type", "application/json"),
                                response.content)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _import_server() -> tuple[Any, Any]:
    """The container's app factory and settings model (imported lazily: torch and diffusers are heavy)."""
    for attempt in range(3):
        try:
            from inference_image.server import create_app
            from inference_image.settings import InferenceSettings

            return create_app, InferenceSettings
        except RuntimeError as exc:
            # Another thread importing diffusers at the same moment can trip the import system's deadlock
            # detection (diffusers' lazy modules import each other); a second try finds the modules loaded.
            if type(exc).__name__ != "_DeadlockError" or attempt == 2:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def quiet_ml_libraries() -> None:
    """Keep a console session readable: no per-load progress bars or deprecation chatter from the ML stack."""
    import warnings

    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module="controlnet_aux|timm")
    for library in (diffusers_logging, transformers_logging):
        library.disable_progress_bar()
        library.set_verbosity_error()
