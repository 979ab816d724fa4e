"""The first admin key: from a Secrets Manager secret on AWS (custom resource), generated locally."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from lambdas.logic.users import authenticate


def custom_resource_event(request_type: str = "Create") -> dict:
    return {"RequestType": request_type, "StackId": "stack", "RequestId": "r1",
            "LogicalResourceId": "BootstrapAdmin", "ResourceProperties": {}}


KEY = "sdc_a-very-long-admin-key-1234"


@pytest.mark.parametrize("secret", [KEY, json.dumps({"api_key": KEY})])
def test_custom_resource_writes_the_admin_from_the_secret(aws, monkeypatch, secret):
    from lambdas.bootstrap_admin import handler
    from lambdas.data.aws import reset_clients

    arn = boto3.client("secretsmanager").create_secret(Name="admin-key", SecretString=secret)["ARN"]
    monkeypatch.setenv("SDCLOUD_ADMIN_SECRET_ARN", arn)
    reset_clients()

    response = handler(custom_resource_event(), None)

    assert response["PhysicalResourceId"] == "sdcloud-user-admin"
    caller = authenticate(KEY)
    assert caller is not None and caller.name == "admin" and caller.is_admin


def test_a_missing_secret_raises_so_the_provider_reports_failed(aws, monkeypatch):
    from lambdas.bootstrap_admin import handler
    from lambdas.data.aws import reset_clients

    monkeypatch.setenv("SDCLOUD_ADMIN_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    reset_clients()

    with pytest.raises(ClientError, match="ResourceNotFound"):
        handler(custom_resource_event(), None)


def test_the_local_stack_gets_a_fresh_admin_key(aws):
    from lambdas.bootstrap_admin import create_local_admin

    key = create_local_admin()

    caller = authenticate(key)
    assert caller is not None and caller.name == "admin" and caller.role == "admin"
    assert authenticate(create_local_admin()) is not None
    assert authenticate(key) is None  # re-keying replaces the old key


def test_delete_leaves_the_admin(aws):
    from lambdas.bootstrap_admin import create_local_admin, handler

    key = create_local_admin()

    response = handler(custom_resource_event("Delete"), None)

    assert response["PhysicalResourceId"] == "sdcloud-user-admin"
    assert authenticate(key) is not None
