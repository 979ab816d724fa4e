"""Run the real Lambda handlers in-process, one invocation at a time per function, as Lambda does.

Lambda gives each execution environment one event at a time; handlers (and powertools' resolver, which
keeps the current event on a module-level object) rely on that, so every function here holds a lock
while it runs. Concurrency across functions is kept: the API, the notifier and the sweeper run in parallel.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and powertools read."""

    function_name: str
    timeout_s: float
    region: str = "us-east-1"
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class LambdaFunction:
    """A handler given by its dotted path (`lambdas.api.app.handler`, imported on first use) or as a callable."""

    def __init__(self, name: str, handler: str | Handler, timeout_s: float = 30.0, region: str = "us-east-1",
                 memory_mb: int = 1024) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.region = region
        self._lock = threading.Lock()
        self.handler_path = handler if isinstance(handler, str) else ""
        self._handler: Handler | None = None if isinstance(handler, str) else handler

    def _load(self) -> Handler:
        if self._handler is None:
            module_name, _, attribute = self.handler_path.rpartition(".")
            self._handler = getattr(importlib.import_module(module_name), attribute)
        return self._handler

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            handler = self._load()
            return handler(event, LambdaContext(self.name, self.timeout_s, self.region, self.memory_mb))
