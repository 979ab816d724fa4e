"""A local API Gateway (REST API, Lambda proxy integration) in front of the real authorizer and API handler.

Each HTTP request becomes the API Gateway REST proxy event the deployed API would send; the REQUEST
authorizer runs first on every route but `GET /ping`, and its answer is treated as API Gateway treats it:
no `x-api-key` -> 401 without calling it; "Unauthorized" raised -> 401; a policy that does not allow the
method ARN -> 403; an authorizer crash -> 500. The handler's proxy response is written back as is; a crash
or a malformed response is the 502 API Gateway gives. Authorizer results are not cached (TTL 0).

AWS's size limits hold here too: a body over 10 MB is API Gateway's 413, and so is an event over the 6 MB a
synchronous Lambda invocation takes. A method that the `ANY` method does not cover (TRACE, QUERY, ...) is
API Gateway's 403. Every answer the gateway gives itself is JSON `{"message", "field"}`, as the stack's
gateway responses make API Gateway answer (infrastructure/constructs/api.py).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sdcloud.local.http_server import BackgroundHTTPServer
from sdcloud.local.lambda_runtime import ACCOUNT, LambdaFunction

log = logging.getLogger(__name__)

API_ID = "local"
STAGE = "local"
API_KEY_HEADER = "x-api-key"
PUBLIC_ROUTES = {("GET", "/ping")}
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_EVENT_BYTES = 6 * 1024 * 1024  # a synchronous Lambda invocation's payload limit: the whole event as JSON
ANY_METHODS = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}  # what API Gateway's ANY covers
TOO_LONG = "Request Too Long: bodies over 6 MB cannot reach the API (send large payloads with payload_upload)"


class AuthorizerDenied(Exception):
    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


class ApiGateway:
    """Turns (method, path, headers, body) into proxy events and proxy responses back into HTTP answers."""

    def __init__(self, api: LambdaFunction, authorizer: LambdaFunction, region: str = "us-east-1") -> None:
        self.api, self.authorizer, self.region = api, authorizer, region

    def method_arn(self, method: str, path: str) -> str:
        return f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        answer_headers = {"x-amzn-RequestId": request_id}
        if method not in ANY_METHODS:
            return gateway_error(403, "Missing Authentication Token", "MissingAuthenticationTokenException",
                                 answer_headers)
        if len(body) > MAX_BODY_BYTES:
            return gateway_error(413, TOO_LONG, "RequestTooLarge", answer_headers)
        event = self.proxy_event(method, raw_path, headers, body, request_id, source_ip)
        if len(json.dumps(event)) > MAX_EVENT_BYTES:
            return gateway_error(413, TOO_LONG, "RequestTooLarge", answer_headers)
        path = event["path"]
        if (method, path) not in PUBLIC_ROUTES:
            try:
                event["requestContext"]["authorizer"] = self.authorize(event)
            except AuthorizerDenied as denied:
                return gateway_error(denied.status, denied.message, denied.error_type, answer_headers)
        started = time.monotonic()
        try:
            response = self.api.invoke(event)
            status = int(response["statusCode"])
            out_headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
            for name, values in (response.get("multiValueHeaders") or {}).items():
                out_headers[str(name)] = ", ".join(str(v) for v in values)
            payload = response.get("body") or ""
            data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        except Exception:
            log.exception("API handler failed for %s %s", method, path)
            return gateway_error(502, "Internal server error", "InternalServerErrorException", answer_headers)
        log.debug("%s %s -> %s in %.0f ms", method, path, status, (time.monotonic() - started) * 1000)
        return status, {**out_headers, **answer_headers}, data

    def proxy_event(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
                    request_id: str, source_ip: str) -> dict[str, Any]:
        split = urlsplit(raw_path)
        path = split.path or "/"
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        multi_query = parse_qs(split.query, keep_blank_values=True)
        try:
            text, is_base64 = body.decode(), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        now = datetime.now(UTC)
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": path.lstrip("/")} if path != "/" else None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": API_ID,
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": f"/{STAGE}{path}",
                "stage": STAGE,
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "identity": {"sourceIp": source_ip, "userAgent": multi_headers.get("User-Agent", [""])[-1]},
                "domainName": "127.0.0.1",
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }

    def authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the REQUEST authorizer; return the `requestContext.authorizer` object or raise AuthorizerDenied."""
        headers = {k.lower(): v for k, v in (event["headers"] or {}).items()}
        if not headers.get(API_KEY_HEADER):
            raise AuthorizerDenied(401, "Unauthorized", "UnauthorizedException")
        method_arn = self.method_arn(event["httpMethod"], event["path"])
        request = {"type": "REQUEST", "methodArn": method_arn,
                   **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                            "queryStringParameters", "multiValueQueryStringParameters",
                                            "pathParameters", "stageVariables", "requestContext")}}
        started = time.monotonic()
        try:
            result = self.authorizer.invoke(request)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise AuthorizerDenied(401, "Unauthorized", "UnauthorizedException") from exc
            log.exception("authorizer failed")
            raise AuthorizerDenied(500, "Internal server error", "AuthorizerConfigurationException") from exc
        try:
            effect = policy_effect(result["policyDocument"], method_arn)
            principal = result["principalId"]
        except (KeyError, TypeError) as exc:
            log.error("authorizer returned a malformed policy: %r", result)
            raise AuthorizerDenied(500, "Internal server error", "AuthorizerConfigurationException") from exc
        if effect == "Deny":
            raise AuthorizerDenied(403, "User is not authorized to access this resource with an explicit deny",
                                   "AccessDeniedException")
        if effect != "Allow":
            raise AuthorizerDenied(403, "User is not authorized to access this resource", "AccessDeniedException")
        context = {k: v for k, v in (result.get("context") or {}).items() if isinstance(v, str | int | float | bool)}
        latency = int((time.monotonic() - started) * 1000)
        return {**context, "principalId": principal, "integrationLatency": latency}


