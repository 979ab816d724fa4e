"""Endpoints: admins create and delete SageMaker async endpoints; everyone lists them."""

from __future__ import annotations

import boto3
import pytest

from sdcloud.local.moto_patches import allow_gpu_instance_types


@pytest.fixture(autouse=True)
def _gpu_types():
    allow_gpu_instance_types()


def create(gateway, key, name="sd", **fields):
    return gateway.post("/endpoints", key=key, json_body={"name": name, "instance_type": "ml.g5.xlarge", **fields})


def test_admin_creates_an_async_endpoint(gateway, admin_key, aws):
    reply = create(gateway, admin_key, min_instances=0, max_instances=2)

    assert reply.status == 202
    endpoint = reply.body["endpoint"]
    assert endpoint["status"] == "Creating" and endpoint["min_instances"] == 0 and endpoint["max_instances"] == 2
    sm = boto3.client("sagemaker")
    config_name = sm.describe_endpoint(EndpointName="sdcloud-sd")["EndpointConfigName"]
    assert config_name.startswith("sdcloud-sd-")  # in the IAM scope `{resource_prefix}-*`
    config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g5.xlarge" and variant["InitialInstanceCount"] == 1
    bucket = aws.settings.bucket
    assert config["AsyncInferenceConfig"] == {
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1},
        "OutputConfig": {
            "S3OutputPath": f"s3://{bucket}/async/success/",
            "S3FailurePath": f"s3://{bucket}/async/failure/",
            "NotificationConfig": {"SuccessTopic": aws.settings.success_topic_arn,
                                   "ErrorTopic": aws.settings.error_topic_arn},
        },
    }
    assert variant["ModelName"].startswith("sdcloud-sd-")
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == aws.settings.inference_image_uri
    bucket = aws.settings.bucket
    assert model["PrimaryContainer"]["Environment"] == {"SDCLOUD_COMPILED_S3_URI": f"s3://{bucket}/compiled/"}
    assert model["ExecutionRoleArn"] == aws.settings.sagemaker_role_arn
    item = boto3.resource("dynamodb").Table(aws.settings.endpoints_table).get_item(Key={"name": "sdcloud-sd"})["Item"]
    assert item["record_type"] == "endpoint" and item["min_instances"] == 0 and item["max_instances"] == 2


def test_only_admins_manage_endpoints_but_users_see_them(gateway, admin_key, user_key):
    assert create(gateway, user_key).status == 403
    assert create(gateway, admin_key).status == 202
    assert gateway.delete("/endpoints/sd", key=user_key).status == 403

    assert gateway.get("/endpoints/sd", key=user_key).body["endpoint"]["name"] == "sd"
    assert [e["name"] for e in gateway.get("/endpoints", key=user_key).body["endpoints"]] == ["sd"]


def test_names_stay_within_sagemakers_limit_with_the_prefix(gateway, admin_key, monkeypatch):
    from lambdas.data.aws import reset_clients

    monkeypatch.setenv("SDCLOUD_RESOURCE_PREFIX", "averylongprefix1")
    reset_clients()

    too_long = create(gateway, admin_key, name="e" * 47)
    assert too_long.status == 400 and too_long.body["field"] == "name" and "46" in too_long.message

    reply = create(gateway, admin_key, name="e" * 46)
    assert reply.status == 202 and reply.body["endpoint"]["name"] == "e" * 46
    config = boto3.client("sagemaker").list_endpoint_configs()["EndpointConfigs"][0]["EndpointConfigName"]
    assert len(config) <= 63 and config.startswith("averylongprefix1-eee")


def test_a_taken_name_is_409(gateway, admin_key):
    create(gateway, admin_key)

    reply = create(gateway, admin_key)

    assert reply.status == 409 and reply.body["field"] == "name"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": "bad_name"}, "name"), ({"instance_type": "g5"}, "instance_type"),
     ({"min_instances": -1}, "min_instances"), ({"max_instances": 11}, "max_instances"),
     ({"min_instances": 3, "max_instances": 2}, "min_instances")],
)
def test_invalid_endpoint_bodies_are_400_naming_the_field(gateway, admin_key, fields, field):
    reply = gateway.post("/endpoints", key=admin_key, json_body={"name": "sd", **fields})

    assert reply.status == 400 and reply.body["field"] == field


def test_an_instance_type_sagemaker_refuses_is_400_and_leaves_nothing_behind(gateway, admin_key):
    reply = create(gateway, admin_key, instance_type="ml.nonsense.xlarge")

    assert reply.status == 400 and reply.body["field"] == "instance_type"
    assert gateway.get("/endpoints/sd", key=admin_key).status == 404
    sm = boto3.client("sagemaker")
    assert sm.list_models()["Models"] == [] and sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_delete_removes_endpoint_config_and_model_and_frees_the_name(gateway, admin_key):
    create(gateway, admin_key)

    reply = gateway.delete("/endpoints/sd", key=admin_key)

    assert reply.status == 202 and reply.body["endpoint"]["status"] == "Deleting"
    sm = boto3.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == [] and sm.list_models()["Models"] == []
    assert gateway.get("/endpoints/sd", key=admin_key).status == 404  # SageMaker no longer has it
    assert create(gateway, admin_key).status == 202


def test_list_filters_by_status_and_pages_newest_first(gateway, admin_key, user_key):
    from lambdas.data.endpoints import set_status

    names = [f"ep{i}" for i in range(5)]
    for name in names:
        assert create(gateway, admin_key, name=name).status == 202
    set_status("sdcloud-ep1", "InService")
    set_status("sdcloud-ep3", "InService")

    seen, token = [], None
    while True:
        reply = gateway.get("/endpoints", key=user_key, query={"limit": 2, "next_token": token})
        seen += [e["name"] for e in reply.body["endpoints"]]
        token = reply.body["next_token"]
        if not token:
            break
    assert seen == names[::-1]

    in_service = gateway.get("/endpoints", key=user_key, query={"status": "InService"}).body["endpoints"]
    assert [e["name"] for e in in_service] == ["ep3", "ep1"]
    assert gateway.get("/endpoints", key=user_key, query={"status": "Broken"}).body["field"] == "status"


def test_a_deleting_endpoint_stays_deleting(aws, gateway, admin_key):
    from lambdas.data.endpoints import set_status

    create(gateway, admin_key)
    set_status("sdcloud-sd", "Deleting")

    assert not set_status("sdcloud-sd", "InService")
    assert not set_status("missing", "InService")


def test_an_endpoint_sagemaker_will_not_delete_yet_is_409_and_stays(gateway, admin_key, monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    create(gateway, admin_key)
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)

    def refuse(self, operation_name, params):
        if operation_name == "DeleteEndpoint":
            raise ClientError({"Error": {"Code": "ValidationException",
                                         "Message": "Cannot delete an endpoint that is Creating"}}, operation_name)
        return original(self, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)

    reply = gateway.delete("/endpoints/sd", key=admin_key)

    assert reply.status == 409 and "Creating" in reply.message
    assert gateway.get("/endpoints/sd", key=admin_key).body["endpoint"]["status"] == "Creating"
