"""Application Auto Scaling and CloudWatch for an async endpoint's variant: scale on backlog, out from zero.

Target tracking on `ApproximateBacklogSizePerInstance` sizes the fleet while it runs; it cannot act at zero
instances (there is no per-instance backlog), so a step policy, fired by an alarm on
`HasBacklogWithoutCapacity`, adds the first instance as soon as a request waits.
"""

from __future__ import annotations

from typing import Any

from lambdas.data.aws import client, error_code
from lambdas.data.sagemaker import VARIANT

NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC_NAMESPACE = "AWS/SageMaker"
BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
NO_CAPACITY_METRIC = "HasBacklogWithoutCapacity"
BACKLOG_PER_INSTANCE_TARGET = 2.0  # an SD job takes tens of seconds: keep the wait per instance short
SCALE_IN_COOLDOWN_S = 600
SCALE_OUT_COOLDOWN_S = 120


def resource_id(endpoint: str) -> str:
    return f"endpoint/{endpoint}/variant/{VARIANT}"


def target_tracking_policy_name(endpoint: str) -> str:
    return f"{endpoint}-backlog-per-instance"


def step_policy_name(endpoint: str) -> str:
    return f"{endpoint}-scale-out-from-zero"


def alarm_name(endpoint: str) -> str:
    return f"{endpoint}-has-backlog-without-capacity"


def _target(endpoint: str) -> dict[str, str]:
    return {"ServiceNamespace": NAMESPACE, "ResourceId": resource_id(endpoint), "ScalableDimension": SCALABLE_DIMENSION}


def _dimensions(endpoint: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}]


def register(endpoint: str, min_instances: int, max_instances: int) -> None:
    """Create or update the scalable target, both policies and the alarm (every call is an upsert)."""
    aas = client("application-autoscaling")
    aas.register_scalable_target(**_target(endpoint), MinCapacity=min_instances, MaxCapacity=max_instances)
    aas.put_scaling_policy(
        **_target(endpoint),
        PolicyName=target_tracking_policy_name(endpoint),
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": BACKLOG_PER_INSTANCE_TARGET,
            "CustomizedMetricSpecification": {
                "MetricName": BACKLOG_METRIC,
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": _dimensions(endpoint),
                "Statistic": "Average",
            },
            "ScaleInCooldown": SCALE_IN_COOLDOWN_S,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_S,
        },
    )
    step = aas.put_scaling_policy(
        **_target(endpoint),
        PolicyName=step_policy_name(endpoint),
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": SCALE_OUT_COOLDOWN_S,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
        },
    )
    client("cloudwatch").put_metric_alarm(
        AlarmName=alarm_name(endpoint),
        AlarmDescription=f"A request waits on {endpoint} while it has no instance: add one",
        Namespace=METRIC_NAMESPACE,
        MetricName=NO_CAPACITY_METRIC,
        Dimensions=_dimensions(endpoint),
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="missing",
        AlarmActions=[step["PolicyARN"]],
    )


def _ignore_not_found(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except Exception as exc:
        if error_code(exc) not in ("ObjectNotFoundException", "ResourceNotFound"):  # gone meanwhile
            raise


def deregister(endpoint: str) -> None:
    """Remove the alarm, the policies and the scalable target; whatever is already gone is skipped."""
    aas = client("application-autoscaling")
    cloudwatch = client("cloudwatch")
    if cloudwatch.describe_alarms(AlarmNames=[alarm_name(endpoint)])["MetricAlarms"]:
        _ignore_not_found(cloudwatch.delete_alarms, AlarmNames=[alarm_name(endpoint)])
    names = [target_tracking_policy_name(endpoint), step_policy_name(endpoint)]
    existing = aas.describe_scaling_policies(
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id(endpoint),
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyNames=names,
    )["ScalingPolicies"]
    for policy in existing:
        _ignore_not_found(aas.delete_scaling_policy, **_target(endpoint), PolicyName=policy["PolicyName"])
    targets = aas.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint)], ScalableDimension=SCALABLE_DIMENSION
    )["ScalableTargets"]
    if targets:
        _ignore_not_found(aas.deregister_scalable_target, **_target(endpoint))
