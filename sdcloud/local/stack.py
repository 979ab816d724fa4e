"""`LocalStack`: the whole system in one process, no AWS account needed.

    with LocalStack(port=0, device="cpu") as stack:
        requests.get(f"{stack.api_url}/users", headers={"x-api-key": stack.api_key})

moto's server plays S3, DynamoDB, SNS, SQS and the SageMaker control plane (with the stack's resources,
provisioned from the shared specs); an API Gateway emulation runs the real authorizer and API handler; a
SageMaker async emulator runs the real inference server; pollers run the real notifier, endpoint-events and
sweeper handlers. The handlers read their settings from the environment (`Settings.to_env()`) and reach
moto through `AWS_ENDPOINT_URL`, so the stack sets this process's environment while it runs and puts the
previous values back on `stop()`; one stack per process at a time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from lambdas.functions import LOCAL_FUNCTIONS, WEBHOOK_BATCH_SIZE, WEBHOOK_DELIVERY
from sdcloud.local.gateway import ApiGateway, GatewayServer
from sdcloud.local.inference_host import InferenceHost
from sdcloud.local.lambda_runtime import LambdaFunction
from sdcloud.local.moto_patches import (
    allow_gpu_instance_types,
    s3_puts_take_any_content_type,
    s3_ranged_gets_read_their_range,
)
from sdcloud.local.pollers import EndpointWatcher, QueuePoller, Schedule
from sdcloud.local.resources import LocalResources, provision
from sdcloud.local.sagemaker_async import AsyncInferenceEmulator
from sdcloud.local.sagemaker_runtime_server import AsyncInferenceServer

log = logging.getLogger(__name__)

REGION = "us-east-1"
PREFIX = "sdcloud"
LOCAL_CONFIG = Path(".sdcloud") / "local.json"
# The handlers' and ML libraries' own logs: quiet by default locally (set these variables to see more).
# Webhooks: the local stack also POSTs to http://127.0.0.1, and retries a failed delivery after 1 s, 2 s, 4 s...
WEBHOOK_SETTINGS = {"webhook_allow_loopback": True, "webhook_retry_seconds": 1}
LOG_DEFAULTS = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_SERVICE_NAME": "sdcloud-local",
                "DIFFUSERS_VERBOSITY": "error", "TRANSFORMERS_VERBOSITY": "error"}

_active_lock = threading.Lock()


class LocalStack:
    """Start with `start()` or `with`; `api_url` and `api_key` (the admin's) are set once started."""

    def __init__(self, port: int = 0, device: str = "cpu", workdir: Path | None = None,
                 sweep_interval: float = 60.0, config_path: Path | None = None) -> None:
        self.port = port
        self.device = device
        self.sweep_interval = sweep_interval
        self.config_path = config_path
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sdcloud-local-"))
        self.api_url = ""
        self.api_key = ""
        self.moto_url = ""
        self.sagemaker_runtime_url = ""
        self.resources: LocalResources | None = None
        self.functions = {spec.name: LambdaFunction(spec.name, spec.handler, spec.timeout_s, REGION, spec.memory_mb)
                          for spec in LOCAL_FUNCTIONS}
        self._host: InferenceHost | None = None
        self._host_lock = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        self._stoppers: list[Any] = []
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if not _active_lock.acquire(blocking=False):
            raise RuntimeError("another LocalStack is running in this process (they share os.environ)")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        allow_gpu_instance_types()
        s3_puts_take_any_content_type()
        s3_ranged_gets_read_their_range()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        self._stoppers.append(moto)
        host, port = moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self._set_env({
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_PROFILE": None,
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            **{name: os.environ.get(name, default) for name, default in LOG_DEFAULTS.items()},
        })
        # moto's backends are process-global: start from an empty account even after an earlier stack.
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        self.resources = provision(prefix=PREFIX, region=REGION, **WEBHOOK_SETTINGS)

        emulator = AsyncInferenceServer(AsyncInferenceEmulator(self.inference_host, REGION))
        emulator.start()
        self._stoppers.append(emulator)
        self.sagemaker_runtime_url = emulator.url
        self._set_env({"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.url, **self.resources.settings.to_env()})
        _reset_handler_caches()

        from lambdas.bootstrap_admin import create_local_admin

        self.api_key = create_local_admin()

        gateway = GatewayServer(ApiGateway(self.functions["api"], self.functions["authorizer"], REGION),
                                port=self.port)
        gateway.start()
        self._stoppers.append(gateway)
        self.api_url = gateway.url

        for loop in (
            QueuePoller(self.functions["notifier"], self.resources.queue_url, REGION),
            QueuePoller(self.functions[WEBHOOK_DELIVERY.name], self.resources.webhook_queue_url, REGION,
                        batch_size=WEBHOOK_BATCH_SIZE, retry_visibility_s=None),
            EndpointWatcher(self.functions["endpoint-events"], self.inference_host, REGION),
            Schedule(self.functions["sweeper"], f"{PREFIX}-sweeper", REGION, self.sweep_interval),
        ):
            loop.start()
            self._stoppers.append(loop)
        if self.config_path:
            self.write_config(self.config_path)
        log.info("local stack ready at %s (moto %s, sagemaker-runtime %s)", self.api_url, self.moto_url,
                 self.sagemaker_runtime_url)

    def inference_host(self) -> InferenceHost:
        """The one inference server of this stack's device, started on first use (endpoint creation)."""
        with self._host_lock:
            if self._host is None:
                self._host = InferenceHost(self.device, self.workdir / "model-cache", self.moto_url)
                self._stoppers.insert(0, self._host)
                self._host.ensure_started()
            return self._host

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for part in reversed(self._stoppers):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)
        self._stoppers.clear()
        self._restore_env()
        _reset_handler_caches()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _active_lock.release()

    # --- helpers -------------------------------------------------------------------------------
    @property
    def settings(self) -> Any:
        assert self.resources is not None, "start the stack first"
        return self.resources.settings

    def write_config(self, path: Path) -> None:
        """Write `{api_url, api_key}` where the client core looks for it (`.sdcloud/local.json`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"api_url": self.api_url, "api_key": self.api_key}, indent=2) + "\n")
        path.chmod(0o600)

    def _set_env(self, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()


def _reset_handler_caches() -> None:
    """The handlers cache their settings and boto3 clients per process; a new stack means new ones."""
    from lambdas.data.aws import reset_clients

    reset_clients()
