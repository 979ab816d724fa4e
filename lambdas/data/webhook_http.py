"""POST to a webhook receiver, connected to the address the URL check accepted rather than to a fresh DNS answer
(so a host re-pointed at an internal address between the check and the request reaches nothing). TLS still
verifies the certificate against the URL's host name; redirects are not followed."""

from __future__ import annotations

import http.client
import socket
import ssl

MAX_ANSWER_BYTES = 64 * 1024  # what is read of the receiver's answer: only its status matters


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(*, scheme: str, host: str, port: int, address: str, path: str, body: bytes, headers: dict[str, str],
         timeout: float) -> int:
    """The receiver's HTTP status; OSError (including timeouts and TLS errors) when it could not be reached."""
    kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address, timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        return answer.status
    except http.client.HTTPException as exc:
        raise OSError(f"the receiver's answer is not HTTP: {exc!r}") from exc
    finally:
        connection.close()
