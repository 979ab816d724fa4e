"""Endpoint state changes: mirrored into the table; autoscaling set up on first InService, removed on delete."""

from __future__ import annotations

import boto3
import pytest
from async_flow_helpers import count_calls, create_sagemaker_endpoint, endpoint_state_change, put_endpoint

from lambdas.data.aws import client
from lambdas.data.endpoints import get_endpoint
from lambdas.endpoint_events import handler

RESOURCE = "endpoint/sd/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
CREATED = "2026-11-25T18:00:00.500000Z"


def status_of(name: str) -> tuple[str, str | None]:
    record = get_endpoint(name)
    assert record is not None
    return record.status, record.failure_reason


def scaling_policies(endpoint: str = "sd") -> dict[str, dict]:
    policies = boto3.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/AllTraffic"
    )["ScalingPolicies"]
    return {p["PolicyType"]: p for p in policies}


def scalable_targets() -> list[dict]:
    return boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")[
        "ScalableTargets"
    ]


def alarms() -> list[dict]:
    return boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]


def test_each_state_change_lands_in_the_table(aws):
    create_sagemaker_endpoint("sd")
    put_endpoint("sd", max_instances=None, updated_at=CREATED)
    steps = [
        ("CREATING", "2026-11-25T18:00:01Z", None, ("Creating", None)),
        ("IN_SERVICE", "2026-11-25T18:08:00Z", None, ("InService", None)),
        ("UPDATING", "2026-11-25T18:20:00Z", None, ("Updating", None)),
        ("SYSTEM_UPDATING", "2026-11-25T18:21:00Z", None, ("Updating", None)),
        ("FAILED", "2026-11-25T18:30:00Z", "CUDA driver mismatch", ("Failed", "CUDA driver mismatch")),
        ("IN_SERVICE", "2026-11-25T18:40:00Z", None, ("InService", None)),
        ("DELETING", "2026-11-25T18:50:00Z", None, ("Deleting", None)),
    ]
    for status, time, reason, expected in steps:
        handler(endpoint_state_change("sd", status, time, reason), None)

        assert status_of("sd") == expected, status
        assert get_endpoint("sd").updated_at == time.replace("Z", ".000000Z")


def test_both_spellings_of_the_status_are_understood(aws):
    put_endpoint("sd", max_instances=None, updated_at=CREATED)

    handler(endpoint_state_change("sd", "InService", "2026-11-25T18:08:00Z"), None)

    assert status_of("sd") == ("InService", None)


def test_a_failure_without_a_reason_still_says_what_happened(aws):
    put_endpoint("sd", max_instances=None, updated_at=CREATED)

    handler(endpoint_state_change("sd", "OUT_OF_SERVICE", "2026-11-25T18:08:00Z"), None)

    assert status_of("sd") == ("Failed", "the endpoint is OUT_OF_SERVICE")


def test_an_event_older_than_the_stored_state_changes_nothing(aws):
    put_endpoint("sd", max_instances=None, updated_at=CREATED)
    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)
    before = get_endpoint("sd")

    result = handler(endpoint_state_change("sd", "CREATING", "2026-11-25T18:00:01Z"), None)

    assert result["result"] == "ignored: older than the stored state"
    assert get_endpoint("sd") == before


def test_an_event_in_the_same_second_as_the_apis_write_is_not_stale(aws):
    put_endpoint("sd", max_instances=None, updated_at="2026-11-25T18:00:00.700000Z")

    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:00:00Z"), None)

    assert status_of("sd") == ("InService", None)
    assert get_endpoint("sd").updated_at == "2026-11-25T18:00:00.000000Z"


def test_an_endpoint_this_stack_does_not_know_is_left_alone(aws):
    result = handler(endpoint_state_change("foreign", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)

    assert result["result"].startswith("ignored: not an endpoint of this stack")
    assert get_endpoint("foreign") is None
    assert scalable_targets() == [] and alarms() == []


@pytest.mark.parametrize(
    "event",
    [{}, {"detail": {"EndpointName": "sd"}, "time": "2026-11-25T18:00:00Z"}, {"detail": {}, "time": "x"}],
    ids=["empty", "no status", "no name"],
)
def test_a_malformed_event_is_dropped(aws, event):
    put_endpoint("sd", updated_at=CREATED)
    before = get_endpoint("sd")

    assert handler(event, None)["result"].startswith("malformed: ")
    assert get_endpoint("sd") == before


def test_the_first_in_service_registers_backlog_autoscaling_and_the_scale_from_zero_alarm(aws):
    put_endpoint("sd", min_instances=0, max_instances=3, updated_at=CREATED)

    result = handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)

    assert result["result"] == "status InService; autoscaling registered"
    assert get_endpoint("sd").autoscaling_registered is True
    [target] = scalable_targets()
    assert (target["ResourceId"], target["ScalableDimension"]) == (RESOURCE, DIMENSION)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)

    policies = scaling_policies()
    assert set(policies) == {"TargetTrackingScaling", "StepScaling"}
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": "sd"}],
        "Statistic": "Average",
    }
    assert tracking["TargetValue"] > 0
    step = policies["StepScaling"]
    assert step["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
    ]

    [alarm] = alarms()
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "HasBacklogWithoutCapacity")
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": "sd"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1.0)
    assert alarm["AlarmActions"] == [step["PolicyARN"]]


