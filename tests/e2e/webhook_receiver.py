"""A real webhook receiver on the loopback: records every POST and answers with the next scripted status."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: str
    answered: int


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; then 204 for every later request
    received: list[Received] = field(default_factory=list)

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.answered < 300]


@contextmanager
def webhook_receiver(*statuses: int) -> Iterator[Receiver]:
    receiver = Receiver("", list(statuses))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            headers = {name.lower(): value for name, value in self.headers.items()}
            with lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                receiver.received.append(Received(self.path, headers, body, status))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sdcloud"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
