"""The first admin key: from a Secrets Manager secret on AWS (custom resource), generated locally."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest

from lambdas.logic.users import authenticate


@pytest.fixture
def cloudformation():
    """A local HTTP server standing in for CloudFormation's pre-signed response URL."""
    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_PUT(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", received
    server.shutdown()
    server.server_close()


def custom_resource_event(url: str, request_type: str = "Create") -> dict:
    return {"RequestType": request_type, "ResponseURL": url, "StackId": "stack", "RequestId": "r1",
            "LogicalResourceId": "BootstrapAdmin", "ResourceProperties": {}}


KEY = "sdc_a-very-long-admin-key-1234"


@pytest.mark.parametrize("secret", [KEY, json.dumps({"api_key": KEY})])
def test_custom_resource_writes_the_admin_from_the_secret(aws, monkeypatch, cloudformation, secret):
    from lambdas.bootstrap_admin import handler
    from lambdas.data.aws import reset_clients

    url, received = cloudformation
    arn = boto3.client("secretsmanager").create_secret(Name="admin-key", SecretString=secret)["ARN"]
    monkeypatch.setenv("SDCLOUD_ADMIN_SECRET_ARN", arn)
    reset_clients()

    handler(custom_resource_event(url), None)

    assert received[0]["Status"] == "SUCCESS"
    caller = authenticate(KEY)
    assert caller is not None and caller.name == "admin" and caller.is_admin


def test_custom_resource_reports_failure_instead_of_hanging(aws, monkeypatch, cloudformation):
    from lambdas.bootstrap_admin import handler
    from lambdas.data.aws import reset_clients

    url, received = cloudformation
    monkeypatch.setenv("SDCLOUD_ADMIN_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    reset_clients()

    handler(custom_resource_event(url), None)

    assert received[0]["Status"] == "FAILED" and "ResourceNotFound" in received[0]["Reason"]


def test_the_local_stack_gets_a_fresh_admin_key(aws):
    from lambdas.bootstrap_admin import create_local_admin

    key = create_local_admin()

    caller = authenticate(key)
    assert caller is not None and caller.name == "admin" and caller.role == "admin"
    assert authenticate(create_local_admin()) is not None
    assert authenticate(key) is None  # re-keying replaces the old key