def test_repeated_in_service_events_register_once(aws):
    put_endpoint("sd", min_instances=1, max_instances=2, updated_at=CREATED)

    with count_calls(client("application-autoscaling"), "RegisterScalableTarget") as calls:
        for time in ("2026-11-25T18:08:00Z", "2026-11-25T18:08:00Z", "2026-11-25T18:30:00Z"):
            handler(endpoint_state_change("sd", "IN_SERVICE", time), None)

    assert len(calls) == 1
    assert len(scalable_targets()) == 1 and len(scaling_policies()) == 2 and len(alarms()) == 1


def test_an_endpoint_without_max_instances_gets_no_autoscaling(aws):
    put_endpoint("sd", max_instances=None, updated_at=CREATED)

    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)

    assert status_of("sd") == ("InService", None)
    assert scalable_targets() == [] and alarms() == []


def test_deleting_removes_the_autoscaling_even_when_the_api_recorded_deleting_first(aws):
    create_sagemaker_endpoint("sd")  # still being deleted: SageMaker knows it
    put_endpoint("sd", max_instances=2, updated_at=CREATED)
    put_endpoint("other", max_instances=2, updated_at=CREATED)
    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)
    handler(endpoint_state_change("other", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)
    boto3.resource("dynamodb").Table(aws.settings.endpoints_table).update_item(
        Key={"name": "sd"},
        UpdateExpression="SET #s = :s, updated_at = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "Deleting", ":t": "2026-11-25T18:50:00.900000Z"},
    )

    handler(endpoint_state_change("sd", "DELETING", "2026-11-25T18:50:00Z"), None)
    handler(endpoint_state_change("sd", "DELETING", "2026-11-25T18:50:00Z"), None)  # delivered twice

    assert status_of("sd") == ("Deleting", None)
    assert [t["ResourceId"] for t in scalable_targets()] == ["endpoint/other/variant/AllTraffic"]
    assert scaling_policies("sd") == {} and len(scaling_policies("other")) == 2
    assert [a["AlarmName"] for a in alarms()] == ["other-has-backlog-without-capacity"]


def test_a_deleting_endpoint_stays_deleting_whatever_comes_later(aws):
    create_sagemaker_endpoint("sd")
    put_endpoint("sd", max_instances=None, updated_at=CREATED)
    handler(endpoint_state_change("sd", "DELETING", "2026-11-25T18:50:00Z"), None)

    handler(endpoint_state_change("sd", "SYSTEM_UPDATING", "2026-11-25T18:51:00Z"), None)

    assert status_of("sd") == ("Deleting", None)


@pytest.mark.parametrize("status", ["DELETING", "DELETED"])
def test_an_endpoint_sagemaker_no_longer_has_is_removed_with_its_autoscaling(aws, status):
    put_endpoint("sd", max_instances=2, updated_at=CREATED)
    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)

    result = handler(endpoint_state_change("sd", status, "2026-11-25T18:55:00Z"), None)

    assert result["result"] == "removed with its autoscaling"
    assert get_endpoint("sd") is None
    assert scalable_targets() == [] and scaling_policies() == {} and alarms() == []


def test_the_autoscaling_goes_even_when_the_api_already_dropped_the_record(aws):
    put_endpoint("sd", max_instances=2, updated_at=CREATED)
    handler(endpoint_state_change("sd", "IN_SERVICE", "2026-11-25T18:08:00Z"), None)
    boto3.resource("dynamodb").Table(aws.settings.endpoints_table).delete_item(Key={"name": "sd"})

    handler(endpoint_state_change("sd", "DELETING", "2026-11-25T18:50:00Z"), None)

    assert scalable_targets() == [] and scaling_policies() == {} and alarms() == []
