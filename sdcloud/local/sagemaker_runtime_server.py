"""The emulator's HTTP front, where boto3's `sagemaker-runtime` client is pointed: InvokeEndpointAsync
(POST /endpoints/{name}/async-invocations) answered as SageMaker does, 202 or its rest-json error."""

from __future__ import annotations

import json
import logging
import re
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from sdcloud.local.http_server import BackgroundHTTPServer
from sdcloud.local.sagemaker_async import AsyncInferenceEmulator, InvocationError

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/endpoints/([^/]+)/async-invocations$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AsyncInferenceServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        match = _PATH.match(self.path.split("?", 1)[0])
        try:
            if not match:
                raise InvocationError(f"unknown operation {self.command} {self.path}", 404, "UnknownOperationException")
            headers = {k.lower(): v for k, v in self.headers.items()}
            invocation = self.server.emulator.submit(match.group(1), headers, body)
        except InvocationError as exc:
            self._answer(exc.status, {"message": str(exc)}, {"x-amzn-ErrorType": exc.code})
            return
        except Exception as exc:
            log.exception("InvokeEndpointAsync failed")
            self._answer(500, {"message": str(exc)}, {"x-amzn-ErrorType": "InternalFailure"})
            return
        self._answer(202, {"InferenceId": invocation.inference_id, "OutputLocation": invocation.output_location,
                           "FailureLocation": invocation.failure_location},
                     {"X-Amzn-SageMaker-OutputLocation": invocation.output_location,
                      "X-Amzn-SageMaker-FailureLocation": invocation.failure_location})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json",
                            "x-amzn-RequestId": str(uuid.uuid4())}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sagemaker-runtime: " + format, *args)


class AsyncInferenceServer(BackgroundHTTPServer):
    def __init__(self, emulator: AsyncInferenceEmulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        super().__init__(_Handler, host, port, "sdcloud-sagemaker-runtime")

    def stop(self) -> None:
        super().stop()
        self.emulator.stop()