def policy_effect(policy: dict[str, Any], method_arn: str) -> str | None:
    """IAM evaluation for execute-api:Invoke on one ARN: an explicit Deny wins, then any Allow, else None."""
    statements = policy["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    effects = set()
    for statement in statements:
        actions = _as_list(statement.get("Action"))
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) or a == "*" for a in actions):
            continue
        if any(fnmatch.fnmatchcase(method_arn, resource) for resource in _as_list(statement.get("Resource"))):
            effects.add(statement["Effect"])
    if "Deny" in effects:
        return "Deny"
    return "Allow" if "Allow" in effects else None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def gateway_error(status: int, message: str, error_type: str,
                  headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """An answer API Gateway gives itself, in the API's error shape (the stack's gateway response templates)."""
    body = json.dumps({"message": message, "field": None}).encode()
    return status, {**headers, "Content-Type": "application/json", "x-amzn-ErrorType": error_type}, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayServer

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            status, headers, data = gateway_error(400, "Bad Request: invalid Content-Length", "BadRequestException", {})
        elif length > MAX_BODY_BYTES:
            self._discard(length)
            status, headers, data = gateway_error(413, TOO_LONG, "RequestTooLarge", {})
        else:
            body = self.rfile.read(length) if length else b""
            status, headers, data = self.server.gateway.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _discard(self, length: int) -> None:
        """Read a body too large to keep, so that the client can finish sending and read the answer."""
        while length > 0:
            chunk = self.rfile.read(min(length, 1024 * 1024))
            if not chunk:
                break
            length -= len(chunk)

    def __getattr__(self, name: str) -> Any:
        # http.server dispatches to do_<METHOD>; every method reaches the gateway, which answers as API Gateway.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)


class GatewayServer(BackgroundHTTPServer):
    allow_reuse_address = True

    def __init__(self, gateway: ApiGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        super().__init__(_Handler, host, port, "sdcloud-gateway")
