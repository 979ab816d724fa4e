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
    config_name = sm.describe_endpoint(EndpointName="sd")["EndpointConfigName"]
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
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == aws.settings.inference_image_uri
    assert model["ExecutionRoleArn"] == aws.settings.sagemaker_role_arn
    item = boto3.resource("dynamodb").Table(aws.settings.endpoints_table).get_item(Key={"name": "sd"})["Item"]
    assert item["record_type"] == "endpoint" and item["min_instances"] == 0 and item["max_instances"] == 2


def test_only_admins_manage_endpoints_but_users_see_them(gateway, admin_key, user_key):
    assert create(gateway, user_key).status == 403
    assert create(gateway, admin_key).status == 202
    assert gateway.delete("/endpoints/sd", key=user_key).status == 403

    assert gateway.get("/endpoints/sd", key=user_key).body["endpoint"]["name"] == "sd"
    assert [e["name"] for e in gateway.get("/endpoints", key=user_key).body["endpoints"]] == ["sd"]


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
    set_status("ep1", "InService")
    set_status("ep3", "InService")

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
    set_status("sd", "Deleting")

    assert not set_status("sd", "InService")
    assert not set_status("missing", "InService")
